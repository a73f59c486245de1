"""What is evaluated: a run directory or an exported SavedModel, behind one `Target`.

Both kinds are used through named endpoints (for a run, its
`serving_endpoints()` traced the way the exporter traces them), so samples,
codes and likelihoods come from one code path and an export gives the same
numbers as its run.

Samples. Models whose `sample` returns decoder means (`samples_are_means`,
VAEs) are scored on draws x ~ p(x|z) where the model offers them: an
export's `serving_default` output `draws`, or for a run
`model.sample_from_seeds(seeds, labels, draw=True)`. `Target.sample_source`
says which was used.
"""

import json
import os
import types

import numpy as np

from export import layout
from training.evaluate.registry import EvaluationError

SAMPLE_SOURCES = {"draws": "draws from p(x|z)", "means": "decoder means",
                  "model": "model samples"}


def traced_endpoint(fn, specs):
    """Calls fn positionally from named tensors, as an exported signature does."""
    import tensorflow as tf

    graph_fn = tf.function(fn, input_signature=specs)
    call = lambda **kw: graph_fn(*[kw[s.name] for s in specs])  # noqa: E731
    call.output_names = lambda: set(graph_fn.get_concrete_function().structured_outputs)
    return call


class Target:
    """What the evaluation needs from a model, whether run or export.

    Attributes:
      kind: "run" or "export".
      name: the model's registered name.
      path: the TARGET path.
      image_shape: (H, W, C).
      endpoints: {name: callable(**named tensors) -> dict of tensors}.
      inputs: {endpoint: [input names]}.
      num_classes: for class-conditional targets, else None.
      eval_mode: the `training.datasets` mode of its evaluation data.
      likelihood_model: what `training.likelihood.evaluate` scores.
      samples_are_means: its `serving_default` images are decoder means.
      sample_source: after `sample`, one of SAMPLE_SOURCES' values.
    """

    def __init__(self, kind, name, path, image_shape, endpoints, inputs, num_classes,
                 eval_mode, likelihood_model, labels_for_likelihood=False,
                 samples_are_means=False):
        self.kind, self.name, self.path = kind, name, path
        self.image_shape = tuple(int(d) for d in image_shape)
        self.endpoints, self.inputs = endpoints, inputs
        self.num_classes = num_classes
        self.eval_mode = eval_mode
        self.likelihood_model = likelihood_model
        self.labels_for_likelihood = labels_for_likelihood
        self.samples_are_means = samples_are_means
        self.sample_source = None

    @property
    def can_sample(self):
        return "seed" in self.inputs.get("serving_default", ())

    @property
    def conditional(self):
        return "label" in self.inputs.get("serving_default", ())

    @property
    def can_encode(self):
        return self.inputs.get("encode") == ["images"]

    def sample(self, num_samples, seed, batch_size=500):
        """Images [N, H, W, C] in [0, 1] from seed rows [seed, i]; batch-invariant.

        The `draws` output when `serving_default` has one, else `images`.
        Conditional targets get labels i mod num_classes (as `model.sample`).
        Returns (images, labels [N] or None).
        """
        import tensorflow as tf

        from zoo.layers.sampling import per_row_seeds

        rows = per_row_seeds(num_samples, seed).numpy()
        labels = (np.arange(num_samples) % self.num_classes).astype(np.int32) \
            if self.conditional else None
        out, key = [], "images"
        for start in range(0, num_samples, batch_size):
            kw = {"seed": tf.constant(rows[start:start + batch_size])}
            if labels is not None:
                kw["label"] = tf.constant(labels[start:start + batch_size])
            if "guidance" in self.inputs.get("serving_default", ()):
                # Guided diffusion: scale 1 is the conditional model, as model.sample.
                kw["guidance"] = tf.ones(kw["seed"].shape[:1])
            result = self.endpoints["serving_default"](**kw)
            key = "draws" if "draws" in result else "images"
            out.append(np.asarray(result[key]))
        self.sample_source = SAMPLE_SOURCES[
            "draws" if key == "draws" else "means" if self.samples_are_means else "model"]
        return np.concatenate(out).astype(np.float32), labels

    @property
    def translates(self):
        """An image-to-image model: a `translate` signature taking images."""
        return "images" in self.inputs.get("translate", ())

    def translate(self, images, labels=None, endpoint="translate", batch_size=500):
        """Translations of images [N, ...] (to `labels` for StarGAN), batched."""
        import tensorflow as tf

        out = []
        for start in range(0, len(images), batch_size):
            kw = {"images": tf.constant(images[start:start + batch_size], tf.float32)}
            if "label" in self.inputs.get(endpoint, ()):
                kw["label"] = tf.constant(labels[start:start + batch_size], tf.int32)
            out.append(np.asarray(self.endpoints[endpoint](**kw)["images"]))
        return np.concatenate(out).astype(np.float32)

    def encode(self, images, batch_size=500):
        """Encoder features [N, D] of images [N, H, W, C]: the `mean` output when
        there is one (latent-variable models), else the first rank >= 2 output."""
        import tensorflow as tf

        out = []
        for start in range(0, len(images), batch_size):
            result = self.endpoints["encode"](images=tf.constant(images[start:start + batch_size]))
            if "mean" in result:
                value = result["mean"]
            else:
                keys = sorted(k for k, v in result.items() if len(v.shape) >= 2)
                value = result[keys[0]]
            value = np.asarray(value)
            out.append(value.reshape(value.shape[0], -1))
        return np.concatenate(out)


