"""Talking with people on any channel: what a message means, the guided report, the one-message
questions and the drafts they wait in, fixed replies and invites."""
