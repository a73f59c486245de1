"""Benchmark of the convolutional VAE, without and with XLA (jit_compile).

Trains `zoo.get("conv_vae")` for a fixed number of epochs on one dataset and
reports the test ELBO, the IWAE log-likelihood estimate and the training
throughput for each mode. Both modes run in one process with the same seed
and data, so their throughputs can be compared as a ratio; absolute images/s
depend on the machine and on whatever else is running on it.

    python bench/vae_bench.py --dataset npz:../shared/data/mnist-10k.npz \
        --out /tmp/vae_bench.json

This is a benchmark, not a test: it asserts nothing about the numbers.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time

# Running as `python bench/vae_bench.py` puts bench/ (not the repo root) on
# sys.path, and `zoo` / `training` live at the root.
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
from training.callbacks import Throughput  # noqa: E402
from training.likelihood import evaluate  # noqa: E402

MODEL = "conv_vae"
MODES = {"nojit": False, "jit": True}

# Sized so one run of both modes fits well within 15 minutes on 2 CPU cores
# with MNIST-10k: measured 295-352 s in total (3.3-5.3 s per epoch, ~80 s per
# IWAE evaluation with k=200 on 2000 test images). Twenty epochs give 19
# steady epochs after the one that pays for tracing and XLA compilation, and
# enough training that the ELBO is no longer dominated by the first steps.
DEFAULTS = {
    "epochs": 20,
    "batch_size": 128,
    "iwae_samples": 200,
    "latent_dim": 16,
    "likelihood": "bernoulli",
    "seed": 0,
    "learning_rate": 1e-3,
    "eval_batch_size": 128,
}


class _EpochMeter(keras.callbacks.Callback):
    """Records process CPU seconds per epoch and prints one line per epoch.

    `fit` itself runs silently, keeping its progress bar out of the timed loop.
    """

    def __init__(self, label, throughput):
        super().__init__()
        self.label = label
        self.throughput = throughput
        self.cpu_seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._cpu0 = time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.cpu_seconds.append(time.process_time() - self._cpu0)
        rate = self.throughput.images_per_second[-1]
        loss = (logs or {}).get("loss", float("nan"))
        print(f"  [{self.label}] epoch {epoch + 1}: loss {float(loss):.2f} nats, "
              f"{rate:.0f} images/s, {self.cpu_seconds[-1]:.1f} CPU-s", flush=True)


def _weights_checksum(model):
    # Shows in the JSON that both modes started from identical weights.
    return float(sum(np.sum(np.asarray(w, np.float64)) for w in model.get_weights()))


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine_info():
    """Where the numbers came from, for the JSON record."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tensorflow_probability": tfp.__version__,
        "numpy": np.__version__,
        "load_average_at_start": list(os.getloadavg()),
    }


# TF error messages open with generic lines ("Graph execution error:",
# "Detected at node ...", "in user code:", traceback lines); the cause comes
# later, and that is what belongs in a table cell.
_BOILERPLATE = ("graph execution error", "detected at node", "<stack traces",
                "in user code", "file \"", "[[", "(most recent call")


