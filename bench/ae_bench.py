"""Benchmark of the autoencoder family against PCA.

Trains every autoencoder variant at the same code size, epochs, batch size
and learning rate on one dataset, and reports for each the test
reconstruction error (mean squared error per pixel, images in [0, 1]) and
the linear-probe accuracy of its codes (logistic regression fit on the codes
of the training split, scored on the test split). PCA with as many
components as the code size is the baseline; a probe on the raw pixels is a
reference for the probe column.

    python bench/ae_bench.py --dataset npz:/work/shared/data/mnist-10k.npz \
        --out /tmp/ae_bench.json

This is a benchmark, not a test: it asserts nothing about the numbers.
"""

import argparse
import json
import os
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
from sklearn.decomposition import PCA  # noqa: E402

import zoo  # noqa: E402
from bench.vae_bench import machine_info  # noqa: E402
from training import datasets  # noqa: E402
from training.likelihood import evaluate
from training.probe import linear_probe
from training.metrics import linear_probe_accuracy as probe_accuracy  # noqa: E402

# (label, registered name, constructor overrides). Everything else is the
# model's default; code size, epochs, batch size and learning rate are shared.
MODELS = (
    ("autoencoder (dense)", "autoencoder", {}),
    ("autoencoder (conv)", "autoencoder", {"architecture": "conv"}),
    ("sparse_autoencoder (dense, L1, relu code)", "sparse_autoencoder", {}),
    ("sparse_autoencoder (dense, KL rho=0.05, sigmoid code)", "sparse_autoencoder",
     {"l1": 0.0, "sparsity_weight": 1.0, "rho": 0.05, "code_activation": "sigmoid"}),
    ("denoising_autoencoder (dense, gaussian 0.3)", "denoising_autoencoder", {}),
    ("denoising_autoencoder (dense, masking 0.3)", "denoising_autoencoder",
     {"noise": "masking"}),
    ("contractive_autoencoder (1-layer sigmoid, closed form)",
     "contractive_autoencoder", {}),
    ("contractive_autoencoder (MLP 256, linear code, batch Jacobian)",
     "contractive_autoencoder", {"hidden_units": (256,), "code_activation": "linear"}),
    ("linear_autoencoder", "linear_autoencoder", {}),
)

# Sized so one run (all models, PCA and the raw-pixel probe) takes about
# 7 minutes on 2 heavily shared CPU cores with MNIST-10k; see BENCHMARKS.md.
DEFAULTS = {"latent_dim": 32, "epochs": 10, "batch_size": 128,
            "learning_rate": 1e-3, "seed": 0}


def load_split(dataset, split):
    """Images float32 [N, H, W, C] in [0, 1] and int labels of one split."""
    images, labels = datasets.load_arrays(dataset, split)
    if labels is None:
        raise SystemExit(f"{dataset} has no labels; the linear probe needs them")
    return images.astype(np.float32) / 255.0, labels.astype(np.int64)


def run_model(label, name, overrides, data, *, latent_dim, epochs, batch_size,
              learning_rate, seed):
    """Trains one model; returns its test reconstruction MSE, probe accuracy, timings."""
    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)
    model = zoo.get(name, image_shape=x_train.shape[1:], latent_dim=latent_dim,
                    seed=seed, **overrides)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    train_ds = (tf.data.Dataset.from_tensor_slices(x_train)
                .shuffle(len(x_train), seed=seed).batch(batch_size))
    test_ds = tf.data.Dataset.from_tensor_slices(x_test).batch(500)
    t0 = time.perf_counter()
    history = model.fit(train_ds, epochs=epochs, verbose=0)
    train_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    mse = evaluate(model, test_ds)["test_reconstruction_mse"]
    accuracy = linear_probe(model, x_train, y_train, x_test, y_test)
    result = {
        "label": label, "model": name, "overrides": overrides,
        "config": model.get_config(), "num_parameters": int(model.count_params()),
        "test_reconstruction_mse": mse, "linear_probe_accuracy": accuracy,
        "final_train_loss": float(history.history["loss"][-1]),
        "train_seconds": train_seconds,
        "eval_seconds": time.perf_counter() - t0,
    }
    print(f"  {label}: mse {mse:.4f}, probe {accuracy:.3f}, "
          f"{train_seconds:.0f} s", flush=True)
    return result


