"""Writes zoo models as versioned SavedModels.

Layout: BASE/NAME/VERSION/ with VERSION a positive integer, the layout TF
Serving polls. A version is written under a hidden temporary name in the
same directory and renamed into place, so a server watching BASE never
loads half a model.
"""

import errno
import hashlib
import inspect
import json
import os
import re
import shutil
import socket
import tempfile

import keras
import tensorflow as tf

from export import layout
from export.audit import audit_saved_model


class ExportError(Exception):
    """The export could not be written; the message says why."""


def non_finite_weights(model):
    """Paths of the model's variables that hold NaN or infinity."""
    import numpy as np

    return [w.path for w in model.weights
            if np.issubdtype(np.dtype(w.dtype), np.floating)
            and not np.all(np.isfinite(np.asarray(w.numpy())))]


# Hidden temporary folders are named .tmp-HOST-PID-..., so a later export can
# tell its own machine's leftovers of dead processes from live exports.
_TMP_PREFIX = ".tmp-"


def _tmp_prefix():
    return f"{_TMP_PREFIX}{socket.gethostname()}-{os.getpid()}-"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(model_dir):
    """Deletes the temporary folders that killed exports on this machine left
    under `model_dir` (their process is gone); returns what was removed.
    Folders of live exports, of other machines, or of an older naming are kept."""
    removed = []
    if not os.path.isdir(model_dir):
        return removed
    host = socket.gethostname()
    for entry in os.listdir(model_dir):
        match = re.fullmatch(re.escape(_TMP_PREFIX + host) + r"-(\d+)-.*", entry)
        if match and not _pid_alive(int(match.group(1))):
            shutil.rmtree(os.path.join(model_dir, entry), ignore_errors=True)
            removed.append(entry)
    return removed


