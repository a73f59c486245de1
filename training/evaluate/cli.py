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

Likelihoods record what data they are of (likelihood_kind, num_levels,
evaluation_data); continuous densities are scored on uniformly dequantized
8-bit data. Sample metrics use draws x ~ p(x|z) where the model's samples
are decoder means and it offers draws; metrics.json says which ("samples").

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
import os
import sys

from export import layout
from training.evaluate.compare import compare
from training.evaluate.engine import evaluate_target
from training.evaluate.extractors import INCEPTION_CACHE
from training.evaluate.registry import EvaluationError, names, parse_metrics
from training.evaluate.report import fmt
from training.evaluate.targets import load_target


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m training.evaluate",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n", 1)[1])
    parser.add_argument("target", nargs="?", help="run directory or exported SavedModel version")
    parser.add_argument("--dataset", help="dataset spec (see training.datasets)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--metrics", help=f"comma-separated subset of: {', '.join(names())} "
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
    """TARGET/eval for a run, runs/eval-NAME-VERSION for an export."""
    if target.kind == "run":
        return os.path.join(target.path, layout.EVAL_DIR)
    version = os.path.basename(os.path.normpath(target.path))
    return os.path.join("runs", f"eval-{target.name}-{version}")


def _compare(paths, out):
    table = compare(paths)
    print(table)
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, layout.COMPARE_FILE), "w") as f:
            f.write(table)


def _evaluate(args):
    if not args.target or not args.dataset:
        raise EvaluationError("give TARGET and --dataset (or --compare RUN1 RUN2 ...)")
    metrics = parse_metrics(args.metrics)
    target = load_target(args.target)
    out = args.out or default_out(target)
    result = evaluate_target(
        target, args.dataset, split=args.split, metrics=metrics,
        num_samples=args.num_samples, seed=args.seed, extractor=args.extractor,
        inception_weights=args.inception_weights, iwae_samples=args.iwae_samples,
        out=out, data_dir=args.data_dir, log=lambda msg: print(msg, file=sys.stderr))
    for k, v in result["metrics"].items():
        print(f"{k}: {fmt(v)}")
    for k, v in result["not_applicable"].items():
        print(f"{k}: not applicable ({v})")
    print(f"wrote {out}/{layout.METRICS_FILE} and {out}/{layout.REPORT_FILE}")


def main(argv=None):
    """The CLI; returns the exit status (2 with one `error:` line for bad input)."""
    args = build_parser().parse_args(argv)
    from training.datasets import DatasetError
    from zoo.errors import ZooError

    try:
        if args.compare:
            _compare(args.compare, args.out)
        else:
            _evaluate(args)
    except (EvaluationError, DatasetError, ZooError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
