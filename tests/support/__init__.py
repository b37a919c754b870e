"""Harnesses that install and start real servers for the integration tests (Synapse, PostgreSQL, Medplum)."""
