"""cflow-bot: approve and reject Cflow workflow requests without leaving Slack."""
