"""Hybrids against their parts at an equal CPU budget: VQ-VAE (+ its PixelCNN
prior), PixelVAE, VAE-GAN and BiGAN beside conv_vae, pixelcnn, dcgan and
autoencoder.

Every model trains on the same batches until its process has spent the same
CPU seconds (`time.process_time`, tracing included; `bench.diffusion_bench.
train_for`), with its own optimizer defaults. The VQ-VAE spends half of the
budget on its autoencoder and half on its prior (stage two starts from stage
one with `warm_start`, as `--init-from` does). Then:

- `training.likelihood.evaluate` on `--num-test` test images: the ELBO and
  IWAE bound (`--iwae` samples) of conv_vae and pixel_vae and pixelcnn's
  exact NLL, all on the same fixed binarization (one column); reconstruction
  MSE; the VQ-VAE's prior bits per code and codebook perplexity;
- with `--num-samples` > 0, FID and precision/recall of that many samples in
  the features of the zoo classifier trained on the same dataset (not for
  PixelVAE, compared by likelihood), and the linear probe of every encoder
  (`training.evaluate`).

    python bench/hybrid_bench.py --dataset npz:/work/shared/data/mnist-10k.npz \
        --budget 180 --num-samples 2000 --out bench/results/hybrid_bench.json

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

import zoo  # noqa: E402
from bench.common import classifier_for, header, sample_metrics  # noqa: E402
from bench.diffusion_bench import train_for  # noqa: E402  (CPU-time budget)
from training import datasets  # noqa: E402
from training.likelihood import evaluate  # noqa: E402

MODELS = {
    "vq_vae": ("vq_vae", dict(num_codes=64, code_dim=16, filters=(32, 64),
                              prior_filters=32, prior_layers=5)),
    "pixel_vae": ("pixel_vae", dict()),
    "conv_vae": ("conv_vae", dict()),
    "pixelcnn": ("pixelcnn", dict(num_levels=2, filters=32, num_layers=5)),
    "dcgan": ("dcgan", dict()),
    "autoencoder": ("autoencoder", dict()),
    "vae_gan": ("vae_gan", dict()),
    "bigan": ("bigan", dict()),
}
ENCODERS = {"conv_vae", "autoencoder", "vae_gan", "bigan", "pixel_vae"}
# Sample metrics where the comparison asks for them; PixelVAE is compared by
# its likelihood (and its 784-step sampler would dominate the run).
SAMPLED = {"vq_vae", "conv_vae", "pixelcnn", "dcgan", "vae_gan", "bigan"}
ANCHOR = ("VQ-VAE, CIFAR-10: 4.67 bits/dim (van den Oord et al. 2017, sec. 4.1); "
          "not comparable with the MNIST numbers here")
KEYS = ("test_elbo_bits_per_dim", "test_nll_bits_per_dim", "test_reconstruction_mse",
        "test_prior_bits_per_code", "active_units", "evaluation_data")


def _train(name, config, info, args):
    """(model, {"steps", "cpu_seconds", "wall_seconds"}) after the budget."""
    keras.utils.set_random_seed(args.seed)
    model = zoo.get(name, image_shape=info.image_shape, seed=args.seed, **config)
    stages = [(model, args.budget)]
    if name == "vq_vae":
        prior = zoo.get(name, image_shape=info.image_shape, seed=args.seed, stage="prior",
                        **config)
        stages = [(model, args.budget / 2), (prior, args.budget / 2)]
    budget = {"steps": 0, "cpu_seconds": 0.0, "wall_seconds": 0.0}
    for stage, seconds in stages:
        if stage is not model:
            stage.warm_start(model)
        stage.compile(**stage.make_optimizers())
        train = datasets.load(args.dataset, "train", batch_size=args.batch_size,
                              mode=stage.preprocessing(True), seed=args.seed,
                              drop_remainder=True)
        steps, cpu, wall = train_for(stage, train.repeat(), seconds)
        budget["steps"] += steps
        budget["cpu_seconds"] += cpu
        budget["wall_seconds"] += wall
    return stages[-1][0], budget


def _perplexity(model, test):
    codes = np.concatenate([np.asarray(model.encode(model.images_from_batch(b)))
                            for b in test]).reshape(-1)
    p = np.bincount(codes, minlength=model.num_codes) / codes.size
    return float(np.exp(-np.sum(p[p > 0] * np.log(p[p > 0]))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--budget", type=float, default=180.0, help="CPU seconds per model")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-test", type=int, default=1000)
    parser.add_argument("--iwae", type=int, default=100)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-samples", type=int, default=0,
                        help="samples for FID/precision-recall (0 skips them and the probe)")
    parser.add_argument("--probe-train", type=int, default=5000)
    parser.add_argument("--work", default="/tmp/hybrid_bench", help="classifier and models")
    parser.add_argument("--out", default="/tmp/hybrid_bench.json")
    args = parser.parse_args(argv)

    info = datasets.info(args.dataset)
    classifier = classifier_for(args.dataset, args.work, args.seed) if args.num_samples \
        else None
    results = header(args, ANCHOR)
    for key in args.models.split(","):
        name, config = MODELS[key]
        model, budget = _train(name, config, info, args)
        test = datasets.load(args.dataset, "test", batch_size=250,
                             mode=model.preprocessing(False), shuffle=False, seed=0,
                             take=args.num_test)
        start = time.perf_counter()
        iwae = args.iwae if hasattr(model, "iwae") else 0
        scores = evaluate(model, test, iwae_samples=iwae, seed=args.seed)
        if name == "vq_vae":
            scores["codebook_perplexity"] = _perplexity(model, test)
        scores["evaluation_seconds"] = time.perf_counter() - start
        row = results["models"][key] = {"model": name, "config": config, **budget, **scores}
        metrics = (["fid", "precision_recall"] if key in SAMPLED else []) + (
            ["linear_probe"] if key in ENCODERS else [])
        if classifier and metrics:
            row.update(sample_metrics(model, key, args.dataset, classifier, args.work, metrics,
                                      args.num_samples, args.seed,
                                      probe_train=args.probe_train))
        print(key, json.dumps({k: scores.get(k) for k in KEYS}, default=str),
              f"steps={budget['steps']}", flush=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2, default=str)


if __name__ == "__main__":
    main()
