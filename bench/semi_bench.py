"""The few-label protocol: test error with 100 and 1000 labels, seeds 0-2.

For each label count N and seed, `training.datasets.load_partially_labelled`
keeps a class-balanced subset of N labels of the train split (chosen with
split seed 0, the same for every model and seed) and marks the rest
unlabelled; each batch holds 32 labelled and 32 unlabelled rows. Every model
trains until its process has spent `--budget` CPU seconds
(`bench.diffusion_bench.train_for`). Test error on the whole labelled test
split:

- `m2_vae`, `ssgan`: their own classifier (`classify`);
- `siamese`, `triplet`: a logistic-regression probe and a 1-NN classifier
  fitted on the embeddings of the N labelled training images only;
- `supervised`: the zoo classifier (`training.classifier.build_classifier`)
  trained on the N labelled images alone, for the same CPU budget.

    python bench/semi_bench.py --dataset npz:/work/shared/data/mnist-10k.npz \
        --budget 60 --out bench/results/semi_bench.json

This is a benchmark, not a test: it asserts nothing about the numbers.
"""

import argparse
import json
import os
import sys

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from bench.common import header  # noqa: E402
from bench.diffusion_bench import train_for  # noqa: E402  (CPU-time budget)
from training import datasets, metrics  # noqa: E402

MODELS = ["m2_vae", "ssgan", "siamese", "triplet", "supervised"]
ANCHOR = ("MNIST, 100 labels: M1+M2 3.33% error (Kingma et al. 2014, table 1); improved "
          "GAN with feature matching 0.93% (Salimans et al. 2016, table 1)")


def _supervised(info, x, y, args, seed):
    from training.classifier import build_classifier

    keras.utils.set_random_seed(seed)
    model = build_classifier(info.image_shape, info.num_classes)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    data = tf.data.Dataset.from_tensor_slices((x / 255.0, y)).shuffle(
        len(x), seed=seed).batch(32).repeat()
    steps, cpu, _ = train_for(model, data, args.budget)
    return model, {"steps": steps, "cpu_seconds": cpu}


def run(name, num_labels, seed, info, labelled, test, args):
    """One model, label count and seed: {"error", "steps", "cpu_seconds", ...}."""
    x_l, y_l = labelled
    test_x, test_y = test
    if name == "supervised":
        model, row = _supervised(info, x_l, y_l, args, seed)
        predicted = np.argmax(model.predict(test_x / 255.0, verbose=0), 1)
        return {**row, "error": float(np.mean(predicted != test_y))}
    keras.utils.set_random_seed(seed)
    model = zoo.get(name, image_shape=info.image_shape, seed=seed)
    model.compile(**model.make_optimizers())
    stream, composition = datasets.load_partially_labelled(
        args.dataset, num_labels, batch_size=64, mode=model.preprocessing(True), seed=seed,
        drop_remainder=True)
    steps, cpu, _ = train_for(model, stream.repeat(), args.budget)
    row = {"steps": steps, "cpu_seconds": cpu, **composition}
    unit = lambda a: (a / 255.0).astype(np.float32)  # noqa: E731
    if name in ("m2_vae", "ssgan"):
        # M2 classifies the fixed binarization its evaluation data has.
        images = test_x / 255.0
        if model.preprocessing(False) == "binary_static":
            images = np.concatenate([np.asarray(b[0]) for b in datasets.load(
                args.dataset, "test", batch_size=500, mode="binary_static", labels=True,
                shuffle=False)])
        predicted = np.concatenate([np.argmax(model.classify(images[i:i + 500]), 1)
                                    for i in range(0, len(images), 500)])
        return {**row, "error": float(np.mean(predicted != test_y))}
    train_f, test_f = np.asarray(model.embed(unit(x_l))), np.asarray(model.embed(unit(test_x)))
    return {**row, "error": 1.0 - metrics.linear_probe_accuracy(train_f, y_l, test_f, test_y),
            "error_1nn": 1.0 - metrics.knn_accuracy(train_f, y_l, test_f, test_y, k=1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--budget", type=float, default=60.0, help="CPU seconds per run")
    parser.add_argument("--labels", default="100,1000")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", default="/tmp/semi_bench.json")
    args = parser.parse_args(argv)

    info = datasets.info(args.dataset)
    x, y = datasets.load_arrays(args.dataset, "train")
    test = datasets.load_arrays(args.dataset, "test")
    results = header(args, ANCHOR)
    for num_labels in (int(n) for n in args.labels.split(",")):
        chosen = datasets.label_subset(y, num_labels, 0)
        for name in args.models.split(","):
            rows = [run(name, num_labels, int(seed), info, (x[chosen], y[chosen]), test, args)
                    for seed in args.seeds.split(",")]
            errors = [r["error"] for r in rows]
            results["models"][f"{name}@{num_labels}"] = {
                "model": name, "labels": num_labels, "runs": rows,
                "error_mean": float(np.mean(errors)), "error_std": float(np.std(errors))}
            print(name, num_labels, f"{100 * np.mean(errors):.2f} +- {100 * np.std(errors):.2f}%",
                  [round(e, 4) for e in errors], flush=True)
            with open(args.out, "w") as f:
                json.dump(results, f, indent=2, default=str)


if __name__ == "__main__":
    main()
