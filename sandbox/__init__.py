"""Loopback stand-ins for the Telegram Bot API and Twilio's REST API; the product never imports it."""
