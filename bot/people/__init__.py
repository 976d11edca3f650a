"""What people do: decisions as the clicking person, the Home desk, notification settings."""
