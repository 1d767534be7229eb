"""Ferry tray app: a thin client of the daemon's control channel."""
