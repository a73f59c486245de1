"""Evaluation benchmark: every zoo model at an equal budget, one comparison table.

    python bench/evaluate_bench.py --dataset npz:/work/shared/data/mnist-10k.npz \
        --out /tmp/evaluate_bench [--models vae,conv_vae] [--epochs 5]

Trains the dataset's classifier and each model (same epochs, batch size and
seed), evaluates each with `training.evaluate` on --num-samples generated
images, and writes OUT/compare.md (the `--compare` table) and OUT/timing.md
(seconds per metric step for every model). Models already trained in OUT
are reused, so a rerun only evaluates.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def train_models(dataset, models, out, epochs, batch_size, seed):
    """Trains the classifier and each model into OUT/<name>; returns the run dirs."""
    from export.layout import is_run_dir
    from training.classifier import train_classifier
    from training.trainer import train

    classifier = os.path.join(out, "classifier")
    if not is_run_dir(classifier):
        train_classifier(dataset, out=classifier, epochs=epochs, seed=seed)
    runs = {}
    for name in models:
        run = os.path.join(out, name)
        if not is_run_dir(run):
            train(name, dataset=dataset, epochs=epochs, batch_size=batch_size, out=run,
                  seed=seed, export=False, verbose=0, overwrite=True)
        runs[name] = run
    return classifier, runs


def evaluate_runs(dataset, runs, classifier, num_samples, seed):
    """Evaluates every run into RUN/eval; returns {name: metrics.json dict}."""
    from export.layout import EVAL_DIR
    from training.evaluate import evaluate_target, load_target

    results = {}
    for name, run in runs.items():
        results[name] = evaluate_target(
            load_target(run), dataset, num_samples=num_samples, seed=seed,
            extractor=classifier, out=os.path.join(run, EVAL_DIR),
            log=lambda msg, name=name: print(f"[{name}] {msg}", file=sys.stderr))
    return results


def timing_table(results):
    """Markdown table of seconds per evaluation step, one row per model."""
    steps = []
    for r in results.values():
        steps += [s for s in r["seconds"] if s not in steps]
    lines = ["| model | " + " | ".join(steps) + " |", "|---|" + "---:|" * len(steps)]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(
            str(r["seconds"].get(s, "")) for s in steps) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--out", default="/tmp/evaluate_bench")
    parser.add_argument("--models", help="comma-separated (default: every registered model)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--num-samples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import zoo
    from export import layout
    from training.evaluate import compare

    models = args.models.split(",") if args.models else zoo.list_models()
    os.makedirs(args.out, exist_ok=True)
    classifier, runs = train_models(args.dataset, models, args.out, args.epochs,
                                    args.batch_size, args.seed)
    results = evaluate_runs(args.dataset, runs, classifier, args.num_samples, args.seed)
    table = compare([os.path.join(run, layout.EVAL_DIR) for run in runs.values()])
    timing = timing_table(results)
    with open(os.path.join(args.out, layout.COMPARE_FILE), "w") as f:
        f.write(table)
    with open(os.path.join(args.out, "timing.md"), "w") as f:
        f.write(timing)
    with open(os.path.join(classifier, layout.METRICS_FILE)) as f:
        accuracy = json.load(f)["test_accuracy"]
    print(f"classifier test accuracy {accuracy:.4f}\n\n{table}\n{timing}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
