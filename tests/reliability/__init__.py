"""Reliability suite: faults, bad inputs, properties, secrets, outages and TLS, end to end."""
