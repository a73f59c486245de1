"""Model registry: one decorator in each model's file, no central switch.

`register("name")` records the class under that name and makes it
serializable by Keras under the package "zoo", so `keras.saving.load_model`
finds it from a `.keras` file without custom objects.
"""

import difflib
import functools
import inspect

import keras
import numpy as np

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


def _plain(value):
    """NumPy scalars as Python numbers and sequences as tuples, so a config
    compares equal to itself after a JSON round trip (which makes lists)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def recording_init(init):
    """Wraps a model's `__init__` so the outermost call records its arguments.

    `GenerativeModel` applies it to every subclass's `__init__`; the bound
    arguments, defaults applied, become `get_config()`, so no model writes
    a `get_config` of its own. The model's `_after_init` runs then too,
    when every attribute a subclass sets is there (the base makes the
    metric trackers in it; GANs build their players).
    """
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        # Only the constructor the user called (the most derived one) speaks
        # for the config; the super().__init__ calls inside it do not.
        if type(self).__init__ is not __init__:
            return
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        config = {}
        for name, value in list(bound.arguments.items())[1:]:
            kind = signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                config.update(value)
            elif kind is not inspect.Parameter.VAR_POSITIONAL:
                config[name] = _plain(value)
        object.__setattr__(self, "_constructor_config", config)
        self._after_init()

    # Keras reads constructor arguments with getfullargspec, which does not
    # follow __wrapped__ but honours __signature__.
    __init__.__signature__ = signature
    __init__._records_config = True
    return __init__


def base_arguments(base, arguments):
    """The arguments of `base`'s constructors picked from a subclass
    constructor's `locals()`, plus its `**kwargs`.

    Subclasses list every argument in their own signature (so it is their
    config, with their defaults) and hand the shared ones on with
    `super().__init__(**base_arguments(Base, locals()))`.
    """
    names = set()
    for cls in base.__mro__:
        if cls is keras.Model:
            break
        if "__init__" in vars(cls):
            names.update(inspect.signature(cls.__init__).parameters)
    names -= {"self", "kwargs"}
    return {**{k: v for k, v in arguments.items() if k in names},
            **arguments.get("kwargs", {})}


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
