"""gemtui: a terminal chat app for the Gemini API that never lets a rate limit surprise its user."""

__version__ = "0.1.0"
