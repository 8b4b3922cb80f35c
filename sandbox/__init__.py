"""Loopback stand-ins for the Telegram Bot API and Twilio REST API; the product never imports it."""
