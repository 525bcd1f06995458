"""Prometheus metrics: HTTP requests and latencies, jobs by state, queue depth, audio transcribed, model latency."""
