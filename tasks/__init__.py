"""Prefect tasks: thin wrappers over single core operations."""
