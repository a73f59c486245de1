"""Image-to-image models on tasks derived from a dataset, at an equal CPU budget.

- super-resolution x2 (`task:superres(SPEC,factor=2)`): bicubic vs `srresnet`
  vs `srgan` (which starts from the trained srresnet, as [Ledig 2017] does,
  and spends the same budget again; its content loss compares features of
  the zoo classifier of SPEC);
- edges -> digits (`task:edges(SPEC)`): `pix2pix` vs the L1-only U-Net
  (`pix2pix` with adversarial_weight=0);
- `cyclegan` on the unpaired split digits 0-4 <-> 5-9 (`task:classes`), FID
  both ways;
- `stargan` on the digits, one domain per class.

Every model trains until its process has spent `--budget` CPU seconds
(`bench.diffusion_bench.train_for`) on batches of 32. Scores on the test
split, through `training.evaluate` (the zoo classifier of SPEC as the
extractor): PSNR/SSIM/L1 against paired targets, FID of the translations
against the target-domain images, the cycle error; and the images/s of
each export's `serving_default` at batch 1, 16 and 64 (after a warm-up call).

    python bench/translation_bench.py --dataset npz:/work/shared/data/mnist-10k.npz \
        --budget 120 --out bench/results/translation_bench.json

This is a benchmark, not a test: it asserts nothing about the numbers.
"""

import argparse
import json
import os
import shutil
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
from bench.common import classifier_for, header  # noqa: E402
from bench.diffusion_bench import train_for  # noqa: E402  (CPU-time budget)
from training import datasets  # noqa: E402

RUNS = {
    # key: (model, task template, config, started from)
    "srresnet": ("srresnet", "task:superres({},factor=2)", {}, None),
    # The content loss in the features of the zoo classifier of SPEC (VGG
    # cannot be downloaded): content_classifier is set to it below.
    "srgan": ("srgan", "task:superres({},factor=2)", {"content_classifier": "CLASSIFIER"},
              "srresnet"),
    "pix2pix": ("pix2pix", "task:edges({})", {"patch_layers": 2}, None),
    "unet_l1": ("pix2pix", "task:edges({})", {"patch_layers": 2, "adversarial_weight": 0.0},
                None),
    "cyclegan": ("cyclegan", "task:classes({},0-4,5-9)", {}, None),
    "stargan": ("stargan", "{}", {}, None),
}
ANCHOR = ("published numbers are on photographs (pix2pix: Cityscapes FCN scores; SRGAN: "
          "Set5/Set14/BSD100 PSNR and MOS) and are not comparable with digits")


def _train(key, spec, info, source_shape, args, trained, classifier):
    name, _, config, start = RUNS[key]
    keras.utils.set_random_seed(args.seed)
    config = {k: classifier if v == "CLASSIFIER" else v for k, v in config.items()}
    kwargs = dict(config, image_shape=info.image_shape, seed=args.seed)
    if source_shape is not None:
        kwargs["source_shape"] = source_shape
    model = zoo.get(name, **kwargs)
    if start:
        model.warm_start(trained[start])
    model.compile(**model.make_optimizers())
    if model.pair_data:
        stream = datasets.load_pairs(spec, batch_size=32, seed=args.seed, jitter=model.jitter,
                                     drop_remainder=True, repeat=True)
    else:
        stream = datasets.load(spec, batch_size=32, labels=True, seed=args.seed,
                               drop_remainder=True, repeat=True)
    steps, cpu, wall = train_for(model, stream, args.budget)
    return model, {"steps": steps, "cpu_seconds": cpu}


def _fid_back(model, spec, classifier, num):
    """FID (classifier features) of F(b) for test images b against the test A domain."""
    from training import metrics
    from training.evaluate.extractors import load_classifier_extractor

    a, b, _ = datasets.load_pair_arrays(spec, "test")
    a, b = (x[:num].astype(np.float32) / 255.0 for x in (a, b))
    extractor, reason = load_classifier_extractor(classifier, model.source_shape)
    if extractor is None:
        return reason
    back = np.concatenate([np.asarray(model.translate_back(b[i:i + 500]))
                           for i in range(0, len(b), 500)])
    return metrics.frechet_distance(extractor(a)[0], extractor(back)[0])


