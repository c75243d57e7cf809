"""The quota engine: limits, a shared ledger, exact admission and what 429s teach. No Textual, no SDK."""
