"""Outbox delivery: claim due messages, send them within the providers' limits, record results."""
