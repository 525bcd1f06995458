"""Retention: recordings and (when configured) whole conversations deleted after their time, in batches."""
