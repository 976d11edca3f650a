"""What goes out to Slack: the paced client, and who and where things are in Slack."""
