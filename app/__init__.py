"""Conversation-audit service: HTTP API, persistence and jobs over the pure `pipelines` library."""
