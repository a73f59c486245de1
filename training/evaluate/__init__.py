"""Evaluation of any zoo model: `python -m training.evaluate` (see `cli`).

Modules:
  cli         the command line (`main`, `build_parser`, `default_out`)
  targets     `Target`, `load_target`: a run directory or an export
  extractors  the classifier and Inception feature extractors
  registry    the `@metric` decorator, `parse_metrics`, `EvaluationError`
  steps       one registered function per metric
  engine      `evaluate_target`: runs the steps, writes metrics.json/report.md
  report      report.md rendering
  compare     `--compare` tables
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from training.evaluate import registry  # noqa: E402
from training.evaluate.cli import build_parser, default_out, main  # noqa: E402
from training.evaluate.compare import COMPARE_KEYS, compare  # noqa: E402
from training.evaluate.engine import MIN_FID_SAMPLES, Context, evaluate_target  # noqa: E402
from training.evaluate.extractors import (EXTRACTOR_NAMES, INCEPTION_CACHE,  # noqa: E402
                                          Extractor, load_classifier_extractor,
                                          load_inception_extractor)
from training.evaluate.registry import EvaluationError, metric, parse_metrics  # noqa: E402
from training.evaluate.report import render_report  # noqa: E402
from training.evaluate.targets import SAMPLE_SOURCES, Target, load_target  # noqa: E402

#: Every registered metric, in run order.
METRICS = registry.names()
#: Metrics computed on extractor features of the samples.
FEATURE_METRICS = registry.names("features")
#: Metrics that need generated samples.
SAMPLE_METRICS = registry.names("samples")

__all__ = ["COMPARE_KEYS", "Context", "EXTRACTOR_NAMES", "EvaluationError", "Extractor",
           "FEATURE_METRICS", "INCEPTION_CACHE", "METRICS", "MIN_FID_SAMPLES",
           "SAMPLE_METRICS", "SAMPLE_SOURCES", "Target", "build_parser", "compare",
           "default_out", "evaluate_target", "load_classifier_extractor",
           "load_inception_extractor", "load_target", "main", "metric", "parse_metrics",
           "render_report"]
