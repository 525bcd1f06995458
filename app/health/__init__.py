"""Liveness and versions."""
