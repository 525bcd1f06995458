"""Audio transcription jobs: durable rows in the database, claimed by workers in or out of the service."""
