"""The edge to google-genai: clients, streaming, and errors turned into typed outcomes.

google.genai is imported only inside this package, and only lazily (it costs ~0.5 s of start-up).
"""
