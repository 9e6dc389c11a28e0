"""Webhooks to clients: the event outbox, endpoints, the SSRF guard, signed delivery."""
