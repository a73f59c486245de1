"""Latency and throughput of an exported generator's serving_default.

    python bench/serving_bench.py [--model conv_vae] [--batch-sizes 1,16,64]
        [--calls 50] [--out FILE.json]

Builds the model for 28x28 images (weights at initialisation: timing does
not depend on training), exports it, and times the same sampling four ways,
each as the median over `--calls` calls after warmup:
  in-process  `model.sample_from_seeds` under `tf.function` (the Keras model)
  savedmodel  the exported `serving_default` loaded with tf.saved_model.load
  grpc, rest  the same export behind the test-only TF Serving stand-in
              (tests/serving_stub.py) over loopback, through export.client
Ratios are against in-process, measured in one run on one machine.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from export import export_model  # noqa: E402


def _median_seconds(fn, calls, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(model_name="conv_vae", batch_sizes=(1, 16, 64), calls=50, image_shape=(28, 28, 1)):
    from export.client import GrpcClient, RestClient
    from tests.serving_stub import ServingStub

    model = zoo.get(model_name, image_shape=image_shape, seed=0)
    base = tempfile.mkdtemp()
    export_model(model, os.path.join(base, "m", "1"), name="m")
    loaded = tf.saved_model.load(os.path.join(base, "m", "1"))
    serve = loaded.signatures["serving_default"]
    in_process = tf.function(model.sample_from_seeds)
    rows = []
    with ServingStub(base) as stub:
        rest = RestClient(stub.rest_url, timeout=60)
        rpc = GrpcClient(stub.grpc_target, timeout=60)
        for n in batch_sizes:
            seeds = np.stack([np.zeros(n), np.arange(n)], 1).astype(np.int32)
            seeds_t = tf.constant(seeds)
            ways = {
                "in-process": lambda: in_process(seeds_t).numpy(),
                "savedmodel": lambda: serve(seed=seeds_t)["images"].numpy(),
                "grpc": lambda: rpc.predict("m", {"seed": seeds}),
                "rest": lambda: rest.predict("m", {"seed": seeds}),
            }
            base_s = None
            for way, fn in ways.items():
                seconds = _median_seconds(fn, calls)
                base_s = base_s or seconds
                rows.append({"batch": n, "way": way, "ms_per_call": 1000 * seconds,
                             "images_per_second": n / seconds,
                             "latency_ratio_vs_in_process": seconds / base_s})
        rpc.close()
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="conv_vae")
    parser.add_argument("--batch-sizes", default="1,16,64")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    rows = run(args.model, tuple(int(b) for b in args.batch_sizes.split(",")), args.calls)
    print("| batch | way | ms/call | images/s | latency vs in-process |")
    print("|---:|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['batch']} | {r['way']} | {r['ms_per_call']:.2f} | "
              f"{r['images_per_second']:.0f} | {r['latency_ratio_vs_in_process']:.2f}x |")
    info = {"rows": rows, "model": args.model, "calls": args.calls,
            "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "tensorflow": tf.__version__, "load_average_start": load_start,
            "load_average_end": os.getloadavg()}
    print(f"load average start {load_start}, end {info['load_average_end']}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(info, f, indent=2)


if __name__ == "__main__":
    main()
