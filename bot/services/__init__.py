"""The use cases: each one transaction writing the state, the event and the outbox rows together."""
