"""Alerts (预警): rules over audit results, an outbox of deliveries to webhooks and chat robots, the alert API."""
