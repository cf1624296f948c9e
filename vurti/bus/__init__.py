"""Event delivery: from the outbox, after commit, to subscribers."""
