"""The hot path: a report by SMS or a guided report's confirm press, written on the database writer
in one batch with the same rules as the general path."""
