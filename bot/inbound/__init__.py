"""What comes in: Slack's listeners (thin: acknowledge, then act) and Cflow's hook."""
