"""The test suite; a package so helpers import as ``tests.<path>`` under pytest's importlib mode."""
