"""The kernel every use case stands on: the service context and the unit of work, the inbound
message and its receipt, who is writing (identities), the per-sender limits, the channels'
traits and the outbox writer."""
