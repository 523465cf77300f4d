"""Slack: rollout messages, the approval endpoint and a local mock of the Web API."""
