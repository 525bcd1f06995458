"""Developer commands (`audit dev ...`): not part of the service; they need the repository checkout."""
