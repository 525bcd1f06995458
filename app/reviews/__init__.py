"""Supervisors' review decisions and their history."""
