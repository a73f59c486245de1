"""Diffusion and flow matching against a GAN, a critic GAN, PixelCNN and a VAE
at an equal CPU budget.

Every model trains on the same batches until its process has spent the same
CPU seconds (`time.process_time`, so a busy machine does not shorten one
model's budget more than another's; first-call tracing counts), with its own
optimizer defaults. Then, for each model:

- sample metrics with `training.evaluate` on `--num-samples` images: FID,
  KID and precision/recall in the features of the zoo classifier trained
  on the same dataset (column "extractor": classifier, never mixed with
  Inception), from the model's `serving_default` (DDPM: DDIM, 50 steps,
  eta 0; flow matching: Euler, 50 steps);
- test bits/dim on the same `--num-test` test images where the model has a
  likelihood on 8-bit levels: PixelCNN's exact NLL, DDPM's variational
  bound (all T = 1000 terms; an upper bound on the NLL), the conv VAE's
  ELBO with a Gaussian decoder on dequantized data (a bound too);
- seconds per sampled image against the number of steps (DDIM 10/50/250,
  DDPM 1000, flow matching Euler and Heun 10/50), traced samplers, tracing
  not timed.

    python bench/diffusion_bench.py --dataset npz:../shared/data/mnist-10k.npz \
        --budget 600 --out /tmp/diffusion_bench

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

import zoo  # noqa: E402
from export import layout  # noqa: E402
from training import datasets  # noqa: E402
from training.likelihood import evaluate  # noqa: E402
from zoo.layers.sampling import per_row_seeds  # noqa: E402

# Sized for 2 CPU cores and 28x28 images; not the papers' sizes.
MODELS = {
    "ddpm": dict(widths=(32, 64), attention_levels=(1,)),
    "flow_matching": dict(widths=(32, 64), attention_levels=(1,)),
    "dcgan": dict(),
    "wgan_gp": dict(),
    "pixelcnn": dict(num_levels=256, filters=32, num_layers=5),
    "conv_vae": dict(likelihood="gaussian"),
}
# Published numbers, printed beside ours (not matched on a CPU budget).
PUBLISHED = {
    "ddpm": "CIFAR-10 FID 3.17 (Inception), NLL <= 3.70 bits/dim (Ho et al. 2020); "
            "DDIM 100 steps FID 4.16 (Song et al. 2021)",
    "flow_matching": "CIFAR-10 FID 6.35, OT path (Lipman et al. 2023)",
}
SAMPLE_METRICS = ["fid", "kid", "precision_recall"]
STEP_SWEEP = {
    "ddpm": [("ddim", dict(sampler="ddim", steps=s, eta=0.0)) for s in (10, 50, 250)]
    + [("ddpm", dict(sampler="ddpm"))],
    "flow_matching": [(f"{solver}", dict(solver=solver, steps=s))
                      for solver in ("euler", "heun") for s in (10, 50)],
}
DEFAULTS = dict(budget=600.0, batch_size=64, num_samples=2000, num_test=200, seed=0,
                timing_samples=8, classifier_epochs=5)


def train_for(model, train, budget, chunk=20):
    """Fits `chunk` steps at a time until the process has used `budget` CPU seconds."""
    steps, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
    while time.process_time() - cpu0 < budget:
        model.fit(train, epochs=1, steps_per_epoch=chunk, verbose=0)
        steps += chunk
    return steps, time.process_time() - cpu0, time.perf_counter() - wall0


def seconds_per_image(model, options, num, seed):
    fn = tf.function(lambda s: model.sample_from_seeds(s, **options))
    seeds = per_row_seeds(num, seed)
    fn(seeds)  # traced and warmed; not timed
    t0 = time.perf_counter()
    fn(seeds).numpy()
    return (time.perf_counter() - t0) / num


def bits_per_dim(model, dataset, num_test, seed):
    test = datasets.load(dataset, "test", batch_size=100, mode=model.preprocessing(False),
                         shuffle=False, take=num_test, seed=0)
    ev = evaluate(model, test, iwae_samples=0, seed=seed)
    key = "test_nll_bits_per_dim" if "test_nll_bits_per_dim" in ev else "test_elbo_bits_per_dim"
    if key not in ev:
        return {}
    return {"bits_per_dim": ev[key], "bits_kind": "exact NLL" if key.startswith(
        "test_nll") else "bound (ELBO)", "evaluation_data": ev["evaluation_data"],
            "num_test": ev["num_examples"]}


def run_model(name, dataset, out, classifier, *, budget, batch_size, num_samples,
              num_test, seed, timing_samples, classifier_epochs):
    from training.evaluate import evaluate_target, load_target

    del classifier_epochs
    keras.utils.set_random_seed(seed)
    info = datasets.info(dataset)
    model = zoo.get(name, image_shape=info.image_shape, seed=seed, **MODELS[name])
    model.compile(**model.make_optimizers())
    train = datasets.load(dataset, "train", batch_size=batch_size,
                          mode=model.preprocessing(True), seed=seed, repeat=True,
                          drop_remainder=True)
    steps, cpu, wall = train_for(model, train, budget)
    run = os.path.join(out, name)
    os.makedirs(run, exist_ok=True)
    model.save(os.path.join(run, layout.MODEL_FILE))
    row = {"model": name, "config": MODELS[name], "num_parameters": int(model.count_params()),
           "train_steps": steps, "train_cpu_seconds": cpu, "train_wall_seconds": wall,
           "published": PUBLISHED.get(name, "")}
    t0 = time.perf_counter()
    row.update(bits_per_dim(model, dataset, num_test, seed))
    row["bits_seconds"] = time.perf_counter() - t0
    result = evaluate_target(load_target(run), dataset, metrics=SAMPLE_METRICS,
                             num_samples=num_samples, seed=seed, extractor=classifier,
                             out=os.path.join(run, layout.EVAL_DIR), log=None)
    row["metrics"] = result["metrics"]
    row["extractor"] = result["extractors"]
    row["eval_seconds"] = result["seconds"]
    sweep = STEP_SWEEP.get(name, [("default", {})])
    row["seconds_per_image"] = {
        f"{label} {options.get('steps', getattr(model, 'num_timesteps', ''))}".strip():
            seconds_per_image(model, options, timing_samples, seed)
        for label, options in sweep}
    print(f"  {name}: {steps} steps, {json.dumps(row['metrics'], default=str)[:300]}, "
          f"bits/dim {row.get('bits_per_dim')}, s/image {row['seconds_per_image']}",
          flush=True)
    return row


def main(argv=None):
    from export.layout import is_run_dir
    from training.classifier import train_classifier

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--out", default="/tmp/diffusion_bench")
    for key, value in DEFAULTS.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    options = {k: getattr(args, k) for k in DEFAULTS}
    os.makedirs(args.out, exist_ok=True)
    classifier = os.path.join(args.out, "classifier")
    if not is_run_dir(classifier):
        train_classifier(args.dataset, out=classifier, epochs=args.classifier_epochs,
                         seed=args.seed)
    rows = []
    for name in args.models:
        rows.append(run_model(name, args.dataset, args.out, classifier, **options))
        with open(os.path.join(args.out, "diffusion_bench.json"), "w") as f:
            json.dump({"rows": rows}, f, indent=2, default=str)
    result = {"benchmark": "diffusion_bench", "dataset": args.dataset, "options": options,
              "date": datetime.date.today().isoformat(),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores visible",
              "tensorflow": tf.__version__, "rows": rows}
    with open(os.path.join(args.out, "diffusion_bench.json"), "w") as f:
        json.dump(result, f, indent=2, default=str)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
