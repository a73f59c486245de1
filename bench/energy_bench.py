"""RBMs (CD-1, CD-25, PCD) and a VAE at an equal CPU budget, scored on the
same fixed binarization of the test images.

Every model trains on the same batches until its process has spent the same
CPU seconds (`time.process_time`, first-call tracing included), with its own
optimizer defaults. Then `training.likelihood.evaluate` scores the same
`--num-test` test images under the fixed binarization the VAEs see
(`binary_static`): the RBMs' log-likelihood with log Z from AIS
(`--ais-runs` runs, `--ais-betas` betas, its standard error printed), the
VAE's IWAE bound (`--iwae` samples), PixelCNN's exact NLL (binary pixels).
One column, one data set. With `--num-samples` > 0, also FID, KID and
precision/recall of that many samples (RBMs: Gibbs chains of
`sampling_steps` = 1000 steps, the visible means) in the features of the zoo
classifier trained on the same dataset (`training.evaluate`).

    python bench/energy_bench.py --dataset npz:../shared/data/mnist-10k.npz \
        --budget 300 --out /tmp/energy_bench.json

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

import zoo  # noqa: E402
from bench.common import classifier_for, header, sample_metrics  # noqa: E402
from bench.diffusion_bench import train_for  # noqa: E402  (CPU-time budget)
from training import datasets  # noqa: E402
from training.likelihood import evaluate  # noqa: E402

MODELS = {
    "rbm_cd1": ("rbm", dict(num_hidden=500, cd_steps=1)),
    "rbm_cd25": ("rbm", dict(num_hidden=500, cd_steps=25)),
    "rbm_pcd": ("rbm", dict(num_hidden=500, persistent=True, persistent_chains=100)),
    "vae": ("vae", dict()),
    "pixelcnn": ("pixelcnn", dict(num_levels=2, filters=32, num_layers=5)),
}
SAMPLE_METRICS = ["fid", "kid", "precision_recall"]
ANCHOR = ("RBM, 500 hidden units, CD-25, binarized MNIST: about -86.3 nats "
          "(AIS; Salakhutdinov & Murray 2008)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--budget", type=float, default=300.0, help="CPU seconds per model")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-test", type=int, default=1000)
    parser.add_argument("--ais-runs", type=int, default=100)
    parser.add_argument("--ais-betas", type=int, default=10000)
    parser.add_argument("--iwae", type=int, default=100)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-samples", type=int, default=0,
                        help="samples for FID/KID/precision-recall (0 skips them)")
    parser.add_argument("--work", default="/tmp/energy_bench", help="classifier and models")
    parser.add_argument("--out", default="/tmp/energy_bench.json")
    args = parser.parse_args(argv)

    info = datasets.info(args.dataset)
    classifier = classifier_for(args.dataset, args.work, args.seed) if args.num_samples \
        else None
    results = header(args, ANCHOR)
    for key in args.models.split(","):
        name, config = MODELS[key]
        keras.utils.set_random_seed(args.seed)
        model = zoo.get(name, image_shape=info.image_shape, seed=args.seed, **config)
        if name == "rbm":
            model.ais_runs, model.ais_betas = args.ais_runs, args.ais_betas
        model.compile(**model.make_optimizers())
        train = datasets.load(args.dataset, "train", batch_size=args.batch_size,
                              mode=model.preprocessing(True), seed=args.seed,
                              drop_remainder=True)
        test = datasets.load(args.dataset, "test", batch_size=250,
                             mode=model.preprocessing(False), shuffle=False, seed=0,
                             take=args.num_test)
        steps, cpu, wall = train_for(model, train.repeat(), args.budget)
        budget = {"steps": steps, "cpu_seconds": cpu, "wall_seconds": wall}
        start = time.perf_counter()
        scores = evaluate(model, test, iwae_samples=args.iwae, seed=args.seed)
        scores["evaluation_seconds"] = time.perf_counter() - start
        results["models"][key] = {"model": name, "config": config, **budget, **scores}
        if classifier:
            results["models"][key].update(sample_metrics(
                model, key, args.dataset, classifier, args.work, SAMPLE_METRICS,
                args.num_samples, args.seed))
        print(key, json.dumps({k: scores.get(k) for k in (
            "test_log_likelihood_nats", "log_likelihood_estimator", "log_z_stderr",
            "evaluation_data")}), f"steps={budget['steps']}", flush=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2, default=str)


if __name__ == "__main__":
    main()
