"""Ingest, audit, read and search conversations."""
