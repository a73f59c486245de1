"""The training run behind `python -m training.train`, as importable functions.

A run directory holds:
  run.json        what was asked for (model, config, dataset, budget) and status
  model.keras     the trained model (written once training finished)
  samples/        epoch_NNN.png, a sample grid per epoch (same seed each time)
  latent/         manifold and interpolation grids for models with a latent space
  figures/        the model's own grids (`model.figures`), e.g. reconstructions
  logs/           TensorBoard scalars (train/, validation/) and images
  history.csv     per-epoch metrics, appended across resumed sessions
  backup/         the last finished epoch's checkpoint while a run is unfinished
  metrics.json    history, test evaluation before and after, throughput
  export/NAME/V/  the SavedModel (see `export`)

A killed run resumes from its last finished epoch when the same command is
run again. A finished run is never overwritten unless asked.
"""

import csv
import datetime
import inspect
import json
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

import zoo
from export import layout
from export.saved_model import non_finite_weights
from training import datasets, distribute as dist
from training.callbacks import NaNGuard, NonFiniteLossError, SampleGrid, Throughput
from training.streams import describe, few_label_stream, train_and_test
from training.warm_start import load_finished_model, warm_start
from training.checkpoint import EpochCheckpoint, finished_epochs, trim_history
from training.figures import write_latent_figures, write_model_figures
from training.likelihood import evaluate
from zoo.errors import ConfigError, ZooError

# Fields of run.json that must match for a killed run to resume.
_RESUME_KEYS = ("model", "config", "dataset", "batch_size", "seed",
                "learning_rate", "jit_compile", "distribute", "replicas",
                "mixed_precision", "labels")


class RunError(ZooError):
    """The run cannot start or continue; the message says why and what to do."""


def _write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, default=_json_default)
    os.replace(tmp, path)


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def _normalize(value):
    """JSON round-trip, so stored and fresh configs compare equal."""
    return json.loads(json.dumps(value, default=_json_default))


def build_model(name, image_shape, overrides=None, seed=0, num_classes=None,
                source_shape=None):
    """Builds a registered model for images of `image_shape`.

    Args:
      name: registered model name.
      image_shape: (H, W, C) of the dataset.
      overrides: constructor kwargs from `--set`.
      seed: used as the model's `seed` unless overridden.
      num_classes: the dataset's class count, used as the model's
        `num_classes` unless overridden.
      source_shape: the sources' (H, W, C) of an image-to-image dataset.
    """
    cls = zoo.get_class(name)
    kwargs = dict(overrides or {})
    if "image_shape" in kwargs and tuple(kwargs["image_shape"]) != tuple(image_shape):
        raise ConfigError(
            f"image_shape={tuple(kwargs['image_shape'])} does not match the "
            f"dataset's images {tuple(image_shape)}")
    kwargs["image_shape"] = tuple(image_shape)
    # Always-conditional models (num_classes defaults to a count, not None)
    # take their class count from the dataset.
    parameter = inspect.signature(cls.__init__).parameters.get("num_classes")
    if num_classes and parameter is not None and parameter.default is not None:
        kwargs.setdefault("num_classes", int(num_classes))
    accepted = zoo.registry.accepted_kwargs(cls)
    if "seed" in accepted:
        kwargs.setdefault("seed", seed)
    if source_shape is not None and "source_shape" in accepted:
        kwargs.setdefault("source_shape", tuple(source_shape))
    return zoo.get(name, **kwargs)


def check_labels_fit(model, dataset, data_info):
    """Refuses, before the run directory is touched, a class-conditional
    model on a dataset without labels or with more classes than it has."""
    if not model.requires_labels:
        return
    name = model.registered_name
    if not data_info.num_classes:
        what = "is class-conditional" if model.conditional else "learns from labels"
        raise ConfigError(f"{name} {what} and needs a labelled dataset; "
                          f"{dataset!r} has no labels")
    if getattr(model, "num_classes", None) and data_info.num_classes > model.num_classes:
        raise ConfigError(f"{dataset!r} has {data_info.num_classes} classes but {name} "
                          f"was given num_classes={model.num_classes}; drop the --set "
                          "num_classes to take the dataset's count")


