"""The ``gridlinks`` command."""