def file_digest(path):
    """sha256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_identity(run_dir, run_info):
    """Names one training run: its folder and creation time (kept on resume,
    new with --overwrite), or None for a run.json without a creation time."""
    created = run_info.get("created")
    return f"{os.path.realpath(run_dir)}@{created}" if created else None


def _exported_version_of(model_dir, source_run):
    """The complete version under `model_dir` exported from run `source_run`."""
    for v in reversed(layout.versions(model_dir)):
        path = os.path.join(model_dir, str(v))
        try:
            with open(os.path.join(path, layout.METADATA_FILE)) as f:
                if json.load(f).get("source_run") == source_run:
                    return path
        except (OSError, ValueError):
            continue
    return None


def _format_tensors(tensors):
    return ", ".join(f"`{k}` {v['dtype']} {v['shape']}" for k, v in tensors.items())


def _model_card(name, info):
    """README.md of an export: what it is, how it was trained, how to call it."""
    cls = info["model"]
    lines = [f"# {name}", "", f"Zoo model `{cls}` exported as a TF Serving SavedModel "
                              f"by zoo {info['zoo_version']}."]
    if info.get("dataset"):
        lines.append(f"Trained on `{info['dataset']}` for {info.get('epochs', '?')} epochs "
                     f"(batch size {info.get('batch_size', '?')}).")
    evaluation = info.get("evaluation") or {}
    if evaluation:
        lines += ["", "## Evaluation (test split)", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.6g} |" if isinstance(v, float) else f"| {k} | {v} |"
                  for k, v in evaluation.items()]
    lines += ["", "## Signatures", "", "Batch-major: every input and output has the batch "
              "as dimension 0 (-1 below), so TF Serving may batch requests.", "",
              "| signature | inputs | outputs |", "|---|---|---|"]
    for sig, spec in info["signatures"].items():
        lines.append(f"| `{sig}` | {_format_tensors(spec['inputs'])} | "
                     f"{_format_tensors(spec['outputs'])} |")
    default = info["signatures"].get("serving_default")
    if default:
        from export.warmup import example_batch

        instance = {k: v[0].tolist() for k, v in example_batch(default["inputs"]).items()}
        body = json.dumps({"signature_name": "serving_default", "instances": [instance]})
        lines += ["", "## Serving", "", "```bash",
                  f"curl -s -X POST http://localhost:8501/v1/models/{name}:predict \\",
                  f"  -d '{body}'", "```"]
    lines += ["", "## Loading", "", "```python",
              "import tensorflow as tf",
              "model = tf.saved_model.load(PATH)  # or export.hub.load(PATH), hub.load(PATH)",
              "model.signatures['serving_default'](**inputs)",
              f"model(...)  # __call__ = the `{info['hub_endpoint']}` signature",
              "```", "", "## Config", "", "```json",
              json.dumps(info["config"], indent=2, default=str), "```", ""]
    return "\n".join(lines)


def _batch_guarded(fn, specs):
    """`fn` with its batch-major inputs checked and an empty batch answered.

    Inputs must agree on the number of rows (in-graph): a request with 2
    images and 1 seed row would otherwise broadcast, or fail deep inside the
    model with an unrelated message. A request of 0 rows is run on one row of
    zeros and sliced back to 0 rows, because some kernels (oneDNN's fused
    convolutions) reject empty batches.
    """
    batched = [i for i, s in enumerate(specs) if s.shape.rank and s.shape[0] is None]
    if not batched:
        return fn
    names = [specs[i].name for i in batched]

    def guarded(*args):
        rows = tf.shape(args[batched[0]])[0]
        checks = [tf.debugging.assert_equal(
            tf.shape(args[i])[0], rows,
            message=f"inputs {', '.join(names)} need the same number of rows (one per "
                    f"example); {specs[i].name} differs from {names[0]}")
            for i in batched[1:]]
        with tf.control_dependencies(checks):
            pad = tf.maximum(1 - rows, 0)
            args = [tf.concat([a, tf.zeros(tf.concat([[pad], tf.shape(a)[1:]], 0), a.dtype)],
                              0) if i in batched else a for i, a in enumerate(args)]
        outputs = fn(*args)
        return {k: v[:rows] if v.shape.rank else v for k, v in outputs.items()}

    # The exported signature names its inputs after the parameters.
    guarded.__signature__ = inspect.Signature([
        inspect.Parameter(s.name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for s in specs])
    return guarded


def export_model(model, path, metadata=None, name=None):
    """Writes `model` as a SavedModel at `path`, which must not exist.

    Every entry of `model.serving_endpoints()` becomes a signature with named
    inputs and dict outputs; `__call__` aliases `model.hub_endpoint` so
    `hub.load(path)(inputs)` and `hub.KerasLayer` work. Variables are
    tracked, so `keras.layers.TFSMLayer` can fine-tune them.

    Beside the SavedModel it writes a warmup request per signature
    (assets.extra/tf_serving_warmup_requests), metadata.json and a model
    card README.md.

    Args:
      model: a `zoo.base.GenerativeModel`.
      path: destination directory.
      metadata: optional dict stored in metadata.json (dataset, epochs,
        batch_size, evaluation, ...).
      name: the name the model is served under (default: registered name).

    Returns:
      The dict written to metadata.json.
    """
    from export.signatures import signature_defs
    from export.warmup import write_warmup
    from zoo import __version__ as zoo_version  # here: export.hub must load without the zoo

    name = name or model.registered_name
    if os.path.exists(path):
        raise ExportError(f"export path {path} already exists")
    bad = non_finite_weights(model)
    if bad:
        raise ExportError(f"model {model.registered_name!r} has non-finite weights "
                          f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); "
                          "nothing was exported")
    endpoints = model.serving_endpoints()
    if not endpoints:
        raise ExportError(f"model {model.registered_name!r} declares no "
                          "serving endpoints")
    if model.hub_endpoint not in endpoints:
        raise ExportError(f"hub endpoint {model.hub_endpoint!r} is not among "
                          f"the endpoints {sorted(endpoints)}")
    archive = keras.export.ExportArchive()
    archive.track(model)
    endpoints = {k: (_batch_guarded(fn, specs), specs) for k, (fn, specs) in endpoints.items()}
    for endpoint, (fn, specs) in endpoints.items():
        archive.add_endpoint(endpoint, fn, input_signature=specs)
    fn, specs = endpoints[model.hub_endpoint]
    archive.add_endpoint("__call__", fn, input_signature=specs)
    # Reusable SavedModel convention (hub.KerasLayer): no extra losses.
    archive.regularization_losses = []
    # No zoo function defines a custom gradient, and tracing the gradient of
    # every saved function for them costs ~20% of an export (loaded
    # functions still differentiate with the ops' registered gradients).
    archive.write_out(path, verbose=False, options=tf.saved_model.SaveOptions(
        experimental_custom_gradients=False))

    problems = audit_saved_model(path)
    if problems:
        shutil.rmtree(path, ignore_errors=True)
        raise ExportError("export is not servable by TF Serving:\n  " +
                          "\n  ".join(problems))
    signatures = signature_defs(path)
    write_warmup(path, name, signatures)
    info = dict(metadata or {})
    info.update(
        name=name,
        model=model.registered_name,
        zoo_version=zoo_version,
        config=model.get_config(),
        image_shape=list(model.image_shape),
        hub_endpoint=model.hub_endpoint,
        signatures=signatures,
    )
    with open(os.path.join(path, layout.METADATA_FILE), "w") as f:
        json.dump(info, f, indent=2, default=str)
    with open(os.path.join(path, layout.CARD_FILE), "w") as f:
        f.write(_model_card(name, info))
    return info


def export_run(run_dir, base, name=None, version=None, overwrite=False, reuse=False):
    """Exports the trained model of a run directory into BASE/NAME/VERSION.

    Every version records the run it came from (`source_run`: the run folder
    and its creation time) and the sha256 of its model.keras
    (`source_model_sha256`) in metadata.json; temporary folders that killed
    exports of this machine left behind are removed first.

    Args:
      run_dir: a directory written by `training.train` (holds model.keras
        and run.json).
      base: the model base path a TF Serving server polls.
      name: model name under BASE; defaults to the run's model name.
      version: positive int; defaults to the next free version.
      overwrite: replace an existing version.
      reuse: return the version already exported from this run, if there
        is one, instead of writing another (the trainer's export step, so a
        run resumed after a kill during its export does not export twice).

    Returns:
      The path of the written (or reused) version directory.
    """
    model_path = os.path.join(run_dir, layout.MODEL_FILE)
    if not os.path.isfile(model_path):
        raise ExportError(f"{run_dir} holds no trained model ({model_path} is "
                          "missing); train first with python -m training.train")
    run_info = {}
    run_json = os.path.join(run_dir, layout.RUN_FILE)
    if os.path.isfile(run_json):
        with open(run_json) as f:
            run_info = json.load(f)
    try:
        model = keras.saving.load_model(model_path, compile=False)
    except Exception as e:  # corrupt or foreign file
        raise ExportError(f"cannot load {model_path}: {e}") from e
    name = name or run_info.get("model") or model.registered_name
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(name)):
        raise ExportError(f"model name {name!r} may hold only letters, digits, "
                          "'_', '.', '-'")
    model_dir = os.path.join(base, name)
    remove_stale_temporaries(model_dir)
    source_run = run_identity(run_dir, run_info)
    if reuse and source_run and version is None and not overwrite:
        existing = _exported_version_of(model_dir, source_run)
        if existing is not None:
            return existing
    explicit = version is not None
    if not explicit:
        version = layout.next_version(model_dir)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ExportError(f"version must be a positive integer, got {version!r}")
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final) and not overwrite:
        raise ExportError(f"{final} already exists; pass --overwrite to replace "
                          "it or choose another --version")
    os.makedirs(model_dir, exist_ok=True)
    # A non-numeric name in the same directory: servers ignore it, and the
    # final rename is atomic on one filesystem.
    tmp_parent = tempfile.mkdtemp(prefix=_tmp_prefix(), dir=model_dir)
    tmp = os.path.join(tmp_parent, "model")
    try:
        metadata = {k: run_info[k] for k in ("dataset", "epochs", "batch_size",
                                             "evaluation") if k in run_info}
        metadata.update(source_run=source_run, source_model_sha256=file_digest(model_path))
        export_model(model, tmp, metadata=metadata, name=name)
        if overwrite and os.path.exists(final):
            # Out of the way first (one rename), so the version never holds a mix.
            os.rename(final, os.path.join(tmp_parent, "replaced"))
        final = _publish(tmp, model_dir, version, retry=not explicit)
    finally:
        shutil.rmtree(tmp_parent, ignore_errors=True)
    return final


def _publish(tmp, model_dir, version, retry):
    """Renames `tmp` to MODEL_DIR/VERSION, never over a version another export
    just published: a rename onto a non-empty directory fails, so a
    concurrent export that picked the same number moves on to the next one
    (`retry`) or stops (an explicit --version)."""
    while True:
        final = os.path.join(model_dir, str(version))
        try:
            os.rename(tmp, final)
            return final
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not retry:
                raise ExportError(f"cannot publish {final}: {e}") from None
            version = max(version + 1, layout.next_version(model_dir))
