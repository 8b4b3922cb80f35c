"""The SMS channel: Twilio's webhooks (inbound texts and delivery reports), signed and answered."""
