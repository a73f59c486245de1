"""A model zoo of generative models on TensorFlow, Keras 3 and TFP.

    import zoo
    model = zoo.get("vae", image_shape=(8, 8, 1))
    zoo.list_models()

Every model file registers itself with `@zoo.register(name)`; importing
`zoo` imports every module of every family sub-package, so adding a model
is adding a file.
"""

import importlib
import os
import pkgutil

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from zoo._version import __version__  # noqa: E402,F401
from zoo.errors import ConfigError, InputError, UnknownModelError, ZooError  # noqa: E402
from zoo.registry import get, get_class, list_models, register  # noqa: E402

# Packages that hold shared pieces, not models.
_NOT_FAMILIES = {"layers"}


def _import_families():
    for pkg in pkgutil.iter_modules(__path__):
        if not pkg.ispkg or pkg.name in _NOT_FAMILIES:
            continue
        family = importlib.import_module(f"{__name__}.{pkg.name}")
        for mod in pkgutil.iter_modules(family.__path__):
            importlib.import_module(f"{family.__name__}.{mod.name}")


_import_families()

__all__ = ["get", "get_class", "list_models", "register", "ZooError",
           "UnknownModelError", "ConfigError", "InputError"]
