"""The edge to each wire: one interface (`base.Provider`) with a Gemini and an OpenAI-compatible side.

The sender streams, counts and classifies through a provider; which one answers a model id is the
switchboard's business (`profile:model` ids go to that profile's provider, the rest to the primary).
"""
