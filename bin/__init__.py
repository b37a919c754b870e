"""The `renkei` command."""