def run_pca(data, latent_dim, seed):
    """PCA with latent_dim components: the same two numbers."""
    (x_train, y_train), (x_test, y_test) = data
    flat_train = x_train.reshape(len(x_train), -1)
    flat_test = x_test.reshape(len(x_test), -1)
    t0 = time.perf_counter()
    pca = PCA(latent_dim, random_state=seed).fit(flat_train)
    fit_seconds = time.perf_counter() - t0
    restored = pca.inverse_transform(pca.transform(flat_test))
    # Clipped to [0, 1] like the autoencoders' outputs (clipping only helps).
    mse = float(np.mean((np.clip(restored, 0, 1) - flat_test) ** 2))
    mse_unclipped = float(np.mean((restored - flat_test) ** 2))
    accuracy = probe_accuracy(pca.transform(flat_train), y_train,
                              pca.transform(flat_test), y_test)
    print(f"  PCA: mse {mse:.4f}, probe {accuracy:.3f}", flush=True)
    return {"label": f"PCA ({latent_dim} components)", "model": "pca",
            "test_reconstruction_mse": mse,
            "test_reconstruction_mse_unclipped": mse_unclipped,
            "linear_probe_accuracy": accuracy, "train_seconds": fit_seconds,
            "explained_variance": float(pca.explained_variance_ratio_.sum())}


def run_benchmark(dataset, models=MODELS, raw_probe=True, **settings):
    settings = {**DEFAULTS, **settings}
    record = {"benchmark": "autoencoders", "dataset": dataset,
              "machine": machine_info(), "settings": settings}
    start = time.perf_counter()
    data = (load_split(dataset, "train"), load_split(dataset, "test"))
    record["num_train"], record["num_test"] = len(data[0][0]), len(data[1][0])
    results = [run_pca(data, settings["latent_dim"], settings["seed"])]
    for label, name, overrides in models:
        try:
            results.append(run_model(label, name, overrides, data, **settings))
        except Exception as err:  # noqa: BLE001 - reported in the table
            print(f"  {label} failed: {type(err).__name__}: {err}", flush=True)
            results.append({"label": label, "model": name,
                            "error": f"{type(err).__name__}: {err}"})
    if raw_probe:
        (x_train, y_train), (x_test, y_test) = data
        t0 = time.perf_counter()
        record["raw_pixel_probe_accuracy"] = probe_accuracy(
            x_train, y_train, x_test, y_test)
        record["raw_pixel_probe_seconds"] = time.perf_counter() - t0
    record["results"] = results
    record["wall_seconds"] = time.perf_counter() - start
    record["machine"]["load_average_at_end"] = list(os.getloadavg())
    return record


def format_table(record):
    pca = next(r for r in record["results"] if r["model"] == "pca")
    lines = ["| model | params | test MSE / pixel | MSE / PCA's | linear probe acc. "
             "| train s |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in record["results"]:
        if r.get("error"):
            lines.append(f"| {r['label']} | — | failed: `{r['error'][:80]}` | — | — | — |")
            continue
        ratio = r["test_reconstruction_mse"] / pca["test_reconstruction_mse"]
        lines.append(
            f"| {r['label']} | {r.get('num_parameters', '—')} | "
            f"{r['test_reconstruction_mse']:.4f} | {ratio:.2f} | "
            f"{r['linear_probe_accuracy']:.3f} | {r['train_seconds']:.0f} |")
    if "raw_pixel_probe_accuracy" in record:
        lines.append(f"| raw pixels (reference, probe only) | — | — | — | "
                     f"{record['raw_pixel_probe_accuracy']:.3f} | — |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", required=True,
                   help="labelled dataset spec, e.g. npz:/work/shared/data/mnist-10k.npz")
    p.add_argument("--latent-dim", type=int, default=DEFAULTS["latent_dim"])
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--learning-rate", type=float, default=DEFAULTS["learning_rate"])
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--no-raw-probe", action="store_true",
                   help="skip the logistic regression on raw pixels")
    p.add_argument("--out", help="write all numbers to this JSON file")
    args = p.parse_args(argv)
    record = run_benchmark(args.dataset, raw_probe=not args.no_raw_probe,
                           latent_dim=args.latent_dim, epochs=args.epochs,
                           batch_size=args.batch_size,
                           learning_rate=args.learning_rate, seed=args.seed)
    record["command"] = " ".join(["python", "bench/ae_bench.py"]
                                 + list(sys.argv[1:] if argv is None else argv))
    print(f"\ndataset: {args.dataset} ({record['num_train']} train / "
          f"{record['num_test']} test); code size {args.latent_dim}, "
          f"{args.epochs} epochs; wall {record['wall_seconds']:.0f} s\n")
    print(format_table(record))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(record, f, indent=2, default=str)
        print(f"wrote {args.out}")
    return 1 if all(r.get("error") for r in record["results"][1:]) else 0


if __name__ == "__main__":
    sys.exit(main())
