"""Model registry: one decorator in each model's file, no central switch.

`register("name")` records the class under that name and makes it
serializable by Keras under the package "zoo", so `keras.saving.load_model`
finds it from a `.keras` file without custom objects.
"""

import difflib
import inspect

import keras

from zoo.errors import ConfigError, UnknownModelError

_REGISTRY = {}


def register(name):
    """Class decorator that registers a model under `name`.

    Args:
      name: the public name used by `zoo.get` and the training CLI.
    """

    def decorator(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(
                f"model name {name!r} is registered twice: by "
                f"{_REGISTRY[name].__module__}.{_REGISTRY[name].__name__} and "
                f"{cls.__module__}.{cls.__name__}")
        cls = keras.saving.register_keras_serializable(package="zoo")(cls)
        cls.registered_name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def list_models():
    """Sorted names of every registered model."""
    return sorted(_REGISTRY)


def get_class(name):
    """The class registered under `name`; raises `UnknownModelError`."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), _REGISTRY, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"unknown model {name!r}.{hint} Registered models: "
            f"{', '.join(list_models())}") from None


def accepted_kwargs(cls):
    """Names of the constructor arguments of `cls` (its whole config)."""
    params = inspect.signature(cls.__init__).parameters
    return [p for p, v in params.items()
            if p != "self" and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)]


def get(name, **kwargs):
    """Builds the model registered under `name` with constructor `kwargs`.

    Unknown keyword arguments raise `ConfigError` listing the accepted ones,
    rather than disappearing into `**kwargs` of `keras.Model`.
    """
    cls = get_class(name)
    accepted = accepted_kwargs(cls)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(
            f"model {name!r} does not take {', '.join(map(repr, unknown))}. "
            f"It accepts: {', '.join(accepted)}")
    return cls(**kwargs)
