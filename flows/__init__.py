"""Prefect flows: the rollout steps, rollback and the end-to-end demo."""