def _short_error(err):
    """The most informative line of an exception, short enough for a table cell."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.lower().startswith(_BOILERPLATE)]
    line = (useful or lines or [""])[0].replace("|", "/")
    text = f"{type(err).__name__}: {line}"
    return text if len(text) <= 200 else text[:197] + "..."


def run_one(dataset, jit_compile, *, epochs=DEFAULTS["epochs"],
            batch_size=DEFAULTS["batch_size"],
            iwae_samples=DEFAULTS["iwae_samples"],
            latent_dim=DEFAULTS["latent_dim"],
            likelihood=DEFAULTS["likelihood"], seed=DEFAULTS["seed"],
            learning_rate=DEFAULTS["learning_rate"],
            eval_batch_size=DEFAULTS["eval_batch_size"], label=None):
    """Trains and evaluates one conv VAE; returns a dict of numbers.

    Errors in training or evaluation (e.g. an op XLA cannot compile) are
    caught and returned under "error", so one failing mode does not hide
    the other's numbers.
    """
    label = label or ("jit" if jit_compile else "nojit")
    data_info = datasets.info(dataset)
    num_train = data_info.num_examples["train"]
    # Reset every global RNG so both modes get the same initial weights,
    # shuffle order and dynamic binarization.
    keras.utils.set_random_seed(seed)
    model = zoo.get(MODEL, image_shape=data_info.image_shape,
                    latent_dim=latent_dim, likelihood=likelihood, seed=seed)
    train_ds = datasets.load(dataset, "train", batch_size=batch_size,
                             mode=model.preprocessing(True), seed=seed)
    test_ds = datasets.load(dataset, "test", batch_size=eval_batch_size,
                            mode=model.preprocessing(False), shuffle=False,
                            seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  jit_compile=jit_compile)
    result = {
        "mode": label,
        "jit_compile_requested": bool(jit_compile),
        # Keras silently falls back to no XLA in some cases (layers without
        # XLA support, op determinism), so record what it actually uses.
        "jit_compile_effective": bool(model.jit_compile),
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "latent_dim": latent_dim,
        "likelihood": likelihood,
        "seed": seed,
        "num_train": num_train,
        "num_test": data_info.num_examples["test"],
        "train_data": model.preprocessing(True),
        "num_parameters": int(model.count_params()),
        "initial_weights_checksum": _weights_checksum(model),
        "error": None,
    }

    throughput = Throughput(num_train)
    meter = _EpochMeter(label, throughput)
    stage = "train"
    try:
        load_before = os.getloadavg()[0]
        wall0, cpu0 = time.perf_counter(), time.process_time()
        history = model.fit(train_ds, epochs=epochs, verbose=0, shuffle=False,
                            callbacks=[throughput, meter])
        train_seconds = time.perf_counter() - wall0
        rates = throughput.images_per_second
        result.update({
            "train_seconds": train_seconds,
            # CPU seconds count the work of all threads. Unlike wall time they
            # ignore other jobs and the idle stalls that start some epochs
            # inside Keras fit (1-5 s on the 2-core machine), so they compare
            # the modes' compute cost more steadily.
            "train_cpu_seconds": time.process_time() - cpu0,
            "cpu_seconds_per_epoch": meter.cpu_seconds,
            # Median like Throughput.steady_rate, so the two agree when the
            # machine is otherwise idle.
            "steady_cpu_ms_per_image": (
                1000 * float(np.median(meter.cpu_seconds[1:])) / num_train
                if len(meter.cpu_seconds) > 1 else None),
            "load_average_1min_before_train": load_before,
            "load_average_1min_after_train": os.getloadavg()[0],
            "images_per_second_per_epoch": rates,
            "train_images_per_second": throughput.steady_rate(),
            # The fastest steady epoch is the one least slowed by stalls and
            # other jobs; a cross-check when the median lands between the
            # fast and the slow epochs.
            "best_epoch_images_per_second": (max(rates[1:]) if len(rates) > 1
                                             else None),
            "steady_epochs": max(len(rates) - 1, 0),
            "first_epoch_seconds": num_train / rates[0],
            "steady_epoch_seconds": (num_train / throughput.steady_rate()
                                     if len(rates) > 1 else None),
            "history": {k: [float(v) for v in vs]
                        for k, vs in history.history.items()},
        })
        stage = "evaluate"
        eval0 = time.perf_counter()
        # The library's evaluation runs without XLA for both modes, so its
        # time measures IWAE cost, not jit_compile.
        result["evaluation"] = evaluate(model, test_ds,
                                        iwae_samples=iwae_samples, seed=seed)
        result["eval_seconds"] = time.perf_counter() - eval0
    except Exception as err:  # noqa: BLE001 - reported, not hidden
        result["error"] = _short_error(err)
        result["error_stage"] = stage
        result["error_full"] = f"{type(err).__name__}: {err}"
        print(f"  [{label}] {stage} failed: {result['error']}", flush=True)
    return result


def _fmt(value, spec):
    return "—" if value is None else format(value, spec)


def table_header(iwae_samples):
    k = iwae_samples
    return (
        "| mode | XLA used | epochs | train images/s | train CPU-ms/image "
        "| first-epoch s | test ELBO (nats) | ELBO bits/dim "
        f"| IWAE k={k} (nats) | IWAE bits/dim |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")


def table_row(r):
    """One Markdown row; a failed mode shows its error in place of numbers."""
    if r.get("error") and "train_images_per_second" not in r:
        return (f"| {r['mode']} | error | {r['epochs']} | "
                f"{r['error_stage']} failed: `{r['error']}` | — | — | — | — | — | — |")
    ev = r.get("evaluation") or {}
    cells = [
        r["mode"],
        "yes" if r["jit_compile_effective"] else "no",
        str(r["epochs"]),
        _fmt(r["train_images_per_second"], ".0f"),
        _fmt(r["steady_cpu_ms_per_image"], ".3f"),
        _fmt(r["first_epoch_seconds"], ".1f"),
        _fmt(ev.get("test_elbo_nats"), ".2f"),
        _fmt(ev.get("test_elbo_bits_per_dim"), ".4f"),
        _fmt(ev.get("test_log_likelihood_nats"), ".2f"),
        _fmt(ev.get("test_nll_bits_per_dim"), ".4f"),
    ]
    if r.get("error"):
        cells[-1] += f" ({r['error_stage']} failed: `{r['error']}`)"
    return "| " + " | ".join(cells) + " |"


def _ratio(results, key, invert=False):
    try:
        jit, nojit = results["jit"].get(key), results["nojit"].get(key)
    except KeyError:
        return None
    if not jit or not nojit:
        return None
    return nojit / jit if invert else jit / nojit


def throughput_ratio(results):
    """jit / nojit steady training images/s, or None if either is missing."""
    return _ratio(results, "train_images_per_second")


def cpu_efficiency_ratio(results):
    """nojit / jit steady CPU time per image: > 1 means XLA needs less CPU."""
    return _ratio(results, "steady_cpu_ms_per_image", invert=True)


def run_benchmark(dataset, modes=tuple(MODES), **kwargs):
    """Runs each mode in turn in this process; returns the full record."""
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown modes {unknown}; choose from {list(MODES)}")
    start = time.perf_counter()
    record = {"benchmark": MODEL, "dataset": dataset, "machine": machine_info()}
    data_info = datasets.info(dataset)
    n_train, n_test = data_info.num_examples["train"], data_info.num_examples["test"]
    seed = kwargs.get("seed", DEFAULTS["seed"])
    # digits, npz: and dir: sources have no split of their own (see
    # training.datasets); tfds names bring theirs.
    if dataset == "digits" or dataset.startswith(("npz:", "dir:")):
        split = (f"{n_train} train / {n_test} test: the library's deterministic "
                 f"80/20 split (np.random.default_rng({seed})), as the source has "
                 "no split of its own")
    else:
        split = f"{n_train} train / {n_test} test: the dataset's own splits"
    record["split"] = split
    record["image_shape"] = list(data_info.image_shape)
    record["settings"] = {**DEFAULTS, **kwargs, "modes": list(modes)}
    record["results"] = {}
    for mode in modes:
        print(f"== {mode} (jit_compile={MODES[mode]})", flush=True)
        t0 = time.perf_counter()
        result = run_one(dataset, MODES[mode], label=mode, **kwargs)
        result["mode_wall_seconds"] = time.perf_counter() - t0
        record["results"][mode] = result
    record["jit_over_nojit_images_per_second"] = throughput_ratio(record["results"])
    record["jit_over_nojit_best_epoch_images_per_second"] = _ratio(
        record["results"], "best_epoch_images_per_second")
    record["nojit_over_jit_cpu_seconds_per_image"] = cpu_efficiency_ratio(
        record["results"])
    record["wall_seconds"] = time.perf_counter() - start
    record["machine"]["load_average_at_end"] = list(os.getloadavg())
    return record


def format_report(record):
    iwae_k = record["settings"]["iwae_samples"]
    lines = [f"dataset: {record['dataset']}  ({record['split']})",
             f"evaluation data: fixed binarization of the test split; "
             f"IWAE with k={iwae_k}",
             "",
             table_header(iwae_k)]
    lines += [table_row(r) for r in record["results"].values()]
    ratio = record["jit_over_nojit_images_per_second"]
    lines.append("")
    lines.append("jit/nojit training throughput ratio (steady images/s): "
                 + (f"{ratio:.2f}x" if ratio else "n/a"))
    best = record["jit_over_nojit_best_epoch_images_per_second"]
    lines.append("jit/nojit ratio of the fastest steady epochs: "
                 + (f"{best:.2f}x" if best else "n/a"))
    cpu = record["nojit_over_jit_cpu_seconds_per_image"]
    lines.append("nojit/jit CPU seconds per training image (> 1: XLA cheaper): "
                 + (f"{cpu:.2f}x" if cpu else "n/a"))
    load = record["machine"]
    lines.append("load average (1 min) at start / end: "
                 f"{load['load_average_at_start'][0]:.2f} / "
                 f"{load['load_average_at_end'][0]:.2f} on "
                 f"{load['cpus_usable']} usable CPUs (other jobs lower images/s; "
                 "CPU-ms/image barely moves)")
    lines.append(f"wall time (all modes): {record['wall_seconds']:.0f} s")
    return "\n".join(lines)


def build_parser():
    p = argparse.ArgumentParser(
        description="Conv VAE benchmark: test ELBO, IWAE log-likelihood and "
                    "training images/s without and with XLA, in one process.")
    p.add_argument("--dataset", required=True,
                   help="dataset spec, e.g. npz:../shared/data/mnist-10k.npz")
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--iwae-samples", type=int, default=DEFAULTS["iwae_samples"],
                   help="k of the IWAE log-likelihood estimate (0 skips it)")
    p.add_argument("--latent-dim", type=int, default=DEFAULTS["latent_dim"])
    p.add_argument("--likelihood", default=DEFAULTS["likelihood"],
                   choices=("bernoulli", "gaussian", "discretized_logistic"))
    p.add_argument("--learning-rate", type=float, default=DEFAULTS["learning_rate"])
    p.add_argument("--eval-batch-size", type=int,
                   default=DEFAULTS["eval_batch_size"],
                   help="test batch; IWAE decodes up to 64x this many images at once")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--modes", default=",".join(MODES),
                   help="comma-separated subset of: " + ", ".join(MODES))
    p.add_argument("--out", help="write all numbers and machine info to this JSON file")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    if args.epochs < 1:
        build_parser().error("--epochs must be at least 1")
    if args.epochs < 2:
        print("note: with one epoch, images/s includes tracing/compilation",
              file=sys.stderr)
    record = run_benchmark(
        args.dataset, modes, epochs=args.epochs, batch_size=args.batch_size,
        iwae_samples=args.iwae_samples, latent_dim=args.latent_dim,
        likelihood=args.likelihood, seed=args.seed,
        learning_rate=args.learning_rate, eval_batch_size=args.eval_batch_size)
    record["command"] = " ".join(["python", os.path.relpath(__file__)]
                                 + list(sys.argv[1:] if argv is None else argv))
    print()
    print(format_report(record))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(record, f, indent=2, default=str)
        print(f"wrote {args.out}")
    failed = [m for m, r in record["results"].items() if r.get("error")]
    return 1 if failed and len(failed) == len(record["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
