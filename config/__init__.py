"""The configuration schema and the shipped configurations."""
