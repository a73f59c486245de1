"""The zoo's version, alone in a module so that packaging reads it
(pyproject.toml: `attr = "zoo._version.__version__"`) without importing
TensorFlow; `zoo.__version__` re-exports it and exports record it."""

__version__ = "0.2.0"
