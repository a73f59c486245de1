"""Runs the registered metric steps on one `Target` and writes metrics.json / report.md.

The engine prepares what the selected steps need (the split's images,
generated samples, extractor features, the train split on first use),
reports a step the target cannot support as not applicable, times every
step, and leaves the metric arithmetic to `training.evaluate.steps`.
"""

import json
import os
import time

import numpy as np

from export import layout
from training.evaluate import registry, steps  # noqa: F401  (steps registers the metrics)
from training.evaluate.extractors import load_extractors
from training.evaluate.figures import save_grid
from training.evaluate.registry import EvaluationError
from training.evaluate.report import json_default, render_report

#: Below this many samples (or the feature dimension) FID is badly biased.
MIN_FID_SAMPLES = 2048


def _load_split(dataset, split, data_dir):
    """(images in [0, 1], labels or None); for an image-to-image spec the
    target-domain images (B), unlabelled."""
    from training import datasets

    if datasets.is_pair_spec(dataset):
        _, b, _ = datasets.load_pair_arrays(dataset, split, data_dir=data_dir)
        return b.astype(np.float32) / 255.0, None
    x, y = datasets.load_arrays(dataset, split, data_dir=data_dir)
    return x.astype(np.float32) / 255.0, y


def _load_sources(dataset, split, data_dir):
    """(source images A in [0, 1], paired) of an image-to-image spec."""
    from training import datasets

    a, _, paired = datasets.load_pair_arrays(dataset, split, data_dir=data_dir)
    return a.astype(np.float32) / 255.0, paired


class Context:
    """One evaluation's inputs and outputs, as the metric steps see them.

    Attributes:
      target, dataset, split, seed, out: as given to `evaluate_target`.
      options: iwae_samples, parzen_validation, probe_train, data_dir, extractor,
        inception_weights.
      real: float [N, H, W, C] in [0, 1], the split's images; real_labels: int [N] or None.
      samples: float [M, H, W, C] generated images (for "samples" steps);
        sample_labels: int [M] for conditional targets.
      features: {extractor: ((real_f [N, D], real_p [N, K] or None),
        (fake_f [M, D], fake_p))} (for "features" steps).
      values, not_applicable, details, figures: sections of metrics.json.
    """

    def __init__(self, target, dataset, split, metrics, seed, out, options, log, result):
        self.target, self.dataset, self.split, self.metrics = target, dataset, split, metrics
        self.seed, self.out, self.options, self.log = seed, out, options, log
        self.result = result
        self.values, self.not_applicable = result["metrics"], result["not_applicable"]
        self.details, self.figures = result["details"], {}
        self.real, self.real_labels = _load_split(dataset, split, options["data_dir"])
        # Image-to-image targets: their "samples" are translations of the
        # split's sources (StarGAN: of its images, to the next domain).
        self.sources, self.paired = None, False
        if target.translates:
            from training import datasets

            if datasets.is_pair_spec(dataset):
                self.sources, self.paired = _load_sources(dataset, split, options["data_dir"])
            else:
                self.sources = self.real
        self.samples = self.sample_labels = None
        self.features = {}
        self._train = None
        self._extractors = None

    @property
    def train(self):
        """(images [N, H, W, C] in [0, 1], labels [N] or None) of the train split."""
        if self._train is None:
            self._train = _load_split(self.dataset, "train", self.options["data_dir"])
        return self._train

    def warn(self, message):
        self.result["warnings"].append(message)
        self.log(f"warning: {message}")

    def timed(self, key, fn):
        """fn(), its wall time recorded under seconds[key]."""
        start = time.perf_counter()
        value = fn()
        self.result["seconds"][key] = round(time.perf_counter() - start, 3)
        return value

    def figure(self, key, write):
        """write(path) into the output directory, linked from the report as `key`."""
        if self.out:
            write(os.path.join(self.out, layout.EVAL_FIGURES[key]))
            self.figures[key] = layout.EVAL_FIGURES[key]

    def draw_samples(self):
        if self.samples is not None:
            return
        n = self.options["num_samples"]
        if self.sources is not None:
            self.log("translating the split's images ...")
            labels = None if self.real_labels is None or self.paired else \
                (self.real_labels + 1) % max(self.target.num_classes or 1, 1)
            self.sample_labels = None
            self.samples = self.timed("sampling", lambda: self.target.translate(
                self.sources[:n], None if labels is None else labels[:n]))
            self.result["samples"] = "translations of the split's source images" + (
                " to the next domain (label + 1 mod K)" if labels is not None else "")
            self.figure("samples", lambda path: save_grid(path, self.samples[:64]))
            return
        self.log(f"sampling {n} images ...")
        self.samples, self.sample_labels = self.timed(
            "sampling", lambda: self.target.sample(n, self.seed))
        self.result["samples"] = self.target.sample_source
        cols = self.target.num_classes if self.target.conditional else None
        self.figure("samples", lambda path: save_grid(path, self.samples[:64], num_cols=cols))

    def extract(self, step):
        """Features of real and generated images for each extractor `step` uses."""
        if self._extractors is None:
            self._extractors = load_extractors(
                self.dataset, self.target.image_shape, self.options["extractor"],
                self.options["inception_weights"])
        loaded, reasons = self._extractors
        for name in step.extractors:
            if name in reasons:
                self.not_applicable[f"{step.name}_{name}"] = reasons[name]
            elif name not in self.features:
                self._features(name, loaded[name])

    def _features(self, name, extractor):
        self.result["extractors"][name] = extractor.description
        self.log(f"{name} features ...")
        self.features[name] = self.timed(
            f"features_{name}", lambda: (extractor(self.real), extractor(self.samples)))
        dim = self.features[name][0][0].shape[1]
        n = min(len(self.real), len(self.samples))
        if {"fid", "kid"} & set(self.metrics) and (n < MIN_FID_SAMPLES or n < dim):
            self.warn(f"FID/KID with the {name} extractor use {len(self.samples)} samples "
                      f"against {len(self.real)} real images; below "
                      f"{max(MIN_FID_SAMPLES, dim)} (2048 or the feature dimension {dim}) "
                      "FID is biased upward and unstable - compare only at equal sample counts")


