"""Alerts the gateway sends to people (webhooks)."""
