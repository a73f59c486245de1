"""Benchmark of the adversarial family: training throughput without and with
XLA (jit_compile), and sample grids after a fixed budget.

For each model (default: dcgan and wgan_gp with their paper settings) and
each mode, trains for a fixed number of generator steps on one dataset and
records steady training images/s (real images per second; WGAN-GP reuses
each real batch for its n_critic critic updates) and generator steps/s,
then writes a sample grid (64 images, seed 0) as PNG. All runs share one
process, seed and data order, so throughputs compare as ratios.

    python bench/gan_bench.py --dataset npz:/work/shared/data/mnist-10k.npz \
        --out bench/results/gan

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
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

import zoo  # noqa: E402
from training import datasets  # noqa: E402
from training.images import display_scale, make_grid, save_png  # noqa: E402

MODES = {"nojit": False, "jit": True}
MODELS = ("dcgan", "wgan_gp")
# Sized so the four runs take about ten minutes on 2 CPU cores with
# MNIST-10k (see BENCHMARKS.md): WGAN-GP's step is ~6x DCGAN's (5 critic
# updates, each with a double backward pass for the penalty).
DEFAULT_STEPS = {"dcgan": 300, "wgan_gp": 60}
DEFAULTS = {"batch_size": 64, "seed": 0, "warmup_steps": 5}


class _StepTimer(keras.callbacks.Callback):
    """Wall time at the end of every training batch."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter())


def machine_info():
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tensorflow_probability": tfp.__version__,
        "load_average_at_start": list(os.getloadavg()),
    }


def run_one(dataset, model_name, jit_compile, steps, batch_size=DEFAULTS["batch_size"],
            seed=DEFAULTS["seed"], warmup_steps=DEFAULTS["warmup_steps"], out=None,
            label=None):
    """Trains `model_name` for `steps` generator steps; returns a dict of numbers.

    Steady throughput counts the steps after the first `warmup_steps`, which
    pay for tracing and XLA compilation.
    """
    label = label or f"{model_name}_{'jit' if jit_compile else 'nojit'}"
    info = datasets.info(dataset)
    keras.utils.set_random_seed(seed)
    model = zoo.get(model_name, image_shape=info.image_shape, seed=seed)
    model.compile(**model.make_optimizers(), jit_compile=jit_compile)
    data = datasets.load(dataset, "train", batch_size=batch_size,
                         mode=model.preprocessing(True), seed=seed, repeat=True,
                         drop_remainder=True,
                         labels=getattr(model, "requires_labels", False)).take(steps)
    timer = _StepTimer()
    result = {"label": label, "model": model_name, "jit_compile": bool(jit_compile),
              "jit_compile_effective": bool(model.jit_compile), "steps": steps,
              "batch_size": batch_size, "config": model.get_config(),
              "num_parameters": int(model.count_params()), "error": None}
    try:
        wall0 = time.perf_counter()
        history = model.fit(data, epochs=1, verbose=0, callbacks=[timer])
        result["train_seconds"] = time.perf_counter() - wall0
        warm = min(warmup_steps, len(timer.times) - 2)
        steady = (len(timer.times) - 1 - warm) / (timer.times[-1] - timer.times[warm])
        result.update(
            first_steps_seconds=timer.times[warm] - timer.start,
            generator_steps_per_second=steady,
            train_images_per_second=steady * batch_size,
            final_metrics={k: float(v[-1]) for k, v in history.history.items()})
        samples = model.sample(64, seed=seed)
        if out:
            path = os.path.join(out, f"{label}.png")
            save_png(path, make_grid(samples, num_cols=8),
                     scale=max(1, display_scale(model.image_shape[:2]) // 2))
            result["samples_png"] = path
    except Exception as err:  # noqa: BLE001 - reported in the table
        result["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:150]}"
        print(f"  [{label}] failed: {result['error']}", flush=True)
    print(f"  [{label}] {result.get('train_images_per_second', float('nan')):.0f} "
          f"images/s, {result.get('train_seconds', float('nan')):.0f} s", flush=True)
    return result


def run_benchmark(dataset, models=MODELS, modes=tuple(MODES), steps=None, out=None, **kw):
    record = {"benchmark": "gan", "dataset": dataset, "machine": machine_info(),
              "settings": {**DEFAULTS, **kw, "models": list(models), "modes": list(modes)},
              "results": {}}
    start = time.perf_counter()
    for name in models:
        n = steps or DEFAULT_STEPS.get(name, 100)
        for mode in modes:
            print(f"== {name} {mode} ({n} generator steps)", flush=True)
            r = run_one(dataset, name, MODES[mode], n, out=out, **kw)
            record["results"][r["label"]] = r
    for name in models:
        jit = record["results"].get(f"{name}_jit", {}).get("train_images_per_second")
        nojit = record["results"].get(f"{name}_nojit", {}).get("train_images_per_second")
        if jit and nojit:
            record.setdefault("jit_over_nojit", {})[name] = jit / nojit
    record["wall_seconds"] = time.perf_counter() - start
    record["machine"]["load_average_at_end"] = list(os.getloadavg())
    return record


def format_report(record):
    lines = [f"dataset: {record['dataset']}", "",
             "| model | mode | XLA used | generator steps | train images/s | "
             "generator steps/s | first steps s | final d_loss | final g_loss | samples |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in record["results"].values():
        if r.get("error"):
            lines.append(f"| {r['model']} | {r['label'].split('_')[-1]} | — | {r['steps']} "
                         f"| error: `{r['error']}` | | | | | |")
            continue
        m = r["final_metrics"]
        lines.append(
            f"| {r['model']} | {'jit' if r['jit_compile'] else 'nojit'} | "
            f"{'yes' if r['jit_compile_effective'] else 'no'} | {r['steps']} | "
            f"{r['train_images_per_second']:.0f} | {r['generator_steps_per_second']:.2f} | "
            f"{r['first_steps_seconds']:.1f} | {m.get('d_loss', float('nan')):.3f} | "
            f"{m.get('g_loss', float('nan')):.3f} | "
            f"{os.path.basename(r.get('samples_png', '')) or '—'} |")
    for name, ratio in record.get("jit_over_nojit", {}).items():
        lines.append(f"\n{name}: jit/nojit training throughput {ratio:.2f}x")
    lines.append(f"\nwall time: {record['wall_seconds']:.0f} s")
    return "\n".join(lines)


def build_parser():
    p = argparse.ArgumentParser(description="GAN benchmark: images/s without and "
                                "with XLA, and sample grids after a fixed budget.")
    p.add_argument("--dataset", required=True,
                   help="dataset spec, e.g. npz:/work/shared/data/mnist-10k.npz")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--steps", type=int,
                   help="generator steps per run (default: " +
                   ", ".join(f"{k} {v}" for k, v in DEFAULT_STEPS.items()) + ")")
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--out", default=os.path.join("bench", "results", "gan"),
                   help="folder for the PNG grids and results.json")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise SystemExit(f"unknown modes {bad}; choose from {list(MODES)}")
    os.makedirs(args.out, exist_ok=True)
    record = run_benchmark(args.dataset, models, modes, steps=args.steps, out=args.out,
                           batch_size=args.batch_size, seed=args.seed)
    record["command"] = " ".join(["python", "bench/gan_bench.py"] +
                                 list(sys.argv[1:] if argv is None else argv))
    print()
    print(format_report(record))
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(record, f, indent=2, default=str)
    failed = [k for k, r in record["results"].items() if r.get("error")]
    return 1 if failed and len(failed) == len(record["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
