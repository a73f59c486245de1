"""`--compare`: one Markdown table across evaluations (their metrics.json files).

Bits/dim are split into one column per evaluation data ("fixed binarization
(binary_static)", "8-bit levels", ...): numbers of different data,
binarization or levels never share a column. A density scored on uniformly
dequantized 8-bit images, shifted by D log 256, bounds the discrete NLL of the
same 8-bit images ([Theis et al. 2016] sec. 3.1), so it shares the 8-bit
column, its cells marked as bounds. An
evaluation whose bits/dim do not say what data they are of (written before
that was recorded) is refused with a message to re-run it.
"""

import json
import os

from export import layout
from training.evaluate.registry import EvaluationError
from training.evaluate.report import fmt

BITS_KEYS = ("test_elbo_bits_per_dim", "test_nll_bits_per_dim")
COMPARE_KEYS = ("log_likelihood_estimator",
                "parzen_log_likelihood_nats", "fid_classifier", "kid_classifier",
                "inception_score_classifier", "precision_classifier", "recall_classifier",
                "fid_inception", "kid_inception", "inception_score_inception",
                "precision_inception", "recall_inception", "nn_distance_ratio",
                "linear_probe_accuracy", "knn_accuracy_5", "recall_at_1",
                "classification_error", "conditional_accuracy_classifier")
_EXTRA_PREFIXES = ("fid_", "kid_", "precision_", "recall_")


def _metrics_file(path):
    candidates = (path, os.path.join(path, layout.METRICS_FILE),
                  os.path.join(path, layout.EVAL_DIR, layout.METRICS_FILE))
    for candidate in candidates:
        if os.path.isfile(candidate):
            with open(candidate) as f:
                data = json.load(f)
            if "metrics" in data and "not_applicable" in data:
                return candidate, data
    raise EvaluationError(f"{path} holds no evaluation metrics.json (looked in "
                          f"{', '.join(candidates)}); run python -m training.evaluate on "
                          "it first")


#: Evaluation data whose bits/dim bound those of another column's data and
#: share its column: a density on uniformly dequantized 8-bit images,
#: shifted by D log 256, bounds the 8-bit images' discrete NLL.
SAME_COLUMN = {"uniformly dequantized 8-bit": "8-bit levels"}
#: Marks a cell whose number is such a bound.
BOUND_MARK = " (dequantized bound)"


def _column_label(values):
    data = values["evaluation_data"]
    return SAME_COLUMN.get(data, data)


def _bits_columns(rows):
    """[(header, key, evaluation data)] of the bits/dim columns, one per data."""
    labels = []
    for path, d in rows:
        values = d["metrics"]
        if not any(k in values for k in BITS_KEYS):
            continue
        if "likelihood_kind" not in values:
            raise EvaluationError(
                f"{path} reports bits/dim without the likelihood kind and levels of its "
                "data (written before they were recorded), so they cannot be put beside "
                "others safely; re-run python -m training.evaluate on its target")
        if _column_label(values) not in labels:
            labels.append(_column_label(values))
    return [(f"{key} [{label}]", key, label) for key in BITS_KEYS for label in labels
            if any("evaluation_data" in d["metrics"] and _column_label(d["metrics"]) == label
                   and key in d["metrics"] for _, d in rows)]


def _columns(rows):
    columns = _bits_columns(rows)
    keys = [k for k in COMPARE_KEYS if any(k in d["metrics"] for _, d in rows)]
    keys += sorted({k for _, d in rows for k, v in d["metrics"].items()
                    if isinstance(v, (int, float)) and k not in COMPARE_KEYS
                    and not k.endswith("_std") and k.startswith(_EXTRA_PREFIXES)})
    return columns + [(k, k, None) for k in keys]


def _md(text):
    """A table cell: a "|" in the text (e.g. "p(x|z)") would split the cell."""
    return str(text).replace("|", "\\|")


def _cell(values, key, label):
    if key not in values or (label is not None and ("evaluation_data" not in values or
                                                   _column_label(values) != label)):
        return "n/a"
    std = values.get(f"{key}_std")
    bound = BOUND_MARK if label is not None and values["evaluation_data"] in SAME_COLUMN else ""
    return fmt(values[key]) + (f" ± {std:.2g}" if std is not None else "") + bound


def compare(paths):
    """One Markdown table across evaluations.

    Args:
      paths: evaluation directories, their metrics.json files, or run
        directories holding eval/metrics.json.

    Returns:
      The table (with warnings under it) as Markdown text.
    """
    rows = [_metrics_file(p) for p in paths]
    columns = _columns(rows)
    lines = ["| run | model | dataset | samples | samples are | "
             + " | ".join(h for h, _, _ in columns) + " |",
             "|---|---|---|---:|---|" + "---:|" * len(columns)]
    for path, d in rows:
        cells = [_cell(d["metrics"], key, label) for _, key, label in columns]
        lines.append(f"| {_md(os.path.dirname(path))} | {_md(d['model'])} | "
                     f"{_md(d['dataset'])} | {d['num_samples']} | "
                     f"{_md(d.get('samples') or 'n/a')} | " + " | ".join(cells) + " |")
    datasets_seen = {d["dataset"] for _, d in rows}
    if len(datasets_seen) > 1:
        lines += ["", f"Warning: the runs were evaluated on different datasets "
                      f"({', '.join(sorted(datasets_seen))}); their numbers are not comparable."]
    if len({d["num_samples"] for _, d in rows}) > 1:
        lines += ["", "Warning: different sample counts; FID/KID are biased by sample count."]
    lines += ["", "n/a: not computed or not applicable (see each run's report.md). "
                  "Columns are per extractor; FIDs of different extractors never share one. "
                  "Bits/dim columns are per evaluation data [in brackets]; numbers of "
                  "different data, binarization or levels never share one; a density "
                  "scored on uniformly dequantized 8-bit images (flows, Gaussian decoders) "
                  "bounds the 8-bit NLL and sits in the 8-bit column, marked"
                  f"{BOUND_MARK}."]
    return "\n".join(lines) + "\n"
