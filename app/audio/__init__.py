"""Recordings at rest: envelope encryption and the store that reads and writes recording files."""
