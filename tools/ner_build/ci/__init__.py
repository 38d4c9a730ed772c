"""The CI workflow: reading it, checking what its steps read and write, and running it here."""
