"""Conversations, the request queue, routing, context budget and the sessions store (no Textual, no SDK)."""
