"""Connectors: everything that talks to another system (EHR sources, timeline destinations, devices' peers)."""
