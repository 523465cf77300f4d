"""Deployment definitions of the flows, for `prefect serve` and for work pools."""
