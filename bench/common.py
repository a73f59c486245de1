"""What the CPU-budget benchmarks share: the results header, the zoo
classifier they score samples with, and the sample metrics of one model."""

import datetime
import json
import os
import platform
import sys


def header(args, anchor):
    """The fields every results file opens with (command, date, machine, budget)."""
    return {"command": " ".join(sys.argv), "date": datetime.date.today().isoformat(),
            "machine": f"{os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}",
            "dataset": args.dataset, "budget_cpu_seconds": args.budget,
            "anchor": anchor, "models": {}}


def classifier_for(dataset, work, seed):
    """The zoo classifier of `dataset` under `work` (trained once, 5 epochs)."""
    from export.layout import is_run_dir
    from training.classifier import train_classifier

    classifier = os.path.join(work, "classifier")
    if not is_run_dir(classifier):
        train_classifier(dataset, out=classifier, epochs=5, seed=seed)
    return classifier


def sample_metrics(model, key, dataset, classifier, work, metrics, num_samples, seed,
                   **options):
    """Saves `model` as run `work/key` and scores it with `training.evaluate`
    in the classifier's features; returns the fields a results row gets."""
    from export import layout
    from training.evaluate import evaluate_target, load_target

    run = os.path.join(work, key)
    os.makedirs(run, exist_ok=True)
    model.save(os.path.join(run, layout.MODEL_FILE))
    sampled = evaluate_target(load_target(run), dataset, metrics=metrics,
                              num_samples=num_samples, seed=seed, extractor=classifier,
                              out=os.path.join(run, "eval"), log=None, **options)
    print(key, json.dumps(sampled["metrics"], default=str)[:400], flush=True)
    return {"sample_metrics": sampled["metrics"], "extractor": sampled["extractors"],
            "num_samples": num_samples}
