"""Pure audit pipeline: text or audio in, typed results out (no web framework, no database)."""