def _check_request(target, dataset, metrics, num_samples, data_dir):
    from training import datasets

    metrics = tuple(metrics or registry.names())
    registry.parse_metrics(",".join(metrics))
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 2:
        raise EvaluationError(f"--num-samples must be an integer >= 2, got {num_samples!r}")
    try:
        if datasets.is_pair_spec(dataset):
            shape = datasets.pair_info(dataset, data_dir=data_dir).target_shape
        else:
            shape = datasets.info(dataset, data_dir=data_dir).image_shape
    except datasets.DatasetError as e:
        raise EvaluationError(str(e)) from None
    if tuple(shape) != target.image_shape:
        raise EvaluationError(
            f"dataset {dataset!r} has images {tuple(shape)} but the model "
            f"{target.name!r} takes {target.image_shape}; evaluate on the dataset it was "
            "trained on")
    return metrics


def _run_step(ctx, step):
    if "samples" in step.needs and not (ctx.target.can_sample or ctx.sources is not None):
        ctx.not_applicable[step.name] = ("the target cannot sample (no serving_default "
                                         "signature with seeds)")
        return
    reason = step.applies(ctx)
    if reason:
        ctx.not_applicable[step.name] = reason
        return
    if "samples" in step.needs:
        ctx.draw_samples()
    if "features" in step.needs:
        ctx.extract(step)
    step.fn(ctx)


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
        estimates, dequantization, KID subsets and the linear probe.
      extractor: classifier run directory (default runs/classifier-<slug>
        if it exists).
      inception_weights: Inception-v3 weights file (default keras' cache path).
      iwae_samples: k of the importance-weighted log-likelihood.
      out: output directory for metrics.json, report.md and figures.
      parzen_validation: images of the split (at most half) held out of the
        Parzen scoring to choose its bandwidth.
      probe_train: train images (at most) that fit the linear probe.
      log: progress printer (None for silence).

    Returns:
      The metrics.json dict.
    """
    log = log or (lambda *a, **k: None)
    metrics = _check_request(target, dataset, metrics, num_samples, data_dir)
    result = {"target": os.path.abspath(target.path), "target_kind": target.kind,
              "model": target.name, "dataset": dataset, "split": split,
              "num_samples": num_samples, "seed": seed, "samples": None,
              "requested_metrics": list(metrics), "metrics": {}, "not_applicable": {},
              "warnings": [], "seconds": {}, "extractors": {}, "details": {}}
    options = dict(iwae_samples=iwae_samples, parzen_validation=parzen_validation,
                   probe_train=probe_train, data_dir=data_dir, extractor=extractor,
                   inception_weights=inception_weights, num_samples=num_samples)
    if out:
        os.makedirs(out, exist_ok=True)
    ctx = Context(target, dataset, split, metrics, seed, out, options, log, result)
    for step in registry.steps(metrics):
        _run_step(ctx, step)
    result["figures"] = ctx.figures
    if out:
        with open(os.path.join(out, layout.METRICS_FILE), "w") as f:
            json.dump(result, f, indent=2, default=json_default)
        with open(os.path.join(out, layout.REPORT_FILE), "w") as f:
            f.write(render_report(result))
    return result
