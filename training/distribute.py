"""Where a run trains: `tf.distribute` strategies and mixed precision.

`--distribute`:
  none          the default strategy (one device);
  mirrored      `MirroredStrategy` over every local GPU, or over N logical
                CPU devices with `--cpu-replicas N` (how the tests run it);
  multi_worker  `MultiWorkerMirroredStrategy`, the cluster read from
                `TF_CONFIG`; every worker runs the same command;
  tpu           `TPUStrategy` on the TPU that `TPUClusterResolver` finds
                (documented, not testable here).

The model, both optimizers of a GAN, the seed generators and the metrics
are created in `strategy.scope()`; Keras' `fit` distributes the datasets
(shards by data, so any source works) and the batch size is the global
one. Losses are averaged over the global batch in `GenerativeModel.objective`.

`--mixed-precision`: off (float32), bfloat16 or float16, a Keras dtype
policy; models keep distributions, losses and outputs in float32, and under
float16 every optimizer is a `LossScaleOptimizer`.
"""

import contextlib
import json
import os

import keras
import tensorflow as tf

from zoo.errors import ConfigError

STRATEGIES = ("none", "mirrored", "multi_worker", "tpu")
PRECISIONS = {"off": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def use_cpu_replicas(n):
    """Splits the CPU into n logical devices (before TensorFlow uses it)."""
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError:
        existing = len(tf.config.list_logical_devices("CPU"))
        if existing != n:
            raise ConfigError(
                f"--cpu-replicas {n}: TensorFlow already runs on {existing} logical CPU "
                "device(s) in this process; pass it before anything uses TensorFlow") \
                from None


def make_strategy(kind="none", cpu_replicas=None):
    """The `tf.distribute.Strategy` for `--distribute KIND`.

    Args:
      kind: one of STRATEGIES.
      cpu_replicas: with "mirrored", train on this many logical CPU devices
        instead of the GPUs.
    """
    if kind not in STRATEGIES:
        raise ConfigError(f"--distribute must be one of {', '.join(STRATEGIES)}, got {kind!r}")
    if cpu_replicas is not None:
        if kind != "mirrored" or isinstance(cpu_replicas, bool) or \
                not isinstance(cpu_replicas, int) or cpu_replicas < 1:
            raise ConfigError("--cpu-replicas takes a positive integer and "
                              "--distribute mirrored")
        use_cpu_replicas(cpu_replicas)
        return tf.distribute.MirroredStrategy(
            [f"/cpu:{i}" for i in range(cpu_replicas)],
            cross_device_ops=tf.distribute.ReductionToOneDevice())
    if kind == "none":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ConfigError("--distribute multi_worker reads the cluster from TF_CONFIG, "
                              "which is not set")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except ValueError as e:
            raise ConfigError(f"TF_CONFIG is not valid JSON ({e})") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy):
    """True on the worker that writes the run directory and the export."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type is None:
        return True
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if "chief" in cluster:
        return task_type == "chief"
    return task_type == "worker" and task_id == 0


@contextlib.contextmanager
def precision(name="off"):
    """Builds layers under the Keras dtype policy of `--mixed-precision NAME`.

    Layers keep the policy they were built with, so the global policy is
    put back afterwards (other models in the process stay float32).
    """
    if name not in PRECISIONS:
        raise ConfigError(f"--mixed-precision must be one of {', '.join(PRECISIONS)}, "
                          f"got {name!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(PRECISIONS[name])
    try:
        yield PRECISIONS[name]
    finally:
        keras.config.set_dtype_policy(previous)


def shard_by_data(dataset):
    """`dataset` with the DATA auto-shard policy: each worker keeps its share
    of elements, which works for in-memory and file-backed sources alike."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = \
        tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
