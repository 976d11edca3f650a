"""Slack kept in step with Cflow: the poller, the record of changes, and their delivery."""
