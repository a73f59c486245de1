"""Exceptions the zoo raises for bad input.

Every user-facing mistake (an unknown name, a wrong shape, a bad option)
raises a subclass of `ZooError`, so command-line tools can print one clear
line instead of a traceback while library users can still catch the
built-in type they expect (`ValueError`, `KeyError`).
"""


class ZooError(Exception):
    """Base class of the zoo's own errors."""


class UnknownModelError(ZooError, KeyError):
    """A model name that is not registered."""

    def __str__(self):
        # KeyError quotes its argument; a message reads better unquoted.
        return str(self.args[0]) if self.args else ""


class ConfigError(ZooError, ValueError):
    """A constructor argument the model does not take or cannot use."""


class InputError(ZooError, ValueError):
    """Tensors of the wrong shape, rank or dtype passed to a model."""
