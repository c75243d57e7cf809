"""The Textual chat app: renders what the core owns (engine, queue, sessions) and posts user intents back."""
