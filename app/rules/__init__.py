"""Rule versions (stored, applied, rolled back) and the rule dry-run (what a candidate change would flag)."""
