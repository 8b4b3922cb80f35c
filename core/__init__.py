"""The domain of Wolaiban, pure: no I/O, no clock reads, stdlib and pydantic only."""