def prepare_run_dir(out, run_info, overwrite=False):
    """Creates or checks the run directory; returns True when resuming.

    A finished run or a folder that is not a run directory is only replaced
    with `overwrite`; an unfinished run resumes only when its settings match.
    """
    run_json = os.path.join(out, layout.RUN_FILE)
    if os.path.exists(out) and not os.path.isdir(out):
        raise RunError(f"--out {out} is a file, not a folder; choose another --out")
    if os.path.isdir(out) and os.listdir(out):
        previous = None
        if os.path.isfile(run_json):
            try:
                with open(run_json) as f:
                    previous = json.load(f)
            except (OSError, ValueError) as e:
                if not overwrite:
                    raise RunError(f"{run_json} is unreadable ({e}); pass "
                                   "--overwrite to start over") from None
        if overwrite:
            shutil.rmtree(out)
        elif previous is None:
            raise RunError(
                f"{out} exists and is not a run directory; choose another "
                "--out or pass --overwrite to replace its contents")
        elif previous.get("status") == "complete":
            raise RunError(
                f"{out} already holds a finished run of "
                f"{previous.get('model')!r}; choose another --out or pass "
                "--overwrite to replace it")
        else:
            fresh = _normalize({k: run_info.get(k) for k in _RESUME_KEYS})
            stored = {k: previous.get(k) for k in _RESUME_KEYS}
            diff = [k for k in _RESUME_KEYS if fresh[k] != stored[k]]
            if diff:
                details = "; ".join(f"{k}: run has {stored[k]!r}, now "
                                    f"{fresh[k]!r}" for k in diff)
                raise RunError(
                    f"{out} holds an unfinished run with other settings "
                    f"({details}); rerun with the same settings to resume, "
                    "or pass --overwrite to start over")
            run_info["initial_evaluation"] = previous.get("initial_evaluation")
            run_info["created"] = previous.get("created")
            return True
    os.makedirs(out, exist_ok=True)
    return False


def _read_history(path):
    history = {}
    if os.path.isfile(path):
        with open(path) as f:
            for row in csv.DictReader(f):
                for key, value in row.items():
                    history.setdefault(key, []).append(float(value))
    return history


