"""Alert checks: rules over the store, their state in the store, and Slack messages."""