def _model_from_config(model_name, config):
    """An (untrained) instance of an exported model's class, or None."""
    try:
        import zoo

        cfg = dict(config)
        cfg.pop("name", None)
        return zoo.get_class(model_name).from_config(cfg)
    except Exception:  # a family this checkout does not have
        return None


def _first(outputs, key):
    """`outputs[key]`, or the only output of a signature that names it otherwise."""
    return outputs[key] if key in outputs else next(iter(outputs.values()))


class _ExportLikelihood:
    """Duck-types the parts of a zoo model `training.likelihood.evaluate` uses,
    backed by exported signatures, so an export is scored by the same code."""

    def __init__(self, target_endpoints, inputs, image_shape, eval_mode, exact_log_prob,
                 config, instance=None):
        self.num_dims = int(np.prod(image_shape))
        self._mode = eval_mode
        # What `training.likelihood.likelihood_info` reads of a model.
        self.num_levels = config.get("num_levels")
        if "likelihood" in config:
            self.likelihood = types.SimpleNamespace(kind=config["likelihood"],
                                                    num_levels=config.get("num_levels"))
        # Only signatures of images alone are wrapped, so no call takes labels.
        self.conditional = False
        caps = []
        if "reconstruct" in target_endpoints:
            caps.append("reconstruct")
            self.reconstruct = lambda x: target_endpoints["reconstruct"](images=x)["images"]
        if "elbo" in target_endpoints and set(inputs["elbo"]) == {"images", "seed"}:
            self.elbo_from_seeds = lambda x, s: target_endpoints["elbo"](images=x, seed=s)["elbo"]
        if exact_log_prob and inputs.get("log_prob") == ["images"]:
            caps.append("log_prob")
            fn = target_endpoints["log_prob"]
            self.log_prob = lambda x: _first(fn(images=x), "log_prob")
        if exact_log_prob and inputs.get("log_density") == ["images"]:
            density = target_endpoints["log_density"]
            self.log_density = lambda y: density(images=y)["log_density"]
            self.exact_density = bool(getattr(instance, "exact_density", True))
        self.capabilities = tuple(caps)

    def preprocessing(self, training=True):
        return self._mode


def _read_json(path):
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _load_run(path):
    import keras

    import zoo  # noqa: F401  (registers the classes model.keras refers to)

    if _read_json(os.path.join(path, layout.RUN_FILE)).get("model") == "classifier":
        raise EvaluationError(f"{path} is a classifier run (a feature extractor), "
                              "not a generative model; pass it as --extractor")
    try:
        model = keras.saving.load_model(os.path.join(path, layout.MODEL_FILE), compile=False)
    except Exception as e:
        raise EvaluationError(f"cannot load {path}/{layout.MODEL_FILE}: {e}") from e
    endpoints, inputs = {}, {}
    for name, (fn, specs) in model.serving_endpoints().items():
        endpoints[name] = traced_endpoint(fn, specs)
        inputs[name] = [s.name for s in specs]
    return Target("run", model.registered_name, path, model.image_shape, endpoints, inputs,
                  getattr(model, "num_classes", None), model.preprocessing(False), model,
                  labels_for_likelihood=model.requires_labels,
                  samples_are_means=model.samples_are_means)


def _load_export(path):
    import tensorflow as tf

    metadata = _read_json(os.path.join(path, layout.METADATA_FILE))
    loaded = tf.saved_model.load(path)
    endpoints, inputs = {}, {}
    for name, sig in loaded.signatures.items():
        endpoints[name] = sig
        inputs[name] = sorted(sig.structured_input_signature[1])
    config = metadata.get("config", {})
    image_shape = metadata.get("image_shape") or config.get("image_shape")
    if image_shape is None:
        raise EvaluationError(f"{path}/{layout.METADATA_FILE} does not give the image "
                              "shape; is this a zoo export?")
    name = metadata.get("model", "unknown")
    instance = _model_from_config(name, config)
    if instance is not None:
        eval_mode = instance.preprocessing(False)
    else:
        # Exports record the mode in their training evaluation (older ones
        # under evaluation_data).
        evaluation = metadata.get("evaluation") or {}
        eval_mode = evaluation.get("evaluation_mode") or evaluation.get("evaluation_data") \
            or "unit"
    # A latent-variable model's log_prob is an estimate; only a class
    # without `iwae` has an exact log_prob signature.
    exact = instance is not None and not hasattr(instance, "iwae")
    likelihood = _ExportLikelihood(endpoints, inputs, image_shape, eval_mode, exact, config,
                                   instance)
    target = Target("export", name, path, image_shape, endpoints, inputs,
                    config.get("num_classes"), eval_mode, likelihood,
                    samples_are_means=bool(getattr(instance, "samples_are_means", False)))
    target.loaded = loaded  # keeps the signatures' variables alive
    return target


def load_target(path):
    """A `Target` for a run directory, a SavedModel version directory, or a
    model directory of versions (the newest complete one)."""
    if not os.path.isdir(path):
        raise EvaluationError(f"TARGET {path!r} does not exist or is not a directory")
    if layout.is_run_dir(path):
        return _load_run(path)
    if not layout.is_version_dir(path):
        version = layout.version_dir(path)
        if version is None:
            raise EvaluationError(
                f"TARGET {path!r} is neither a run directory (no {layout.MODEL_FILE}) nor "
                f"an exported SavedModel (no {layout.SAVED_MODEL_FILE}, no numeric version "
                "folders with one)")
        path = version
    return _load_export(path)
