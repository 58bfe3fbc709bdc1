"""Templates, senders, campaigns, the four-eyes review, scheduling and launch."""
