"""Ferry's per-user sync daemon (ferryd) and the ferry CLI."""

__version__ = "0.1.0"
