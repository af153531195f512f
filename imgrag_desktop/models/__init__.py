"""One module per model kind. Each loads lazily, under a lock, and can be unloaded when idle."""
