"""Train a zoo model:  python -m training.train MODEL [options]

    python -m training.train vae
    python -m training.train conv_vae --dataset mnist --epochs 30 --set latent_dim=32
    python -m training.train classifier --dataset mnist

`classifier` is the one non-generative target: the per-dataset classifier
whose features and class probabilities `training.evaluate` uses for FID,
KID, Inception Score and precision/recall (see `training.classifier`). It is
not a registered zoo model; only --dataset, --epochs, --batch-size, --out,
--seed, --learning-rate, --data-dir and --overwrite apply to it.
"""

import argparse
import ast
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_overrides(pairs):
    """['k=v', ...] -> {k: v}, values read as Python literals when possible."""
    overrides = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects key=value, got {pair!r}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        overrides[key.strip()] = value
    return overrides


def _model_list():
    import zoo

    lines = []
    for name in zoo.list_models():
        doc = (zoo.get_class(name).__doc__ or "").strip().splitlines()
        lines.append(f"  {name:<20} {doc[0] if doc else ''}")
    return "\n".join(lines)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m training.train",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a registered generative model with model.fit and "
                    "export it as a SavedModel.",
        epilog="registered models:\n" + _model_list() +
               "\n\nnon-generative target:\n  classifier           the per-dataset "
               "feature extractor for python -m training.evaluate")
    parser.add_argument("model", help="registered model name (listed below)")
    parser.add_argument("--dataset", default="digits",
                        help="digits (default, offline), a tensorflow-datasets "
                             "name, npz:PATH or dir:PATH")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", help="run directory (default runs/MODEL)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="model constructor argument, e.g. latent_dim=8; repeatable")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learning-rate", type=float,
                        help="learning rate (default: the model's own)")
    parser.add_argument("--jit-compile", action="store_true",
                        help="XLA-compile the train step (exports stay XLA-free)")
    parser.add_argument("--iwae-samples", type=int, default=100,
                        help="k for the final importance-weighted log-likelihood")
    parser.add_argument("--no-export", action="store_true",
                        help="skip the SavedModel export")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a finished run in --out")
    parser.add_argument("--data-dir", help="tensorflow-datasets data directory")
    parser.add_argument("--distribute", default="none",
                        choices=["none", "mirrored", "multi_worker", "tpu"],
                        help="tf.distribute strategy; --batch-size is the global batch "
                             "(multi_worker reads TF_CONFIG)")
    parser.add_argument("--cpu-replicas", type=int,
                        help="with --distribute mirrored: this many logical CPU devices")
    parser.add_argument("--mixed-precision", default="off",
                        choices=["off", "bfloat16", "float16"],
                        help="Keras dtype policy (float32 losses and outputs)")
    parser.add_argument("--init-from", metavar="RUN_DIR",
                        help="start from the weights of this finished run (e.g. a "
                             "vq_vae's autoencoder for its prior: --set stage=prior)")
    parser.add_argument("--labels", type=int, metavar="N",
                        help="keep a class-balanced subset of N labels, the rest "
                             "unlabelled (m2_vae, ssgan, siamese, triplet)")
    parser.add_argument("--verbose", default="auto", choices=["auto", "0", "1", "2"],
                        help="Keras progress output: auto, 0, 1 or 2")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from export.saved_model import ExportError
    from training.datasets import DatasetError
    from training.trainer import train
    from zoo.errors import ZooError

    if args.model == "classifier":
        return _train_classifier(args)
    try:
        metrics = train(
            args.model, dataset=args.dataset, epochs=args.epochs,
            batch_size=args.batch_size, out=args.out,
            overrides=parse_overrides(args.set), seed=args.seed,
            learning_rate=args.learning_rate, jit_compile=args.jit_compile,
            iwae_samples=args.iwae_samples, export=not args.no_export,
            overwrite=args.overwrite, data_dir=args.data_dir,
            distribute=args.distribute, cpu_replicas=args.cpu_replicas,
            mixed_precision=args.mixed_precision, init_from=args.init_from,
            labels=args.labels,
            verbose=args.verbose if args.verbose == "auto" else int(args.verbose))
    except (ZooError, DatasetError, ExportError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ev = metrics["evaluation"]
    summary = ", ".join(f"{k}={v:.4g}" for k, v in ev.items()
                        if isinstance(v, float))
    print(f"test: {summary}")
    if metrics.get("export"):
        print(f"exported: {metrics['export']}")
    return 0


def _train_classifier(args):
    from training.classifier import default_classifier_dir, train_classifier
    from training.datasets import DatasetError
    from zoo.errors import ZooError

    out = args.out or default_classifier_dir(args.dataset)
    try:
        metrics = train_classifier(
            args.dataset, out=out, epochs=args.epochs, batch_size=args.batch_size,
            seed=args.seed, learning_rate=args.learning_rate or 1e-3,
            data_dir=args.data_dir, overwrite=args.overwrite,
            verbose=args.verbose if args.verbose == "auto" else int(args.verbose))
    except (ZooError, DatasetError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"classifier test accuracy: {metrics['test_accuracy']:.4f} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