def train(model_name, dataset="digits", epochs=20, batch_size=64, out=None,
          overrides=None, seed=0, learning_rate=None, jit_compile=False,
          iwae_samples=100, export=True, overwrite=False, verbose="auto",
          data_dir=None, distribute="none", cpu_replicas=None, mixed_precision="off",
          init_from=None, labels=None):
    """Trains a registered model with `compile` + `fit`; returns metrics.json's dict.

    Args:
      model_name: registered model name (see `zoo.list_models()`).
      dataset: dataset spec (see `training.datasets`).
      epochs: total epochs (a resumed run continues up to this number).
      batch_size: training batch size.
      out: run directory; default runs/MODEL.
      overrides: model constructor kwargs.
      seed: seeds weights, data order, model randomness and sample grids
        (not the train/test split or the test binarization, which are fixed
        so runs are comparable). Identical seeds reproduce a run on the same
        machine and `jit_compile` setting: XLA draws other stateless random
        numbers than the default kernels for the same seed.
      learning_rate: learning rate; None uses the model's default
        (`model.make_optimizers`).
      jit_compile: XLA-compile the train step (training only; exports are
        never XLA-compiled).
      iwae_samples: k for the final importance-weighted log-likelihood.
      export: write the SavedModel to out/export/MODEL/VERSION.
      overwrite: replace a finished run or foreign folder at `out`.
      verbose: Keras `fit` verbosity.
      data_dir: tensorflow-datasets data directory.
      distribute: "none", "mirrored", "multi_worker" or "tpu"
        (`training.distribute`); `batch_size` is the global batch.
      cpu_replicas: with "mirrored", this many logical CPU devices.
      mixed_precision: "off", "bfloat16" or "float16".
      init_from: a finished run directory whose weights start this run
        (`training.warm_start`), e.g. a vq_vae's autoencoder for its prior.
      labels: None (every label the dataset has), or N: train on a
        class-balanced subset of N labels and the rest unlabelled
        (`training.datasets.load_partially_labelled`), for the models that
        learn from unlabelled examples.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ConfigError(f"epochs must be a positive integer, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    if learning_rate is not None and not learning_rate > 0:
        raise ConfigError(f"learning_rate must be > 0, got {learning_rate!r}")
    if isinstance(iwae_samples, bool) or not isinstance(iwae_samples, int) or iwae_samples < 0:
        raise ConfigError(f"iwae_samples must be an integer >= 0 (0 skips IWAE), got "
                          f"{iwae_samples!r}")
    zoo.get_class(model_name)
    policy = dist.PRECISIONS.get(mixed_precision)
    if policy is None:
        raise ConfigError(f"mixed_precision must be one of {', '.join(dist.PRECISIONS)}, "
                          f"got {mixed_precision!r}")
    strategy = dist.make_strategy(distribute, cpu_replicas)
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ConfigError(f"batch_size {batch_size} is the global batch: it must be a "
                          f"multiple of the {replicas} replicas")
    out = chief_out = out or os.path.join("runs", model_name)
    if not dist.is_chief(strategy):
        # Other workers train alongside the chief but write their own scratch folder.
        out = f"{out}.worker{strategy.cluster_resolver.task_id}"
        export = False
    data_info, source_shape = describe(model_name, dataset, data_dir)
    keras.utils.set_random_seed(seed)
    with strategy.scope(), dist.precision(mixed_precision):
        model = build_model(model_name, data_info.image_shape, overrides, seed,
                            data_info.num_classes, source_shape)
    check_labels_fit(model, dataset, data_info)
    few_labels = few_label_stream(model, dataset, labels, batch_size, seed, data_dir) \
        if labels is not None else None
    # Checked and copied before the run folder is touched (a resume then
    # restores its own checkpoint over it).
    warm_started = warm_start(model, load_finished_model(init_from)) if init_from else None

    run_info = _normalize({
        "model": model_name, "config": model.get_config(), "dataset": dataset,
        "batch_size": batch_size, "seed": seed, "learning_rate": learning_rate,
        "jit_compile": bool(jit_compile), "distribute": distribute, "replicas": replicas,
        "mixed_precision": mixed_precision, "epochs": epochs, "init_from": init_from,
        "labels": labels, "label_stream": few_labels and few_labels[1],
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
    })
    # The layer name embeds a global counter; it must not block a resume.
    run_info["config"].pop("name", None)
    run_json = os.path.join(out, layout.RUN_FILE)
    try:
        resuming = prepare_run_dir(out, run_info, overwrite)
        run_info["status"] = "running"
        _write_json(run_json, run_info)
    except OSError as e:
        raise RunError(f"cannot write the run directory {out}: {e.strerror or e}; "
                       "choose a writable --out") from None

    try:
        train_ds, test_ds = train_and_test(
            model, dataset, batch_size, seed, data_dir,
            model.requires_full_batches or replicas > 1, few_labels)
        if replicas > 1:
            train_ds, test_ds = dist.shard_by_data(train_ds), dist.shard_by_data(test_ds)
        with strategy.scope():
            model.compile(**model.make_optimizers(learning_rate), jit_compile=bool(jit_compile))
        if not resuming:
            run_info["warm_started"] = warm_started
            run_info["initial_evaluation"] = evaluate(model, test_ds, iwae_samples=0,
                                                      seed=seed)
            _write_json(run_json, run_info)

        first_test_batch = next(iter(test_ds))
        reference = np.asarray(model.images_from_batch(first_test_batch))[:32]
        # tfds reports split sizes only once prepared, which `load` just ensured.
        num_train = data_info.num_examples.get("train") or datasets.info(
            dataset, data_dir=data_dir).num_examples.get("train")
        throughput = Throughput(num_train)
        backup_dir = os.path.join(out, layout.BACKUP_DIR)
        history_csv = os.path.join(out, layout.HISTORY_FILE)
        # All workers resume from the chief's checkpoint: the same epoch.
        checkpoint = EpochCheckpoint(backup_dir, restore_from=[
            os.path.join(chief_out, layout.BACKUP_DIR), backup_dir])
        trim_history(history_csv, finished_epochs(*checkpoint.restore_from))
        callbacks = [
            NaNGuard(),
            keras.callbacks.CSVLogger(history_csv, append=True),
            keras.callbacks.TensorBoard(os.path.join(out, layout.LOGS_DIR)),
            SampleGrid(os.path.join(out, layout.SAMPLES_DIR),
                       os.path.join(out, layout.LOG_IMAGES_DIR), seed=seed,
                       reference_images=reference, reference_batch=first_test_batch),
            throughput,
            checkpoint,  # last: an epoch it marks done has its row and grid
        ]
        start = time.perf_counter()
        try:
            model.fit(train_ds, epochs=epochs, validation_data=test_ds,
                      callbacks=callbacks, verbose=verbose, shuffle=False)
        except NonFiniteLossError as e:
            if not finished_epochs(backup_dir):
                raise RunError(f"training stopped: {e}. No epoch finished, so there is "
                               "nothing to resume from; lower --learning-rate (or fix the "
                               "data) and rerun with --overwrite") from None
            raise RunError(
                f"training stopped: {e}. The last finished epoch is kept in "
                f"{backup_dir}; lower --learning-rate (or fix the data) and rerun "
                "with --overwrite, or rerun as is to resume from it") from None
        train_seconds = time.perf_counter() - start

        model_path = os.path.join(out, layout.MODEL_FILE)
        bad = non_finite_weights(model)
        if bad:
            raise RunError(f"the trained weights are not finite ({', '.join(bad[:3])}); "
                           "model.keras and the export were not written")
        model.save(model_path + ".tmp.keras")
        os.replace(model_path + ".tmp.keras", model_path)

        test_images = np.concatenate(
            [np.asarray(model.images_from_batch(b)) for b in test_ds.take(1)])
        write_latent_figures(model, os.path.join(out, layout.LATENT_DIR), test_images, seed)
        write_model_figures(model, os.path.join(out, layout.FIGURES_DIR), test_images, seed)
        final = evaluate(model, test_ds, iwae_samples=iwae_samples, seed=seed)
        metrics = {
            "model": model_name, "dataset": dataset, "epochs": epochs,
            "history": _read_history(history_csv),
            "initial_evaluation": run_info.get("initial_evaluation"),
            "evaluation": final,
            "train_seconds_this_session": train_seconds,
            "train_images_per_second": throughput.steady_rate(),
        }
        metrics_json = os.path.join(out, layout.METRICS_FILE)
        _write_json(metrics_json, metrics)
        run_info["evaluation"] = final
        _write_json(run_json, run_info)

        if export:
            from export.saved_model import export_run

            metrics["export"] = export_run(out, os.path.join(out, layout.EXPORT_DIR), reuse=True)
            _write_json(metrics_json, metrics)
        run_info["status"] = "complete"
        _write_json(run_json, run_info)
        shutil.rmtree(backup_dir, ignore_errors=True)
        return metrics
    except Exception as e:
        # A failure is recorded (the run stays resumable); a kill leaves "running".
        run_info.update(status="failed", error=f"{type(e).__name__}: {e}"[:2000])
        try:
            _write_json(run_json, run_info)
        except OSError:
            pass
        if isinstance(e, tf.errors.ResourceExhaustedError):
            raise RunError(f"out of memory ({str(e).splitlines()[0][:300]}); lower "
                           "--batch-size or the model's size (--set ...)") from None
        raise
