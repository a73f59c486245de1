"""Evaluate any zoo model:  python -m training.evaluate TARGET --dataset SPEC [options]

    python -m training.evaluate runs/conv_vae --dataset npz:mnist-10k.npz
    python -m training.evaluate runs/vae/export/vae/1 --dataset digits --metrics fid,kid
    python -m training.evaluate --compare runs/vae/eval runs/conv_vae/eval --out cmp

TARGET is a run directory (holds model.keras) or an exported SavedModel
version directory (holds saved_model.pb; evaluated through its signatures,
exactly as served; a model directory with numeric versions picks the
newest). Everything is written against the capability surface, never
model family names: a metric the target cannot support is reported as not
applicable, with the reason.

Outputs in --out (default TARGET/eval for a run, runs/eval-NAME-VERSION
for an export): metrics.json (values, not-applicable reasons, warnings,
seconds per metric) and report.md with PNG figures (sample grid,
nearest-neighbour panel, distance histograms).

Feature extractors. `classifier`: the per-dataset classifier of
`python -m training.train classifier --dataset SPEC`; --extractor PATH
names its run directory, by default runs/classifier-<dataset slug> is used
when it exists (else the classifier metrics are "not applicable" with the
command that trains it). Features are its penultimate layer, probabilities
its softmax. `inception`: Inception-v3 pool features at 299x299, only when
the Keras applications weights file is on disk (--inception-weights, or
keras' cache path); nothing is downloaded. Metric keys carry the extractor
(fid_classifier, fid_inception), so FIDs from different extractors never
share a column.

References: see `training.metrics`.
"""

import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from training import metrics as M  # noqa: E402

METRICS = ("likelihood", "parzen", "fid", "kid", "inception_score", "precision_recall",
           "memorization", "linear_probe", "conditional_accuracy")
FEATURE_METRICS = ("fid", "kid", "inception_score", "precision_recall")
SAMPLE_METRICS = FEATURE_METRICS + ("parzen", "memorization", "conditional_accuracy")
#: Below this many samples (or the feature dimension) FID is badly biased.
MIN_FID_SAMPLES = 2048
INCEPTION_CACHE = os.path.join(
    os.path.expanduser("~"), ".keras", "models",
    "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")
EXTRACTOR_NAMES = ("classifier", "inception")


class EvaluationError(ValueError):
    """Bad input to the evaluation; the message says what and how to fix it."""


