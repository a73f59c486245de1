"""Export: versioned layout, atomic writes, op audit, serving-style loading."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import export
from export import __main__ as export_cli
from export.saved_model import ExportError
from tests import contract
from training.trainer import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "conv_vae")
    train("conv_vae", epochs=1, batch_size=256, out=out, export=False, verbose=0,
          iwae_samples=2, overrides=contract.tiny("conv_vae"))
    return out


def test_versions_count_up_and_are_never_overwritten(run_dir, tmp_path, capsys):
    base = str(tmp_path / "models")
    assert export_cli.main([run_dir, "--base", base]) == 0
    assert export_cli.main([run_dir, "--base", base, "--name", "digits_vae"]) == 0
    assert export_cli.main([run_dir, "--base", base]) == 0
    assert sorted(os.listdir(os.path.join(base, "conv_vae"))) == ["1", "2"]
    assert os.listdir(os.path.join(base, "digits_vae")) == ["1"]
    capsys.readouterr()
    assert export_cli.main([run_dir, "--base", base, "--version", "1"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert export_cli.main([run_dir, "--base", base, "--version", "1", "--overwrite"]) == 0
    meta = json.load(open(os.path.join(base, "conv_vae", "1", "metadata.json")))
    assert meta["model"] == "conv_vae" and meta["dataset"] == "digits"
    assert {"serving_default", "decode", "encode", "reconstruct", "elbo"} <= set(meta["signatures"])
    assert meta["signatures"]["elbo"]["inputs"]["seed"] == {"dtype": "int32",
                                                            "shape": [-1, 2]}
    assert meta["signatures"]["serving_default"]["outputs"]["images"] == {
        "dtype": "float32", "shape": [-1, 8, 8, 1]}
    card = open(os.path.join(base, "conv_vae", "1", "README.md")).read()
    assert "curl" in card and "`elbo`" in card and "test_elbo_nats" in card


def test_one_version_discovery_ignores_incomplete_numeric_folders(tmp_path):
    from export import hub, layout
    from export.config import scan

    model_dir = tmp_path / "vae"
    for version in ("1", "2", "010", "8"):  # "010" is no canonical version number
        (model_dir / version / "variables").mkdir(parents=True)
        (model_dir / version / "saved_model.pb").write_bytes(b"")
        if version != "8":  # 8 lost its variables: a copy that stopped half-way
            (model_dir / version / "variables" / "variables.index").write_bytes(b"")
    (model_dir / "7").mkdir()  # numeric but without a SavedModel: a failed copy
    (model_dir / ".tmp-x").mkdir()
    assert layout.versions(str(model_dir)) == [1, 2]
    assert layout.latest_version(str(model_dir)) == 2
    assert layout.version_dir(str(model_dir)) == str(model_dir / "2")
    assert export.next_version(str(model_dir)) == 3
    (model_dir / "3").mkdir()  # never export into an existing folder
    assert export.next_version(str(model_dir)) == 4
    # Everything that looks for versions agrees.
    assert scan(str(tmp_path)) == {"vae": [1, 2]}
    assert hub.resolve(model_dir) == str(model_dir / "2")
    assert layout.versions(str(tmp_path / "missing")) == []
    assert layout.version_dir(str(tmp_path / "missing")) is None


@pytest.mark.parametrize("args,message", [
    (["{tmp}/missing"], "holds no trained model"),
    (["{run}", "--name", "a/b"], "may hold only"),
    (["{run}", "--version", "0"], "positive integer"),
])
def test_export_cli_errors(run_dir, tmp_path, capsys, args, message):
    argv = [a.format(tmp=tmp_path, run=run_dir) for a in args]
    assert export_cli.main(argv + ["--base", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err


def test_failed_export_leaves_only_complete_versions(run_dir, tmp_path, monkeypatch):
    base = tmp_path / "models"
    export.export_run(run_dir, str(base))
    real = export.saved_model.export_model

    def crash_midway(model, path, metadata=None, name=None):
        real(model, path, metadata, name)  # the files are all there...
        raise KeyboardInterrupt  # ...but the process dies before the rename

    monkeypatch.setattr(export.saved_model, "export_model", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        export.export_run(run_dir, str(base))
    assert os.listdir(base / "conv_vae") == ["1"]


def test_corrupt_run_gives_clear_error(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"garbage")
    with pytest.raises(ExportError, match="cannot load"):
        export.export_run(str(tmp_path), str(tmp_path / "b"))


def test_saved_model_cli_runs_every_signature(run_dir, tmp_path):
    path = export.export_run(run_dir, str(tmp_path / "models"))
    model = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    for signature, (_, specs) in model.serving_endpoints().items():
        args = []
        for name, value in contract.example_inputs(model, specs, n=2).items():
            np.save(tmp_path / f"{signature}_{name}.npy", value)
            args.append(f"{name}={tmp_path}/{signature}_{name}.npy")
        proc = subprocess.run(
            # The module, not the console script: fresh venvs may lack it on PATH.
            [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "run",
             "--dir", path, "--tag_set", "serve", "--signature_def", signature,
             "--inputs", ";".join(args)],
            capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "Result for output key" in proc.stdout, proc.stdout


def test_hub_and_tfsmlayer_load_the_export(run_dir, tmp_path):
    import tensorflow_hub as hub

    path = export.export_run(run_dir, str(tmp_path))
    model = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    z = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    expected = model.decode(z).numpy()
    module = hub.load(path)
    np.testing.assert_allclose(module(z=tf.constant(z))["images"], expected, atol=1e-5)
    assert len(module.trainable_variables) == len(model.trainable_variables)
    layer = keras.layers.TFSMLayer(path, call_endpoint="decode")
    np.testing.assert_allclose(layer(z)["images"], expected, atol=1e-5)
    seeds = np.array([[7, 0], [7, 1]], np.int32)
    served = keras.layers.TFSMLayer(path, call_endpoint="serving_default")(seeds)
    np.testing.assert_allclose(served["images"], model.sample(2, seed=7), atol=1e-5)


def test_serving_signature_rejects_out_of_range_images(run_dir, tmp_path):
    path = export.export_run(run_dir, str(tmp_path))
    loaded = tf.saved_model.load(path)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 1\]"):
        loaded.signatures["reconstruct"](images=tf.fill([1, 8, 8, 1], 3.0))


def test_hub_predict_gives_the_models_message_and_refuses_wrapping_seeds(run_dir, tmp_path):
    m = export.hub.load(export.export_run(run_dir, str(tmp_path)))
    with pytest.raises(export.hub.HubError, match=r"'reconstruct' rejected the request: "
                                                  r"images must be in \[0, 1\]$"):
        m.predict("reconstruct", images=np.full([1, 8, 8, 1], 3.0, np.float32))
    with pytest.raises(export.hub.HubError, match="'seed' must fit int32"):
        m.predict("serving_default", seed=np.array([[2**31, 0]], np.int64))
    # In range, a wider integer type is fine.
    wide = m.predict("serving_default", seed=np.array([[2**31 - 1, 0]], np.int64))
    narrow = m.predict("serving_default", seed=np.array([[2**31 - 1, 0]], np.int32))
    np.testing.assert_array_equal(wide["images"], narrow["images"])
    with pytest.raises(export.hub.HubError, match="images, seed need the same number of rows"):
        m.predict("elbo", images=np.zeros([2, 8, 8, 1], np.float32),
                  seed=np.zeros([1, 2], np.int32))


def test_audit_flags_python_and_xla_functions(tmp_path):
    module = tf.Module()
    module.py = tf.function(lambda x: tf.py_function(lambda v: v * 2, [x], tf.float32),
                            input_signature=[tf.TensorSpec([None], tf.float32)])
    module.xla = tf.function(lambda x: x * 2, jit_compile=True,
                             input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "bad"),
                        signatures={"py": module.py, "xla": module.xla})
    problems = "\n".join(export.audit_saved_model(str(tmp_path / "bad")))
    assert "EagerPyFunc" in problems and "XLA" in problems, problems


def test_export_refuses_unservable_endpoints(tmp_path):
    model = contract.build("vae")
    endpoints = model.serving_endpoints()
    endpoints["serving_default"] = (
        lambda seed: {"images": tf.numpy_function(lambda s: s.astype(np.float32),
                                                  [seed], tf.float32)},
        [model.seed_spec()])
    model.serving_endpoints = lambda: endpoints
    with pytest.raises(ExportError, match="not servable"):
        export.export_model(model, str(tmp_path / "m"))
    assert not os.path.exists(tmp_path / "m")


def test_signatures_reject_wrong_image_shape_clearly(run_dir, tmp_path):
    loaded = tf.saved_model.load(export.export_run(run_dir, str(tmp_path)))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"shape \[N, 8, 8, 1\]"):
        loaded.signatures["reconstruct"](images=tf.zeros([1, 8, 8, 3]))


def test_concurrent_exports_never_replace_each_other(run_dir, tmp_path, monkeypatch):
    """Issue #12, defect 3: an export that picked version 1 while another was
    still writing it publishes as 2; neither is lost."""
    import export.saved_model as saved_model

    write = saved_model.export_model

    def race(base):
        def racing(model, path, **kwargs):
            # The other export finishes while this one is still writing.
            monkeypatch.setattr(saved_model, "export_model", write)
            assert saved_model.export_run(run_dir, base).endswith(os.sep + "1")
            return write(model, path, **kwargs)

        monkeypatch.setattr(saved_model, "export_model", racing)

    base = str(tmp_path / "models")
    race(base)
    assert saved_model.export_run(run_dir, base).endswith(os.sep + "2")
    model_dir = os.path.join(base, "conv_vae")
    assert sorted(os.listdir(model_dir)) == ["1", "2"]  # no temporary folder left
    for version in ("1", "2"):
        assert os.path.isfile(os.path.join(model_dir, version, "saved_model.pb"))
    # An explicit version that is taken meanwhile is an error, not a replacement.
    other = str(tmp_path / "other")
    race(other)
    with pytest.raises(saved_model.ExportError, match="cannot publish"):
        saved_model.export_run(run_dir, other, version=1)
    assert sorted(os.listdir(os.path.join(other, "conv_vae"))) == ["1"]