def _throughput(path, source_shape, labels):
    loaded = tf.saved_model.load(path)
    fn = loaded.signatures["serving_default"]
    rates = {}
    for n in (1, 16, 64):
        kw = {"images": tf.random.stateless_uniform((n,) + tuple(source_shape), [0, n])}
        if labels:
            kw["label"] = tf.zeros([n], tf.int32)
        fn(**kw)
        reps, start = 0, time.perf_counter()
        while time.perf_counter() - start < 2.0:
            fn(**kw)["images"].numpy()
            reps += 1
        rates[f"batch_{n}"] = reps * n / (time.perf_counter() - start)
    return rates


def main(argv=None):
    from export import export_model
    from export.layout import MODEL_FILE
    from training.evaluate import evaluate_target, load_target

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--budget", type=float, default=120.0, help="CPU seconds per model")
    parser.add_argument("--runs", default=",".join(RUNS))
    parser.add_argument("--num-test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default="/tmp/translation_bench")
    parser.add_argument("--out", default="/tmp/translation_bench.json")
    parser.add_argument("--throughput-only", action="store_true",
                        help="re-measure images/s of the exports under --work into --out "
                             "(wall-clock: run it on a quiet machine)")
    args = parser.parse_args(argv)
    if args.throughput_only:
        with open(args.out) as f:
            results = json.load(f)
        for key, row in results["models"].items():
            loaded = tf.saved_model.load(os.path.join(args.work, key, "export"))
            spec = loaded.signatures["serving_default"].structured_input_signature[1]
            row["images_per_second"] = _throughput(
                os.path.join(args.work, key, "export"), spec["images"].shape[1:],
                "label" in spec)
            print(key, row["images_per_second"], flush=True)
        results["throughput_measured"] = time.strftime("%Y-%m-%d %H:%M")
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2, default=str)
        return

    classifier = classifier_for(args.dataset, args.work, args.seed)
    results = header(args, ANCHOR)
    trained = {}
    for key in args.runs.split(","):
        name, template, config, _ = RUNS[key]
        spec = template.format(args.dataset)
        if datasets.is_pair_spec(spec):
            pairs = datasets.pair_info(spec)
            info = datasets.DatasetInfo(spec, pairs.target_shape, None, pairs.num_examples)
            source_shape = pairs.source_shape
        else:
            info, source_shape = datasets.info(spec), None
        model, row = _train(key, spec, info, source_shape, args, trained, classifier)
        trained[key] = model
        run = os.path.join(args.work, key)
        os.makedirs(run, exist_ok=True)
        model.save(os.path.join(run, MODEL_FILE))
        shutil.rmtree(os.path.join(run, "export"), ignore_errors=True)
        export_model(model, os.path.join(run, "export"))
        metrics = ["translation", "fid", "precision_recall"]
        scored = evaluate_target(load_target(run), spec, metrics=metrics,
                                 num_samples=args.num_test, seed=args.seed,
                                 extractor=classifier, out=os.path.join(run, "eval"), log=None)
        if key == "cyclegan":
            row["fid_classifier_back"] = _fid_back(model, spec, classifier, args.num_test)
        row.update(model=name, task=spec, config=config, metrics=scored["metrics"],
                   samples=scored["samples"], extractor=scored["extractors"],
                   images_per_second=_throughput(os.path.join(run, "export"),
                                                 source_shape or info.image_shape,
                                                 not model.pair_data))
        results["models"][key] = row
        print(key, json.dumps(row["metrics"], default=str)[:300], row["images_per_second"],
              f"steps={row['steps']}", flush=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2, default=str)


if __name__ == "__main__":
    main()