def parse_metrics(text):
    """'fid,kid' -> ('fid', 'kid'); None or 'all' -> every metric."""
    if text is None or text.strip() == "all":
        return METRICS
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise EvaluationError(
            f"unknown metric(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"valid names: {', '.join(METRICS)} (or 'all')")
    return names


# ---------------------------------------------------------------- targets
def _as_kwargs_fn(fn, specs):
    """Calls fn positionally from named tensors, as an exported signature does."""
    import tensorflow as tf

    graph_fn = tf.function(fn, input_signature=specs)
    return lambda **kw: graph_fn(*[kw[s.name] for s in specs])


class Target:
    """What the evaluation needs from a model, whether run or export.

    Attributes:
      kind: "run" or "export".
      name: the model's registered name.
      path: the TARGET path.
      image_shape: (H, W, C).
      endpoints: {name: callable(**named tensors) -> dict of tensors}, the
        serving signatures (for a run: its `serving_endpoints()` traced the
        same way), so both kinds compute samples and codes with one code path.
      inputs: {endpoint: [input names]}.
      num_classes: for class-conditional targets, else None.
      eval_mode: the `training.datasets` mode of its evaluation data.
    """

    def __init__(self, kind, name, path, image_shape, endpoints, inputs, num_classes,
                 eval_mode, likelihood_model, labels_for_likelihood=False):
        self.kind, self.name, self.path = kind, name, path
        self.image_shape = tuple(int(d) for d in image_shape)
        self.endpoints, self.inputs = endpoints, inputs
        self.num_classes = num_classes
        self.eval_mode = eval_mode
        self.likelihood_model = likelihood_model
        self.labels_for_likelihood = labels_for_likelihood

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

        Conditional targets get labels i mod num_classes (as `model.sample`).
        Returns (images, labels or None).
        """
        import tensorflow as tf

        from zoo.layers.sampling import per_row_seeds

        rows = per_row_seeds(num_samples, seed).numpy()
        labels = (np.arange(num_samples) % self.num_classes).astype(np.int32) \
            if self.conditional else None
        out = []
        for start in range(0, num_samples, batch_size):
            kw = {"seed": tf.constant(rows[start:start + batch_size])}
            if labels is not None:
                kw["label"] = tf.constant(labels[start:start + batch_size])
            out.append(np.asarray(self.endpoints["serving_default"](**kw)["images"]))
        return np.concatenate(out).astype(np.float32), labels

    def encode(self, images, batch_size=500):
        """Encoder features [N, D]: the `mean` output when there is one
        (latent-variable models), else the only / first rank-2 output."""
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


def _eval_mode_from_config(model_name, config, metadata):
    """The evaluation preprocessing of an exported model, from its zoo class."""
    try:
        import zoo

        cfg = dict(config)
        cfg.pop("name", None)
        return zoo.get_class(model_name).from_config(cfg).preprocessing(False), True
    except Exception:  # a family this checkout does not have
        mode = (metadata.get("evaluation") or {}).get("evaluation_data")
        return mode or "unit", False


class _ExportLikelihood:
    """Duck-types the parts of a zoo model `training.evaluation.evaluate` uses,
    backed by exported signatures, so an export is scored by the same code."""

    def __init__(self, target_endpoints, inputs, image_shape, eval_mode, exact_log_prob):
        self.num_dims = int(np.prod(image_shape))
        self._mode = eval_mode
        caps = []
        if "reconstruct" in target_endpoints:
            caps.append("reconstruct")
            self.reconstruct = lambda x: target_endpoints["reconstruct"](images=x)["images"]
        if "elbo" in target_endpoints and set(inputs["elbo"]) == {"images", "seed"}:
            self.elbo_from_seeds = lambda x, s: target_endpoints["elbo"](images=x, seed=s)["elbo"]
        if exact_log_prob and inputs.get("log_prob") == ["images"]:
            caps.append("log_prob")
            fn = target_endpoints["log_prob"]
            self.log_prob = lambda x: next(iter(fn(images=x).values()))
        self.capabilities = tuple(caps)

    def preprocessing(self, training=True):
        return self._mode


def _find_version_dir(path):
    versions = [d for d in os.listdir(path) if d.isdigit()
                and os.path.isfile(os.path.join(path, d, "saved_model.pb"))]
    return os.path.join(path, max(versions, key=int)) if versions else None


def load_target(path):
    """A `Target` for a run directory or a SavedModel version directory."""
    import tensorflow as tf

    if not os.path.isdir(path):
        raise EvaluationError(f"TARGET {path!r} does not exist or is not a directory")
    if os.path.isfile(os.path.join(path, "model.keras")):
        import keras

        import zoo  # noqa: F401  (registers the classes model.keras refers to)

        run = {}
        if os.path.isfile(os.path.join(path, "run.json")):
            with open(os.path.join(path, "run.json")) as f:
                run = json.load(f)
        if run.get("model") == "classifier":
            raise EvaluationError(f"{path} is a classifier run (a feature extractor), "
                                  "not a generative model; pass it as --extractor")
        try:
            model = keras.saving.load_model(os.path.join(path, "model.keras"), compile=False)
        except Exception as e:
            raise EvaluationError(f"cannot load {path}/model.keras: {e}") from e
        endpoints, inputs = {}, {}
        for name, (fn, specs) in model.serving_endpoints().items():
            endpoints[name] = _as_kwargs_fn(fn, specs)
            inputs[name] = [s.name for s in specs]
        return Target("run", model.registered_name, path, model.image_shape, endpoints, inputs,
                      getattr(model, "num_classes", None), model.preprocessing(False), model,
                      labels_for_likelihood=getattr(model, "requires_labels", False))
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        version = _find_version_dir(path)
        if version is None:
            raise EvaluationError(
                f"TARGET {path!r} is neither a run directory (no model.keras) nor an "
                "exported SavedModel (no saved_model.pb, no numeric version folders)")
        path = version
    metadata = {}
    if os.path.isfile(os.path.join(path, "metadata.json")):
        with open(os.path.join(path, "metadata.json")) as f:
            metadata = json.load(f)
    loaded = tf.saved_model.load(path)
    endpoints, inputs = {}, {}
    for name, sig in loaded.signatures.items():
        endpoints[name] = sig
        inputs[name] = sorted(sig.structured_input_signature[1])
    config = metadata.get("config", {})
    image_shape = metadata.get("image_shape") or config.get("image_shape")
    if image_shape is None:
        raise EvaluationError(f"{path}/metadata.json does not give the image shape; "
                              "is this a zoo export?")
    name = metadata.get("model", "unknown")
    eval_mode, known = _eval_mode_from_config(name, config, metadata)
    exact = False
    if known:
        import zoo

        # A latent-variable model's log_prob is an estimate; only a class
        # without `iwae` has an exact log_prob signature.
        exact = not hasattr(zoo.get_class(name), "iwae")
    likelihood = _ExportLikelihood(endpoints, inputs, image_shape, eval_mode, exact)
    target = Target("export", name, path, image_shape, endpoints, inputs,
                    config.get("num_classes"), eval_mode, likelihood)
    target.loaded = loaded  # keeps the signatures' variables alive
    return target


# ------------------------------------------------------------- extractors
class Extractor:
    """features(images [N,H,W,C] in [0,1]) -> [N, D]; probabilities -> [N, K] or None."""

    def __init__(self, name, description, fn, has_probabilities):
        self.name, self.description = name, description
        self._fn, self.has_probabilities = fn, has_probabilities

    def __call__(self, images, batch_size=500):
        feats, probs = [], []
        for start in range(0, len(images), batch_size):
            f, p = self._fn(images[start:start + batch_size])
            feats.append(np.asarray(f, np.float64))
            if p is not None:
                probs.append(np.asarray(p, np.float64))
        return np.concatenate(feats), (np.concatenate(probs) if probs else None)


def load_classifier_extractor(path, image_shape):
    """The classifier extractor from a classifier run directory, or (None, reason)."""
    import keras
    import tensorflow as tf

    from training.classifier import FEATURES_LAYER

    model_path = os.path.join(path, "model.keras")
    if not os.path.isfile(model_path):
        return None, f"no classifier at {path}"
    model = keras.saving.load_model(model_path, compile=False)
    shape = tuple(model.input_shape[1:])
    if shape != tuple(image_shape):
        return None, (f"the classifier at {path} takes images {shape}, the model makes "
                      f"{tuple(image_shape)}")
    both = keras.Model(model.inputs, [model.get_layer(FEATURES_LAYER).output, model.output])
    fn = tf.function(lambda x: both(x, training=False), reduce_retracing=True)
    info = {}
    if os.path.isfile(os.path.join(path, "metrics.json")):
        with open(os.path.join(path, "metrics.json")) as f:
            info = json.load(f)
    desc = (f"zoo classifier {path} (trained on {info.get('dataset', '?')}, test accuracy "
            f"{info.get('test_accuracy', float('nan')):.4f}), penultimate layer "
            f"'{FEATURES_LAYER}' ({both.outputs[0].shape[-1]} features)")
    return Extractor("classifier", desc, lambda x: fn(tf.constant(x)), True), None


def load_inception_extractor(weights):
    """Inception-v3 at 299x299 from a local weights file, or (None, reason)."""
    weights = weights or INCEPTION_CACHE
    if not os.path.isfile(weights):
        return None, f"weights not available locally ({weights} missing; nothing is downloaded)"
    import keras
    import tensorflow as tf

    top = "notop" not in os.path.basename(weights)
    net = keras.applications.InceptionV3(include_top=top, weights=weights,
                                         pooling=None if top else "avg",
                                         input_shape=(299, 299, 3))
    if top:
        net = keras.Model(net.inputs, [net.get_layer("avg_pool").output, net.output])

    @tf.function(reduce_retracing=True)
    def run(x):
        x = tf.image.resize(x, (299, 299), method="bilinear")
        if x.shape[-1] == 1:
            x = tf.image.grayscale_to_rgb(x)
        return net(x * 2.0 - 1.0, training=False)  # Inception expects [-1, 1]

    def fn(x):
        out = run(tf.constant(x))
        return (out[0], out[1]) if top else (out, None)

    desc = f"Inception-v3 pool3 (2048 features, 299x299) from {weights}"
    return Extractor("inception", desc, fn, top), None


# ----------------------------------------------------------------- figures
def _draw_histograms(path, series, bins=40, size=(640, 360)):
    """Overlaid step histograms of named 1-D arrays, drawn with PIL."""
    from PIL import Image, ImageDraw

    colors = [(31, 119, 180), (214, 39, 40), (44, 160, 44)]
    w, h = size
    left, right, top, bottom = 50, 10, 30, 40
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    lo = min(float(np.min(v)) for v in series.values())
    hi = max(float(np.max(v)) for v in series.values())
    hi = hi if hi > lo else lo + 1
    edges = np.linspace(lo, hi, bins + 1)
    hists = {k: np.histogram(v, edges)[0] / len(v) for k, v in series.items()}
    peak = max(float(hh.max()) for hh in hists.values()) or 1.0
    draw.line([(left, h - bottom), (w - right, h - bottom)], fill="black")
    draw.line([(left, top), (left, h - bottom)], fill="black")
    px = lambda i: left + (w - left - right) * i / bins  # noqa: E731
    py = lambda f: h - bottom - (h - top - bottom) * f / peak  # noqa: E731
    for (label, hist), color in zip(hists.items(), colors):
        points = []
        for i, f in enumerate(hist):
            points += [(px(i), py(f)), (px(i + 1), py(f))]
        draw.line(points, fill=color, width=2)
    for i, (label, color) in enumerate(zip(hists, colors)):
        draw.text((left + 10, 5 + 12 * i), f"{label} (n={len(series[label])})", fill=color)
    draw.text((left, h - bottom + 5), f"{lo:.3g}", fill="black")
    draw.text((w - right - 40, h - bottom + 5), f"{hi:.3g}", fill="black")
    draw.text((w // 2 - 80, h - 20), "L2 distance to nearest training image", fill="black")
    draw.text((2, top - 15), f"frac {peak:.2g}", fill="black")
    image.save(path)


def _save_grid(path, images, num_cols=None):
    from training.images import display_scale, make_grid, save_png

    save_png(path, make_grid(images, num_cols=num_cols),
             scale=display_scale(images.shape[1:3]))


# ---------------------------------------------------------------- evaluate
def _load_split(dataset, split, data_dir):
    from training import datasets

    x, y = datasets.load_arrays(dataset, split, data_dir=data_dir)
    return x.astype(np.float32) / 255.0, y


def evaluate_target(target, dataset, split="test", metrics=None, num_samples=10000, seed=0,
                    extractor=None, inception_weights=None, iwae_samples=100, out=None,
                    data_dir=None, parzen_validation=1000, probe_train=10000, log=print):
    """Computes the requested metrics for a `Target`; writes files when `out` is given.

    Args:
      target: from `load_target`.
      dataset: dataset spec; its image shape must match the target's.
      split: the split compared against ("test").
      metrics: names from METRICS (default: all).
      num_samples: generated images for the sample-based metrics.
      seed: sample i uses seed row [seed, i]; also seeds likelihood
        estimates, KID subsets and the linear probe.
      extractor: classifier run directory (default runs/classifier-<slug>
        if it exists).
      inception_weights: Inception-v3 weights file (default keras' cache path).
      iwae_samples: k of the importance-weighted log-likelihood.
      out: output directory for metrics.json, report.md and figures.
      parzen_validation: train images held out to choose the Parzen bandwidth.
      probe_train: train images (at most) that fit the linear probe.
      log: progress printer (None for silence).

    Returns:
      The metrics.json dict.
    """
    from training import datasets
    from training.classifier import default_classifier_dir

    log = log or (lambda *a, **k: None)
    metrics = tuple(metrics or METRICS)
    parse_metrics(",".join(metrics))
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 2:
        raise EvaluationError(f"--num-samples must be an integer >= 2, got {num_samples!r}")
    try:
        info = datasets.info(dataset, data_dir=data_dir)
    except datasets.DatasetError as e:
        raise EvaluationError(str(e)) from None
    if tuple(info.image_shape) != target.image_shape:
        raise EvaluationError(
            f"dataset {dataset!r} has images {tuple(info.image_shape)} but the model "
            f"{target.name!r} takes {target.image_shape}; evaluate on the dataset it was "
            "trained on")
    result = {"target": os.path.abspath(target.path), "target_kind": target.kind,
              "model": target.name, "dataset": dataset, "split": split,
              "num_samples": num_samples, "seed": seed, "requested_metrics": list(metrics),
              "metrics": {}, "not_applicable": {}, "warnings": [], "seconds": {},
              "extractors": {}, "details": {}}
    values, na, seconds = result["metrics"], result["not_applicable"], result["seconds"]

    def warn(message):
        result["warnings"].append(message)
        log(f"warning: {message}")

    def timed(key, fn):
        start = time.perf_counter()
        value = fn()
        seconds[key] = round(time.perf_counter() - start, 3)
        return value

    real, real_labels = _load_split(dataset, split, data_dir)
    train_x = train_labels = None
    if {"parzen", "memorization", "linear_probe"} & set(metrics):
        train_x, train_labels = _load_split(dataset, "train", data_dir)
    figures = {}
    if out:
        os.makedirs(out, exist_ok=True)

    # ---- likelihood (reuses training.evaluation.evaluate)
    if "likelihood" in metrics:
        from training.evaluation import evaluate

        ds = datasets.load(dataset, split, batch_size=256, mode=target.eval_mode,
                           labels=target.labels_for_likelihood, shuffle=False, seed=0,
                           data_dir=data_dir)
        log("likelihood ...")
        ev = timed("likelihood", lambda: evaluate(target.likelihood_model, ds,
                                                  iwae_samples=iwae_samples, seed=seed))
        values.update({k: v for k, v in ev.items() if k != "num_examples"})
        if not any(k in ev for k in ("test_elbo_nats", "test_log_likelihood_nats")):
            na["likelihood"] = ("the target has no ELBO, importance-weighted or exact "
                                "log-likelihood" + (" signature" if target.kind == "export" else "")
                                + "; see parzen for a sample-based estimate")
        elif target.kind == "export" and "test_log_likelihood_nats" not in ev \
                and "elbo" in target.endpoints:
            na["iwae"] = ("the export has no importance-weighted log_prob signature; only "
                          "the ELBO is computed (evaluate the run directory for IWAE)")

    # ---- samples
    samples = sample_labels = None
    wants_samples = [m for m in metrics if m in SAMPLE_METRICS]
    if wants_samples:
        if not target.can_sample:
            for m in wants_samples:
                na[m] = "the target cannot sample (no serving_default signature with seeds)"
        else:
            log(f"sampling {num_samples} images ...")
            samples, sample_labels = timed("sampling", lambda: target.sample(num_samples, seed))
            if out:
                _save_grid(os.path.join(out, "samples.png"), samples[:64],
                           num_cols=target.num_classes if target.conditional else None)
                figures["samples"] = "samples.png"

    # ---- extractors and their features
    extractors = {}
    feature_metrics = [m for m in metrics if m in FEATURE_METRICS + ("conditional_accuracy",)]
    if samples is not None and feature_metrics:
        path = extractor or default_classifier_dir(dataset)
        if os.path.isdir(path):
            ex, reason = load_classifier_extractor(path, target.image_shape)
        else:
            ex, reason = None, (f"no classifier at {path}; train one with python -m "
                                f"training.train classifier --dataset {dataset} or pass "
                                "--extractor PATH")
        if ex:
            extractors["classifier"] = ex
        else:
            for m in feature_metrics:
                na[f"{m}_classifier"] = reason
        ex, reason = load_inception_extractor(inception_weights)
        if ex:
            extractors["inception"] = ex
        else:
            for m in feature_metrics:
                if m != "conditional_accuracy":
                    na[f"{m}_inception"] = reason
    feats = {}
    for name, ex in extractors.items():
        result["extractors"][name] = ex.description
        log(f"{name} features ...")
        feats[name] = timed(f"features_{name}", lambda ex=ex: (ex(real), ex(samples)))
        dim = feats[name][0][0].shape[1]
        n = min(len(real), len(samples))
        if ("fid" in metrics or "kid" in metrics) and (n < MIN_FID_SAMPLES or n < dim):
            warn(f"FID/KID with the {name} extractor use {len(samples)} samples against "
                 f"{len(real)} real images; below {max(MIN_FID_SAMPLES, dim)} (2048 or the "
                 f"feature dimension {dim}) FID is biased upward and unstable - compare only "
                 "at equal sample counts")

    for name, ((real_f, real_p), (fake_f, fake_p)) in feats.items():
        if "fid" in metrics:
            values[f"fid_{name}"] = timed(f"fid_{name}", lambda: M.frechet_distance(real_f, fake_f))
        if "kid" in metrics:
            m, s = timed(f"kid_{name}", lambda: M.kernel_inception_distance(
                real_f, fake_f, subset_size=1000, num_subsets=100, seed=seed))
            values[f"kid_{name}"], values[f"kid_{name}_std"] = m, s
        if "inception_score" in metrics:
            if fake_p is None:
                na[f"inception_score_{name}"] = "the extractor has no classification head"
            else:
                m, s = timed(f"inception_score_{name}", lambda: M.inception_score(fake_p, 10))
                values[f"inception_score_{name}"], values[f"inception_score_{name}_std"] = m, s
                values[f"inception_score_{name}_real"] = M.inception_score(real_p, 10)[0]
        if "precision_recall" in metrics:
            # k-NN radii shrink as a set grows, so both sets get the same size
            # (as in [Kynkaanniemi et al. 2019]); otherwise recall is biased
            # down when there are more samples than real images.
            n_pr = min(len(real_f), len(fake_f))
            p, r = timed(f"precision_recall_{name}",
                         lambda: M.precision_recall(real_f[:n_pr], fake_f[:n_pr], k=3))
            values[f"precision_{name}"], values[f"recall_{name}"] = p, r
            result["details"]["precision_recall_points_per_set"] = n_pr
        if "conditional_accuracy" in metrics and name == "classifier":
            if not target.conditional:
                na["conditional_accuracy"] = "the model is not class-conditional"
            else:
                pred = fake_p.argmax(1)
                values["conditional_accuracy_classifier"] = float(np.mean(pred == sample_labels))
                result["details"]["conditional_accuracy_per_class"] = [
                    float(np.mean(pred[sample_labels == c] == c))
                    for c in range(target.num_classes)]
    if "conditional_accuracy" in metrics and samples is not None and not target.conditional:
        na["conditional_accuracy"] = "the model is not class-conditional"
        na.pop("conditional_accuracy_classifier", None)

    flat = lambda x: x.reshape(len(x), -1).astype(np.float64)  # noqa: E731
    # ---- Parzen window (pixel space, [0, 1])
    if "parzen" in metrics and samples is not None:
        n_val = min(parzen_validation, len(train_x) // 2)
        validation = flat(train_x[-n_val:])
        log("parzen ...")

        def parzen():
            sigma, scores = M.select_parzen_bandwidth(validation, flat(samples))
            ll = M.parzen_log_likelihood(flat(real), flat(samples), sigma)
            return sigma, scores, ll

        sigma, scores, ll = timed("parzen", parzen)
        values["parzen_log_likelihood_nats"] = float(ll.mean())
        values["parzen_log_likelihood_stderr"] = float(ll.std() / math.sqrt(len(ll)))
        values["parzen_sigma"] = sigma
        result["details"]["parzen_validation_scores"] = scores
        result["details"]["parzen_validation_images"] = n_val

    # ---- memorization: pixel-space nearest training images
    if "memorization" in metrics and samples is not None:
        log("nearest neighbours ...")

        def nn():
            s_d, s_i = M.nearest_neighbors(flat(samples), flat(train_x), k=4)
            t_d, _ = M.nearest_neighbors(flat(real), flat(train_x), k=1)
            return s_d, s_i, t_d[:, 0]

        s_d, s_i, t_d = timed("memorization", nn)
        values["nn_sample_to_train_median"] = float(np.median(s_d[:, 0]))
        values["nn_test_to_train_median"] = float(np.median(t_d))
        values["nn_distance_ratio"] = values["nn_sample_to_train_median"] / max(
            values["nn_test_to_train_median"], 1e-12)
        p1 = float(np.percentile(t_d, 1))
        values["nn_samples_below_test_p1"] = float(np.mean(s_d[:, 0] < p1))
        if out:
            closest = np.argsort(s_d[:, 0])[:8]
            rows = [np.concatenate([samples[i:i + 1], train_x[s_i[i]]]) for i in closest]
            _save_grid(os.path.join(out, "nearest_neighbours.png"), np.concatenate(rows), 5)
            _draw_histograms(os.path.join(out, "nn_distances.png"),
                             {"sample -> train": s_d[:, 0], "test -> train": t_d})
            figures["nearest_neighbours"] = "nearest_neighbours.png"
            figures["nn_distances"] = "nn_distances.png"

    # ---- linear probe on encoder features
    if "linear_probe" in metrics:
        if not target.can_encode:
            na["linear_probe"] = "the target has no encoder (no encode signature taking images)"
        elif real_labels is None or train_labels is None:
            na["linear_probe"] = f"dataset {dataset!r} has no labels"
        else:
            log("linear probe ...")
            n_tr = min(probe_train, len(train_x))

            def probe():
                return M.linear_probe_accuracy(target.encode(train_x[:n_tr]), train_labels[:n_tr],
                                               target.encode(real), real_labels, seed=seed)

            values["linear_probe_accuracy"] = timed("linear_probe", probe)
            result["details"]["linear_probe_train_images"] = n_tr

    result["figures"] = figures
    if out:
        with open(os.path.join(out, "metrics.json"), "w") as f:
            json.dump(result, f, indent=2, default=_json_default)
        with open(os.path.join(out, "report.md"), "w") as f:
            f.write(render_report(result))
    return result


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return str(value)


# ------------------------------------------------------------------ report
_DESCRIPTIONS = {
    "test_elbo_nats": "ELBO per image (nats, higher is better)",
    "test_elbo_bits_per_dim": "negative ELBO in bits/dim (lower is better)",
    "test_log_likelihood_nats": "log p(x) per image (nats; exact or IWAE, see estimator)",
    "test_nll_bits_per_dim": "negative log-likelihood in bits/dim (lower is better)",
    "test_reconstruction_mse": "reconstruction mean squared error per pixel",
    "parzen_log_likelihood_nats": "Parzen-window log-density per image (nats, continuous [0,1] pixels)",
    "nn_distance_ratio": "median sample->train / median test->train L2 distance (<1 hints memorization)",
    "nn_samples_below_test_p1": "fraction of samples closer to train than 99% of test images are",
    "linear_probe_accuracy": "logistic-regression accuracy on encoder features",
    "precision_classifier": "fraction of samples inside the real k-NN manifold (k=3)",
    "recall_classifier": "fraction of real images inside the samples' k-NN manifold (k=3)",
    "inception_score_classifier_real": "the same score for the real images (its ceiling)",
    "conditional_accuracy_classifier": "classifier accuracy on samples of each requested label",
}


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.5g}"
    return str(v)


def render_report(result):
    """report.md for one evaluation."""
    values = result["metrics"]
    lines = [f"# Evaluation of `{result['model']}`", "",
             f"- target: `{result['target']}` ({result['target_kind']})",
             f"- dataset: `{result['dataset']}`, split `{result['split']}`",
             f"- generated samples: {result['num_samples']} (seed rows [{result['seed']}, i])"]
    for name, desc in result["extractors"].items():
        lines.append(f"- extractor `{name}`: {desc}")
    if "evaluation_data" in values:
        mode = values["evaluation_data"]
        what = {"binary_static": "binarized once with a fixed seed (pixel on with probability "
                                 "x/255, Larochelle & Murray 2011); likelihoods are of the "
                                 "binary data",
                "unit": "grey levels x/255 in [0, 1], no dequantization noise; continuous "
                        "densities are not comparable with discrete likelihoods",
                "levels": "discrete intensity levels (exact discrete likelihood)"}.get(mode, mode)
        lines.append(f"- likelihood data: `{mode}`: {what}")
    lines += ["", "## Metrics", "", "| metric | value | meaning |", "|---|---:|---|"]
    for key, value in values.items():
        lines.append(f"| {key} | {_fmt(value)} | {_DESCRIPTIONS.get(key, '')} |")
    if result["not_applicable"]:
        lines += ["", "## Not applicable", ""]
        lines += [f"- `{k}`: {v}" for k, v in result["not_applicable"].items()]
    if result["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in result["warnings"]]
    lines += ["", "## Time (seconds)", "", "| step | seconds |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in result["seconds"].items()]
    figs = result.get("figures", {})
    if figs:
        lines += ["", "## Figures", ""]
        titles = {"samples": "Samples", "nearest_neighbours":
                  "The 8 samples closest to the training set (left) and their 4 nearest "
                  "training images (pixel L2)",
                  "nn_distances": "Nearest-training-image distances: samples vs test images"}
        for key, file in figs.items():
            lines += [f"{titles.get(key, key)}:", "", f"![{key}]({file})", ""]
    lines += ["", "## Caveats", "",
              "- FID/KID/IS/precision/recall depend on the extractor; values from different "
              "extractors or sample counts are not comparable. The classifier extractor is "
              "the usual choice for MNIST-like data, not the Inception network of the papers.",
              "- Parzen-window estimates (Goodfellow et al. 2014) are known to be poor "
              "(Theis et al. 2016): in high dimensions they need far more samples than are "
              "drawn, can rank models opposite to their true log-likelihood, and a model "
              "that copies training images can score well. The bandwidth is chosen on "
              "held-out training images; report it only beside proper likelihoods.",
              "- The nearest-neighbour check uses pixel L2 distance, which notices copies "
              "but not semantic memorization.", ""]
    return "\n".join(lines)


COMPARE_KEYS = ("test_elbo_bits_per_dim", "test_nll_bits_per_dim", "log_likelihood_estimator",
                "parzen_log_likelihood_nats", "fid_classifier", "kid_classifier",
                "inception_score_classifier", "precision_classifier", "recall_classifier",
                "fid_inception", "kid_inception", "inception_score_inception",
                "precision_inception", "recall_inception", "nn_distance_ratio",
                "linear_probe_accuracy", "conditional_accuracy_classifier")


def _metrics_file(path):
    for candidate in (path, os.path.join(path, "metrics.json"),
                      os.path.join(path, "eval", "metrics.json")):
        if os.path.isfile(candidate):
            with open(candidate) as f:
                data = json.load(f)
            if "metrics" in data and "not_applicable" in data:
                return candidate, data
    raise EvaluationError(f"{path} holds no evaluation metrics.json (looked in {path}, "
                          f"{path}/metrics.json, {path}/eval/metrics.json); run python -m "
                          "training.evaluate on it first")


def compare(paths):
    """One Markdown table across evaluations (their metrics.json files)."""
    rows = [_metrics_file(p) for p in paths]
    keys = [k for k in COMPARE_KEYS if any(k in d["metrics"] for _, d in rows)]
    extra = sorted({k for _, d in rows for k, v in d["metrics"].items()
                    if isinstance(v, (int, float)) and k not in COMPARE_KEYS
                    and not k.endswith("_std") and k.startswith(("fid_", "kid_", "precision_",
                                                                 "recall_"))})
    keys += extra
    lines = ["| run | model | dataset | samples | " + " | ".join(keys) + " |",
             "|---|---|---|---:|" + "---:|" * len(keys)]
    for path, d in rows:
        cells = []
        for k in keys:
            if k in d["metrics"]:
                v = d["metrics"][k]
                std = d["metrics"].get(f"{k}_std")
                cells.append(_fmt(v) + (f" ± {std:.2g}" if std is not None else ""))
            else:
                cells.append("n/a")
        lines.append(f"| {os.path.dirname(path)} | {d['model']} | {d['dataset']} | "
                     f"{d['num_samples']} | " + " | ".join(cells) + " |")
    datasets_seen = {d["dataset"] for _, d in rows}
    if len(datasets_seen) > 1:
        lines += ["", f"Warning: the runs were evaluated on different datasets "
                      f"({', '.join(sorted(datasets_seen))}); their numbers are not comparable."]
    counts = {d["num_samples"] for _, d in rows}
    if len(counts) > 1:
        lines += ["", "Warning: different sample counts; FID/KID are biased by sample count."]
    lines += ["", "n/a: not computed or not applicable (see each run's report.md). "
                  "Columns are per extractor; FIDs of different extractors never share one."]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------- CLI
def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m training.evaluate",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n", 1)[1])
    parser.add_argument("target", nargs="?", help="run directory or exported SavedModel version")
    parser.add_argument("--dataset", help="dataset spec (see training.datasets)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--metrics", help=f"comma-separated subset of: {', '.join(METRICS)} "
                                          "(default: all)")
    parser.add_argument("--num-samples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="output directory")
    parser.add_argument("--extractor", help="classifier run directory "
                                            "(default runs/classifier-<dataset slug>)")
    parser.add_argument("--inception-weights", help="local Inception-v3 weights .h5 file "
                                                    f"(default {INCEPTION_CACHE})")
    parser.add_argument("--iwae-samples", type=int, default=100)
    parser.add_argument("--data-dir", help="tensorflow-datasets data directory")
    parser.add_argument("--compare", nargs="+", metavar="RUN",
                        help="evaluation directories (or run dirs with eval/) to tabulate")
    return parser


def default_out(target):
    if target.kind == "run":
        return os.path.join(target.path, "eval")
    version = os.path.basename(os.path.normpath(target.path))
    return os.path.join("runs", f"eval-{target.name}-{version}")


def main(argv=None):
    args = build_parser().parse_args(argv)
    from training.datasets import DatasetError
    from zoo.errors import ZooError

    try:
        if args.compare:
            table = compare(args.compare)
            print(table)
            if args.out:
                os.makedirs(args.out, exist_ok=True)
                with open(os.path.join(args.out, "compare.md"), "w") as f:
                    f.write(table)
            return 0
        if not args.target or not args.dataset:
            raise EvaluationError("give TARGET and --dataset (or --compare RUN1 RUN2 ...)")
        names = parse_metrics(args.metrics)
        target = load_target(args.target)
        out = args.out or default_out(target)
        result = evaluate_target(
            target, args.dataset, split=args.split, metrics=names,
            num_samples=args.num_samples, seed=args.seed, extractor=args.extractor,
            inception_weights=args.inception_weights, iwae_samples=args.iwae_samples,
            out=out, data_dir=args.data_dir,
            log=lambda msg: print(msg, file=sys.stderr))
    except (EvaluationError, DatasetError, ZooError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for k, v in result["metrics"].items():
        print(f"{k}: {_fmt(v)}")
    for k, v in result["not_applicable"].items():
        print(f"{k}: not applicable ({v})")
    print(f"wrote {out}/metrics.json and {out}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
