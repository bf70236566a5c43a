"""Transports: they move bytes and report what happened; they interpret nothing."""
