"""Admin: API keys and lexicon reload."""
