"""The clock: APScheduler jobs that sweep due cases and send digests (they call the services)."""
