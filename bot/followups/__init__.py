"""What comes due with time: reminders, escalations, digests and hand-overs."""
