"""Benchmark of the autoregressive family.

(1) Sampling: time to draw 16 images of 28x28 with PixelCNN's naive sampler
    (one full network pass per pixel) and its cached sampler, same weights
    and seed; the images must be identical. Both functions are traced before
    timing, so the numbers are run time only.
(2) Likelihood: every model (and `tfd.PixelCNN` at the configuration of
    `pixelcnn_pp`) trained for the same number of steps on the same batches
    of 256-level images, then exact test NLL in bits/dim.

    python bench/ar_bench.py --dataset npz:/work/shared/data/mnist-10k.npz \
        --out /tmp/ar_bench.json

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
import tensorflow_probability as tfp  # noqa: E402

import zoo  # noqa: E402
from training import datasets  # noqa: E402
from training.likelihood import evaluate  # noqa: E402
from zoo.losses import nats_to_bits_per_dim  # noqa: E402

# Sized so one full run takes about ten minutes on 2 CPU cores.
MODELS = {
    "pixelcnn": ("pixelcnn", dict(filters=32, num_layers=5)),
    "gated_pixelcnn": ("gated_pixelcnn", dict(filters=32, num_layers=5)),
    "pixelcnn_pp": ("pixelcnn_pp", dict(filters=32, num_resnet=1, num_mixtures=5,
                                        dropout=0.0)),
    "pixelrnn_row": ("pixelrnn", dict(units=16, num_layers=1, variant="row")),
    "pixelrnn_diagonal": ("pixelrnn", dict(units=16, num_layers=1, variant="diagonal")),
}
DEFAULTS = dict(steps=120, batch_size=32, learning_rate=2e-3, num_test=1000,
                num_levels=256, seed=0, num_samples=16)


def sampling_benchmark(key="pixelcnn", num_samples=16, image_shape=(28, 28, 1),
                       num_levels=256, seed=0):
    """Naive vs cached sampling of `num_samples` images with one model's weights."""
    name, config = MODELS[key]
    model = zoo.get(name, image_shape=image_shape, num_levels=num_levels, seed=seed,
                    **config)
    seeds = tf.constant(np.stack([np.full(num_samples, seed), np.arange(num_samples)], 1),
                        tf.int32)
    noise = model._noise(seeds)
    levels = tf.zeros((num_samples,) + tuple(image_shape))
    known = tf.zeros([num_samples], tf.int32)
    specs = (tf.TensorSpec((None,) + tuple(image_shape)), tf.TensorSpec([None], tf.int32),
             tf.TensorSpec([None] + list(noise.shape[1:])))
    result = {"model": key, "config": config, "num_samples": num_samples,
              "image_shape": list(image_shape), "num_levels": num_levels}
    images = {}
    for sampler, fn in (("cached", model._cached_loop), ("naive", model._complete_naive)):
        concrete = fn.get_concrete_function(*specs)  # tracing is not timed
        t0 = time.perf_counter()
        images[sampler] = concrete(levels, known, noise).numpy()
        result[f"{sampler}_seconds"] = time.perf_counter() - t0
        print(f"  {key} sampling {sampler}: {result[f'{sampler}_seconds']:.2f} s", flush=True)
    result["speedup"] = result["naive_seconds"] / result["cached_seconds"]
    result["differing_pixels"] = int(np.sum(images["naive"] != images["cached"]))
    return result


def _batches(dataset, batch_size, seed, num_levels):
    return datasets.load(dataset, "train", batch_size=batch_size, mode="unit",
                         seed=seed, repeat=True, drop_remainder=True)


def train_zoo_model(dataset, key, *, steps, batch_size, learning_rate, num_test,
                    num_levels, seed):
    name, config = MODELS[key]
    keras.utils.set_random_seed(seed)
    info = datasets.info(dataset)
    model = zoo.get(name, image_shape=info.image_shape, num_levels=num_levels,
                    seed=seed, **config)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    train = _batches(dataset, batch_size, seed, num_levels)
    t0 = time.perf_counter()
    history = model.fit(train, epochs=1, steps_per_epoch=steps, verbose=0)
    train_seconds = time.perf_counter() - t0
    test = datasets.load(dataset, "test", batch_size=100, mode=model.preprocessing(False),
                         shuffle=False, take=num_test)
    t0 = time.perf_counter()
    results = evaluate(model, test)
    return {"model": key, "config": config, "num_parameters": int(model.count_params()),
            "train_seconds": train_seconds, "eval_seconds": time.perf_counter() - t0,
            "final_train_bits_per_dim": float(history.history["bits_per_dim"][-1]),
            "test_nll_bits_per_dim": results["test_nll_bits_per_dim"],
            "num_test": results["num_examples"]}


