"""The Telegram channel: PTB handlers (thin) and the wiring of the Application."""
