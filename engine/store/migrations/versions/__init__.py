"""Migration steps, oldest first (``0001_initial``, ``0002_lease_and_signatures``, ...)."""
