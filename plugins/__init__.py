"""Built-in GridLinks plugins. Each module is registered through the ``gridlinks``
entry-point group exactly like a third-party plugin, and runs only when enabled in the
config's ``plugins:`` list."""
