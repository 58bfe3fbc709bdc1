"""The compliance guard: audit log now; suppression, reply intents, content rules and verdicts next."""
