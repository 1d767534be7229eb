"""Ferry cloud server: auth, content-addressed blocks, commits and the change feed."""