def train_tfd_pixelcnn(dataset, *, steps, batch_size, learning_rate, num_test,
                       num_levels, seed):
    """`tfd.PixelCNN` with `pixelcnn_pp`'s configuration, same batches and steps."""
    config = MODELS["pixelcnn_pp"][1]
    keras.utils.set_random_seed(seed)
    tf.random.set_seed(seed)
    info = datasets.info(dataset)
    dist = tfp.distributions.PixelCNN(
        image_shape=info.image_shape, num_resnet=config["num_resnet"], num_hierarchies=1,
        num_filters=config["filters"], num_logistic_mix=config["num_mixtures"],
        dropout_p=config["dropout"], high=num_levels - 1)
    top = float(num_levels - 1)
    optimizer = tf.keras.optimizers.Adam(learning_rate)  # tf-keras: its network is tf-keras
    train = iter(_batches(dataset, batch_size, seed, num_levels))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(dist.log_prob(tf.round(x * top), training=True))
        variables = dist.network.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    dist.log_prob(tf.zeros((1,) + tuple(info.image_shape)))  # builds the network
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step(next(train))
    train_seconds = time.perf_counter() - t0
    log_prob = tf.function(lambda x: dist.log_prob(tf.round(x * top)))
    test = datasets.load(dataset, "test", batch_size=100, mode="unit", shuffle=False,
                         take=num_test)
    t0 = time.perf_counter()
    total, n = 0.0, 0
    for x in test:
        total += float(tf.reduce_sum(log_prob(x)))
        n += int(x.shape[0])
    dims = int(np.prod(info.image_shape))
    return {"model": "tfd.PixelCNN", "config": dict(config, num_hierarchies=1),
            "num_parameters": int(sum(np.prod(v.shape) for v in dist.network.trainable_variables)),
            "train_seconds": train_seconds, "eval_seconds": time.perf_counter() - t0,
            "final_train_bits_per_dim": float(loss) / dims / np.log(2.0),
            "test_nll_bits_per_dim": -nats_to_bits_per_dim(total / n, dims),
            "num_test": n}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="npz:/work/shared/data/mnist-10k.npz")
    parser.add_argument("--out", default=None)
    parser.add_argument("--models", default=",".join(list(MODELS) + ["tfd_pixelcnn"]))
    parser.add_argument("--sampling-models", default="pixelcnn,gated_pixelcnn,pixelcnn_pp",
                        help="models whose naive and cached samplers are timed ('' for none)")
    for key in ("steps", "batch_size", "num_test", "num_levels", "seed", "num_samples"):
        parser.add_argument("--" + key.replace("_", "-"), type=int, default=DEFAULTS[key])
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS["learning_rate"])
    args = parser.parse_args(argv)
    record = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "platform": platform.platform(), "cpu_count": os.cpu_count(),
              "tensorflow": tf.__version__, "keras": keras.__version__,
              "tensorflow_probability": tfp.__version__,
              "load_average_at_start": list(os.getloadavg()), "args": vars(args)}
    t_start = time.perf_counter()
    record["sampling"] = [
        sampling_benchmark(key, args.num_samples, num_levels=args.num_levels, seed=args.seed)
        for key in filter(None, args.sampling_models.split(","))]
    record["likelihood"] = []
    common = dict(steps=args.steps, batch_size=args.batch_size,
                  learning_rate=args.learning_rate, num_test=args.num_test,
                  num_levels=args.num_levels, seed=args.seed)
    for key in filter(None, args.models.split(",")):
        if key == "tfd_pixelcnn":
            row = train_tfd_pixelcnn(args.dataset, **common)
        else:
            row = train_zoo_model(args.dataset, key, **common)
        print(f"  {row['model']}: {row['test_nll_bits_per_dim']:.3f} bits/dim "
              f"(train {row['train_seconds']:.0f} s, eval {row['eval_seconds']:.0f} s)",
              flush=True)
        record["likelihood"].append(row)
    record["total_seconds"] = time.perf_counter() - t_start
    record["load_average_at_end"] = list(os.getloadavg())
    text = json.dumps(record, indent=2, default=float)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
