"""A community's data kept well: backups, a person's data on request, retention."""
