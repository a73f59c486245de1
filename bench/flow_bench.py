"""Benchmark of the flows and fully visible belief nets at an equal CPU budget.

Every model trains for the same wall-clock budget on the same batches of
the dataset (fit in chunks of steps until the budget is spent), with its own
optimizer defaults (`--learning-rate` > 0 overrides them all), then:

- test bits/dim on `num_test` test images. Flows and the 256-level PixelCNNs
  score the same 8-bit data: the flows' dequantized density shifted by
  D log 256 (a bound on the 8-bit NLL) and PixelCNN's exact 8-bit NLL share
  one column. NADE and MADE score the fixed binarization (binary_static),
  in nats per image, another column.
- sampling images/s: `num_samples` images from traced samplers (tracing not
  timed), and the ratio to the cached PixelCNN sampler of the same run.

    python bench/flow_bench.py --dataset npz:/work/shared/data/mnist-10k.npz \
        --budget 120 --out bench/results/flow_bench.json

This is a benchmark, not a test: it asserts nothing about the numbers.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from training import datasets  # noqa: E402
from training.likelihood import evaluate  # noqa: E402
from zoo.layers.sampling import per_row_seeds  # noqa: E402

# Sized for 2 CPU cores and 28x28 images; not the papers' sizes.
MODELS = {
    "nice": dict(hidden_units=(256, 256, 256)),
    "realnvp": dict(hidden_channels=32, couplings_per_scale=2, num_scales=2),
    "glow": dict(hidden_channels=32, steps_per_scale=4, num_scales=2),
    "maf": dict(num_layers=5, hidden_units=(512,)),
    "ffjord": dict(hidden_units=(256, 256), num_steps=4),
    "pixelcnn": dict(num_levels=256, filters=32, num_layers=5),
    "gated_pixelcnn": dict(num_levels=256, filters=32, num_layers=5),
    "nade": dict(hidden_units=500),
    "made": dict(hidden_units=(500,)),
}
# Published numbers, printed beside ours (not matched on a CPU budget).
PUBLISHED = {
    "realnvp": "MNIST 1.06 bits/dim, CIFAR-10 3.49 (as tabulated by Grathwohl et al. 2019)",
    "glow": "MNIST 1.05 bits/dim, CIFAR-10 3.35 (as tabulated by Grathwohl et al. 2019)",
    "ffjord": "MNIST 0.99 bits/dim, CIFAR-10 3.40 (Grathwohl et al. 2019)",
    "nade": "binarized MNIST ≈ 88 nats (Larochelle & Murray 2011)",
    "made": "binarized MNIST ≈ 86.6 nats with 32 masks (Germain et al. 2015)",
}
DEFAULTS = dict(budget=120.0, batch_size=64, learning_rate=0.0, num_test=1000, seed=0,
                num_samples=16)


def train_for(model, train, budget, chunk=20):
    """Fits `chunk` steps at a time until `budget` seconds are spent (the
    first chunk's tracing counts: every model pays its own)."""
    steps, t0, history = 0, time.perf_counter(), None
    while time.perf_counter() - t0 < budget:
        history = model.fit(train, epochs=1, steps_per_epoch=chunk, verbose=0)
        steps += chunk
    return steps, time.perf_counter() - t0, history.history


def sampling_rate(model, num_samples, seed):
    fn = tf.function(model.sample_from_seeds)
    seeds = per_row_seeds(num_samples, seed)
    fn(seeds)  # traced and warmed; not timed
    t0 = time.perf_counter()
    images = fn(seeds).numpy()
    seconds = time.perf_counter() - t0
    return num_samples / seconds, seconds, bool(np.all(np.isfinite(images)))


def run_model(name, dataset, *, budget, batch_size, learning_rate, num_test, seed,
              num_samples):
    keras.utils.set_random_seed(seed)
    info = datasets.info(dataset)
    model = zoo.get(name, image_shape=info.image_shape, seed=seed, **MODELS[name])
    # Each model's own optimizer defaults (MAF: Adam 1e-4, the others 1e-3)
    # unless --learning-rate is given.
    model.compile(**model.make_optimizers(learning_rate))
    train = datasets.load(dataset, "train", batch_size=batch_size,
                          mode=model.preprocessing(True), seed=seed, repeat=True,
                          drop_remainder=True)
    steps, seconds, history = train_for(model, train, budget)
    test = datasets.load(dataset, "test", batch_size=100, mode=model.preprocessing(False),
                         shuffle=False, take=num_test, seed=0)
    t0 = time.perf_counter()
    ev = evaluate(model, test, iwae_samples=0, seed=seed)
    eval_seconds = time.perf_counter() - t0
    rate, sample_seconds, finite = sampling_rate(model, num_samples, seed)
    row = {"model": name, "config": MODELS[name], "num_parameters": int(model.count_params()),
           "train_steps": steps, "train_seconds": seconds, "eval_seconds": eval_seconds,
           "final_train_bits_per_dim": float(history["bits_per_dim"][-1]),
           "test_nll_bits_per_dim": ev["test_nll_bits_per_dim"],
           "test_log_likelihood_nats": ev["test_log_likelihood_nats"],
           "evaluation_data": ev["evaluation_data"],
           "log_likelihood_estimator": ev["log_likelihood_estimator"],
           "num_test": ev["num_examples"], "sample_images_per_second": rate,
           "sample_seconds": sample_seconds, "samples_finite": finite,
           "sampler": getattr(model, "sampler", "one pass" if name != "maf" else "D passes"),
           "published": PUBLISHED.get(name, "")}
    if name == "ffjord":
        row["trace_at_evaluation"] = model.flow.trace_mode(False)
    print(f"  {name}: {steps} steps, {row['test_nll_bits_per_dim']:.3f} bits/dim "
          f"[{row['evaluation_data']}], {rate:.1f} images/s", flush=True)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--out", default=None)
    for key, value in DEFAULTS.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    options = {k: getattr(args, k) for k in DEFAULTS}
    rows = [run_model(name, args.dataset, **options) for name in args.models]
    by_name = {r["model"]: r for r in rows}
    if "pixelcnn" in by_name:
        base = by_name["pixelcnn"]["sample_images_per_second"]
        for r in rows:
            r["sampling_ratio_to_cached_pixelcnn"] = r["sample_images_per_second"] / base
    result = {"benchmark": "flow_bench", "dataset": args.dataset, "options": options,
              "date": datetime.date.today().isoformat(),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores visible",
              "tensorflow": tf.__version__, "rows": rows}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
