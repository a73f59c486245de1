"""Is tf.data the bottleneck? The input pipeline alone against the training step.

    python bench/pipeline_bench.py --dataset npz:/work/shared/data/mnist-10k.npz \
        [--models vae,denoising_autoencoder,dcgan,wgan_gp,pixelcnn] [--batch-size 128]

For each model (one per family by default) it times, in one process:
  - the training stream alone: `training.datasets.load` exactly as the
    trainer builds it (mode, labels, shuffling, equal-size batches where the
    model needs them), iterated for --steps steps' worth of batches after
    its first batch;
  - `model.fit` on the same stream for the same batches, after one warm-up
    epoch that pays for tracing.
It prints a Markdown table of images/s for each and their ratio (pipeline
images/s / training images/s: above 1, the pipeline keeps up).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_MODELS = "vae,denoising_autoencoder,dcgan,wgan_gp,pixelcnn"


def measure(name, dataset, batch_size, steps, seed=0):
    """(pipeline images/s, training images/s) for `name` on `dataset`."""
    import keras

    from training import datasets
    from training.trainer import build_model

    keras.utils.set_random_seed(seed)
    info = datasets.info(dataset)
    model = build_model(name, info.image_shape, seed=seed)
    stream = datasets.load(dataset, "train", batch_size=batch_size,
                           mode=model.preprocessing(True), labels=model.requires_labels,
                           seed=seed, drop_remainder=model.requires_full_batches)
    # A step of a GAN with k fresh batches reads k batches.
    per_step = model.d_steps if model.requires_full_batches else 1
    stream = stream.repeat()
    batches = iter(stream)
    next(batches)  # the shuffle buffer fills once, as in fit's first step
    start = time.perf_counter()
    for _ in range(steps * per_step):
        next(batches)
    pipeline = steps * per_step * batch_size / (time.perf_counter() - start)
    model.compile(**model.make_optimizers())
    model.fit(stream, epochs=1, steps_per_epoch=2, verbose=0)  # tracing
    start = time.perf_counter()
    model.fit(stream, epochs=1, steps_per_epoch=steps, verbose=0)
    training = steps * per_step * batch_size / (time.perf_counter() - start)
    return pipeline, training


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args(argv)
    lines = ["| model | pipeline images/s | training images/s | pipeline / training |",
             "|---|---:|---:|---:|"]
    for name in args.models.split(","):
        pipeline, training = measure(name, args.dataset, args.batch_size, args.steps)
        lines.append(f"| {name} | {pipeline:.0f} | {training:.0f} | {pipeline / training:.1f} |")
        print(lines[-1], file=sys.stderr)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
