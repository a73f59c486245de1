"""Writes zoo models as versioned SavedModels.

Layout: BASE/NAME/VERSION/ with VERSION a positive integer, the layout TF
Serving polls. A version is written under a hidden temporary name in the
same directory and renamed into place, so a server watching BASE never
loads half a model.
"""

import errno
import json
import os
import re
import shutil
import tempfile

import keras

from export import layout
from export.audit import audit_saved_model


class ExportError(Exception):
    """The export could not be written; the message says why."""


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
    endpoints = model.serving_endpoints()
    if not endpoints:
        raise ExportError(f"model {model.registered_name!r} declares no "
                          "serving endpoints")
    if model.hub_endpoint not in endpoints:
        raise ExportError(f"hub endpoint {model.hub_endpoint!r} is not among "
                          f"the endpoints {sorted(endpoints)}")
    archive = keras.export.ExportArchive()
    archive.track(model)
    for endpoint, (fn, specs) in endpoints.items():
        archive.add_endpoint(endpoint, fn, input_signature=specs)
    fn, specs = endpoints[model.hub_endpoint]
    archive.add_endpoint("__call__", fn, input_signature=specs)
    # Reusable SavedModel convention (hub.KerasLayer): no extra losses.
    archive.regularization_losses = []
    archive.write_out(path, verbose=False)

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


def export_run(run_dir, base, name=None, version=None, overwrite=False):
    """Exports the trained model of a run directory into BASE/NAME/VERSION.

    Args:
      run_dir: a directory written by `training.train` (holds model.keras
        and run.json).
      base: the model base path a TF Serving server polls.
      name: model name under BASE; defaults to the run's model name.
      version: positive int; defaults to the next free version.
      overwrite: replace an existing version.

    Returns:
      The path of the written version directory.
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
    tmp_parent = tempfile.mkdtemp(prefix=".tmp-", dir=model_dir)
    tmp = os.path.join(tmp_parent, "model")
    try:
        metadata = {k: run_info[k] for k in ("dataset", "epochs", "batch_size",
                                             "evaluation") if k in run_info}
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
