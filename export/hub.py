"""Load exported zoo models from a path or a model hub.

    from export import hub
    model = hub.load("serving/vae")               # latest version under a model dir
    model = hub.load("file:///models/vae/3")
    model = hub.load("https://www.kaggle.com/models/OWNER/MODEL/tensorFlow2/VARIANT/2")
    model.signatures["serving_default"](seed=tf.constant([[0, 0]]))
    layer = hub.keras_layer("serving/vae/1", "decode", trainable=True)

Hub handles go through `tensorflow_hub` and its cache (set TFHUB_CACHE_DIR);
they must name a version, so a model never changes under you. Loading needs
TensorFlow only, not the zoo or TFP: this module imports nothing from them.
"""

import json
import os
import re

import keras
import tensorflow as tf

from export import layout

_HUB_URL = re.compile(r"^https?://(www\.)?(kaggle\.com/models|tfhub\.dev)/")
_VERSIONED = re.compile(r"/\d+/?$")
# "assertion failed: [MESSAGE] [Condition ...]" (MESSAGE may hold brackets).
_ASSERTION = re.compile(r"assertion failed: \[(.+?)\](?: \[|$)", re.M)


class HubError(Exception):
    """A handle that cannot be resolved or loaded; the message says why."""


def resolve(handle):
    """The local SavedModel directory a handle refers to.

    Args:
      handle: a SavedModel directory; a model directory holding numeric
        version folders (the highest complete one is used); a `file://` URL
        of either; or a versioned Kaggle Models / tfhub.dev URL.
    """
    handle = str(handle)
    if handle.startswith("file://"):
        handle = handle[len("file://"):]
    elif _HUB_URL.match(handle):
        if not _VERSIONED.search(handle):
            raise HubError(f"hub handle {handle!r} names no version; pin one "
                           "(…/VERSION) so the model cannot change under you")
        try:
            import tensorflow_hub as hub

            handle = hub.resolve(handle)
        except Exception as e:  # network, cache or missing model
            raise HubError(f"cannot fetch {handle!r} through tensorflow_hub: {e}") from e
    elif "://" in handle:
        raise HubError(f"unsupported handle {handle!r}: use a path, file://, or a "
                       "versioned Kaggle Models / tfhub.dev URL")
    if not os.path.isdir(handle):
        raise HubError(f"no SavedModel at {handle!r}: the directory does not exist")
    if layout.is_version_dir(handle):
        return handle
    newest = layout.version_dir(handle)
    if newest is None:
        raise HubError(f"{handle!r} holds neither {layout.SAVED_MODEL_FILE} nor numeric "
                       "version folders with one")
    return newest


class ExportedModel:
    """A loaded export: its signatures, its `__call__`, and its metadata.

    Attribute access falls through to the restored object, so `variables`,
    `trainable_variables` and the endpoints work as with `tf.saved_model.load`.
    """

    def __init__(self, path, loaded):
        self.path = path
        self._loaded = loaded
        meta_path = os.path.join(path, layout.METADATA_FILE)
        self.metadata = {}
        if os.path.isfile(meta_path):
            with open(meta_path) as f:
                self.metadata = json.load(f)

    @property
    def signatures(self):
        return self._loaded.signatures

    def __call__(self, *args, **kwargs):
        return self._loaded(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._loaded, name)

    def predict(self, signature="serving_default", **inputs):
        """Runs a signature on NumPy-compatible inputs; returns NumPy arrays.

        Raises `HubError` for an unknown signature or missing/extra inputs.
        """
        if signature not in self.signatures:
            raise HubError(f"unknown signature {signature!r}; this model has "
                           f"{sorted(self.signatures)}")
        fn = self.signatures[signature]
        expected = fn.structured_input_signature[1]
        if set(inputs) != set(expected):
            raise HubError(f"signature {signature!r} takes inputs {sorted(expected)}, "
                           f"got {sorted(inputs)}")
        tensors = {}
        for key, spec in expected.items():
            value = tf.convert_to_tensor(inputs[key])
            if value.dtype != spec.dtype and not (value.dtype.is_integer and
                                                  spec.dtype.is_integer):
                if not (value.dtype.is_floating and spec.dtype.is_floating):
                    raise HubError(f"input {key!r} must be {spec.dtype.name}, got "
                                   f"{value.dtype.name}")
            if value.dtype.is_integer and value.dtype != spec.dtype and tf.size(value) and (
                    tf.reduce_min(value) < spec.dtype.min
                    or tf.reduce_max(value) > spec.dtype.max):
                # A cast would wrap, e.g. a seed of 2**31 into -2**31.
                raise HubError(f"input {key!r} must fit {spec.dtype.name} "
                               f"([{spec.dtype.min}, {spec.dtype.max}])")
            value = tf.cast(value, spec.dtype)
            if not spec.shape.is_compatible_with(value.shape):
                raise HubError(f"input {key!r} must have shape {spec.shape.as_list()} "
                               f"(None = any), got {value.shape.as_list()}")
            tensors[key] = value
        try:
            outputs = fn(**tensors)
        except tf.errors.InvalidArgumentError as e:
            # The model's own in-graph check says what is wrong with the request.
            raise HubError(f"signature {signature!r} rejected the request: "
                           f"{model_message(e)}") from None
        return {k: v.numpy() for k, v in outputs.items()}


def model_message(error):
    """The message of the in-graph check that failed in a TF `error`, or its
    first line when no check's message is found."""
    text = str(getattr(error, "message", error))
    found = _ASSERTION.search(text)
    if found:
        return found.group(1)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(error).__name__


def load(handle):
    """Loads an exported zoo model (needs only TensorFlow, not the zoo or TFP).

    Returns:
      `ExportedModel` with `.signatures`, `.predict(signature, **inputs)`,
      `__call__` (the hub endpoint) and `.metadata`.
    """
    path = resolve(handle)
    try:
        loaded = tf.saved_model.load(path)
    except Exception as e:  # corrupt or partial directories
        raise HubError(f"{path!r} is not a readable SavedModel: "
                       f"{type(e).__name__}: {str(e).splitlines()[0][:300]}") from e
    return ExportedModel(path, loaded)


# Registered under the package name it had as zoo.hub, so saved .keras
# files that hold the layer keep loading.
@keras.saving.register_keras_serializable(package="zoo")
class TFSMLayer(keras.layers.TFSMLayer):
    """`keras.layers.TFSMLayer` whose weights can be fine-tuned with any optimizer.

    Restored TF variables are named like "dense_kernel:0"; Keras 3 optimizers
    derive slot names from variable names ("dense_kernel:0_momentum"), which
    their name check rejects. This layer names its weights with ':' (and any
    other character outside Keras' set) replaced by '_'.
    """

    def _add_existing_weight(self, weight):
        variable = keras.Variable(
            initializer=weight, trainable=weight.trainable, dtype=weight.dtype,
            shape=weight.shape, name=re.sub(r"[^A-Za-z0-9_.>-]", "_", weight.name))
        self._track_variable(variable)


def keras_layer(handle, endpoint="serving_default", trainable=False, **kwargs):
    """A Keras 3 layer calling one endpoint of an export (see `TFSMLayer`)."""
    path = resolve(handle)
    return TFSMLayer(path, call_endpoint=endpoint, trainable=trainable, **kwargs)
