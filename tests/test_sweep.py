"""The bad-input sweep of issue #12: every case a new user tried, as a test.

Each case runs a CLI (`zoo train|evaluate|export`, in-process) on a bad
input beside a finished run and an export base, and asserts what the issue
asks of all of them: exit status 2, one `error:` line naming the problem, no
traceback, and, by checksum, nothing that existed before lost or changed.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from training.cli import main as zoo_main

TINY = ["--set", "latent_dim=2", "--set", "hidden_units=(16,)", "--verbose", "0",
        "--iwae-samples", "0"]
RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (60, 8, 8), np.uint8)


def _npz(**arrays):
    return lambda d: np.savez(os.path.join(d, "data.npz"), **arrays)


def _png_folder(kind):
    def make(d):
        from PIL import Image

        folder = os.path.join(d, "images")
        os.makedirs(folder)
        for i in range(20):
            size = (8, 8) if kind != "mixed" or i % 2 else (10, 12)
            Image.fromarray(RNG.integers(0, 256, size, np.uint8), "L").save(
                os.path.join(folder, f"{i:02d}.png"))
        bad = os.path.join(folder, "05.png")
        if kind == "corrupt":
            open(bad, "wb").write(b"not a png at all")
        elif kind == "truncated":
            data = open(bad, "rb").read()
            open(bad, "wb").write(data[:len(data) // 2])
    return make


def _file(name, data=b"keep me"):
    return lambda d: open(os.path.join(d, name), "wb").write(data)


def _unfinished_run(d):
    os.makedirs(os.path.join(d, "half"))
    json.dump({"model": "vae", "status": "running", "batch_size": 1},
              open(os.path.join(d, "half", "run.json"), "w"))


def _corrupt_model(d):
    os.makedirs(os.path.join(d, "broken"))
    shutil.copy(os.path.join(d, "run", "run.json"), os.path.join(d, "broken"))
    open(os.path.join(d, "broken", "model.keras"), "wb").write(b"PK\x03\x04 truncated")


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T, E, X = "train", "evaluate", "export"
D = "npz:{d}/data.npz"
# (id, command, argv with {d} for the workspace, setup, words the error must hold)
CASES = [
    # ------------------------------------------------------------ names
    ("unknown_model", T, ["vea"], None, "unknown model 'vea'"),
    ("unknown_dataset", T, ["vae", "--dataset", "mnsit"], None, "mnsit"),
    ("unknown_tfds_builder", T, ["vae", "--dataset", "tfds:no_such_builder"], None,
     "no_such_builder"),
    ("unknown_command", None, ["trian"], None, "unknown command 'trian'"),
    # ------------------------------------------------------------ npz files
    ("npz_missing", T, ["vae", "--dataset", "npz:{d}/nope.npz"], None, "nope.npz"),
    ("npz_corrupt", T, ["vae", "--dataset", D], _file("data.npz", b"not a zip"), "data.npz"),
    ("npz_without_x", T, ["vae", "--dataset", D], _npz(images=IMAGES), "'x'"),
    ("npz_rank_2", T, ["vae", "--dataset", D], _npz(x=np.zeros((5, 8), np.uint8)), "shape"),
    ("npz_rank_5", T, ["vae", "--dataset", D], _npz(x=np.zeros((5, 8, 8, 1, 1), np.uint8)),
     "shape"),
    ("npz_strings", T, ["vae", "--dataset", D], _npz(x=np.full((5, 8, 8), "a")), "dtype"),
    ("npz_complex", T, ["vae", "--dataset", D], _npz(x=np.zeros((5, 8, 8), np.complex64)),
     "dtype"),
    ("npz_nan_pixels", T, ["vae", "--dataset", D],
     _npz(x=np.where(IMAGES > 128, np.nan, 0.5).astype(np.float32)), "nan"),
    ("npz_inf_pixels", T, ["vae", "--dataset", D],
     _npz(x=np.where(IMAGES > 128, np.inf, 0.5).astype(np.float32)), "inf"),
    ("npz_empty", T, ["vae", "--dataset", D], _npz(x=np.zeros((0, 8, 8), np.uint8)), "empty"),
    ("npz_five_channels", T, ["vae", "--dataset", D],
     _npz(x=np.zeros((10, 8, 8, 5), np.uint8)), "channels"),
    ("npz_label_count", T, ["cgan", "--dataset", D], _npz(x=IMAGES, y=np.arange(50) % 10),
     "'y' has length 50"),
    ("npz_fractional_labels", T, ["cgan", "--dataset", D],
     _npz(x=IMAGES, y=np.linspace(0, 1, 60)), "integer"),
    ("npz_negative_labels", T, ["cgan", "--dataset", D], _npz(x=IMAGES, y=-np.ones(60, int)),
     "negative"),
    # ------------------------------------------------------------ image folders
    ("dir_missing", T, ["vae", "--dataset", "dir:{d}/nowhere"], None, "nowhere"),
    ("dir_empty", T, ["vae", "--dataset", "dir:{d}/empty"],
     lambda d: os.makedirs(os.path.join(d, "empty")), "no images"),
    ("dir_corrupt_png", T, ["vae", "--dataset", "dir:{d}/images"], _png_folder("corrupt"),
     "05.png"),
    ("dir_truncated_png", T, ["vae", "--dataset", "dir:{d}/images"], _png_folder("truncated"),
     "05.png"),
    ("dir_mixed_sizes", T, ["vae", "--dataset", "dir:{d}/images"], _png_folder("mixed"),
     "size"),
    # ------------------------------------------------------------ --set
    ("set_unknown_key", T, ["vae", "--set", "latnet_dim=3"], None, "latnet_dim"),
    ("set_not_a_value", T, ["vae", "--set", "latent_dim=abc"], None, "latent_dim"),
    ("set_zero", T, ["vae", "--set", "latent_dim=0"], None, "latent_dim"),
    ("set_negative", T, ["vae", "--set", "latent_dim=-3"], None, "latent_dim"),
    ("set_without_equals", T, ["vae", "--set", "latent_dim"], None, "key=value"),
    ("set_zero_units", T, ["vae", "--set", "hidden_units=(0,)"], None, "hidden_units"),
    ("set_bad_choice", T, ["conv_vae", "--set", "likelihood=poisson"], None, "likelihood"),
    ("set_wrong_type", T, ["vae", "--set", "latent_dim=2.5"], None, "latent_dim"),
    # ------------------------------------------------------------ flags
    ("epochs_zero", T, ["vae", "--epochs", "0"], None, "epochs"),
    ("epochs_negative", T, ["vae", "--epochs", "-1"], None, "epochs"),
    ("epochs_not_int", T, ["vae", "--epochs", "abc"], None, "--epochs"),
    ("batch_size_zero", T, ["vae", "--batch-size", "0"], None, "batch_size"),
    ("batch_size_negative", T, ["vae", "--batch-size", "-4"], None, "batch_size"),
    ("learning_rate_zero", T, ["vae", "--learning-rate", "0"], None, "learning_rate"),
    ("learning_rate_nan", T, ["vae", "--learning-rate", "nan"], None, "learning_rate"),
    ("iwae_samples_negative", T, ["vae", "--iwae-samples", "-5"], None, "iwae_samples"),
    ("distribute_unknown", T, ["vae", "--distribute", "mirorred"], None, "mirorred"),
    ("precision_unknown", T, ["vae", "--mixed-precision", "fp8"], None, "fp8"),
    ("cpu_replicas_zero", T, ["vae", "--distribute", "mirrored", "--cpu-replicas", "0"], None,
     "--cpu-replicas"),
    # A fresh process: this one's TensorFlow already has its one CPU device.
    ("batch_not_multiple_of_replicas", "train-subprocess",
     ["vae", "--distribute", "mirrored", "--cpu-replicas", "2", "--batch-size", "3"], None,
     "multiple of the 2 replicas"),
    ("unknown_flag", T, ["vae", "--epoch", "3", "--colour"], None, "--colour"),
    # ------------------------------------------------------------ run directories
    ("out_is_a_file", T, ["vae", "--out", "{d}/notes.txt"], _file("notes.txt"),
     "is a file, not a folder"),
    ("out_foreign_folder", T, ["vae", "--out", "{d}"], None, "not a run directory"),
    ("finished_run_without_overwrite", T, ["vae", "--out", "{d}/run", "--epochs", "1"], None,
     "already holds a finished run"),
    ("overwrite_with_a_failing_check", T,
     ["cgan", "--out", "{d}/run", "--overwrite", "--dataset", D], _npz(x=IMAGES),
     "cgan is class-conditional and needs a labelled dataset"),
    ("unfinished_run_other_settings", T, ["vae", "--out", "{d}/half"], _unfinished_run,
     "unfinished run with other settings"),
    ("too_many_classes_for_num_classes", T,
     ["cgan", "--dataset", D, "--set", "num_classes=10"],
     _npz(x=IMAGES, y=np.arange(60) % 12), "has 12 classes but cgan was given num_classes=10"),
    # ------------------------------------------------------------ evaluate
    ("evaluate_without_dataset", E, ["{d}/run"], None, "give TARGET and --dataset"),
    ("evaluate_missing_target", E, ["{d}/nowhere", "--dataset", "digits"], None, "nowhere"),
    ("evaluate_not_a_run", E, ["{d}", "--dataset", "digits"], None,
     "neither a run directory"),
    ("evaluate_unknown_metric", E, ["{d}/run", "--dataset", "digits", "--metrics",
                                    "fid,sharpness"], None, "sharpness"),
    ("evaluate_corrupt_model", E, ["{d}/broken", "--dataset", "digits"], _corrupt_model,
     "model.keras"),
    ("evaluate_bad_num_samples", E, ["{d}/run", "--dataset", "digits", "--num-samples", "0"],
     None, "--num-samples"),
    ("evaluate_unknown_dataset", E, ["{d}/run", "--dataset", "mnsit"], None, "mnsit"),
    # ------------------------------------------------------------ export
    ("export_missing_run", X, ["{d}/nowhere", "--base", "{d}/models"], None, "nowhere"),
    ("export_corrupt_model", X, ["{d}/broken", "--base", "{d}/models"], _corrupt_model,
     "model.keras"),
    ("export_existing_version", X, ["{d}/run", "--base", "{d}/models", "--version", "1"],
     None, "already exists"),
]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished, exported run and an export base, copied into each case."""
    root = tmp_path_factory.mktemp("finished")
    run = root / "run"
    assert zoo_main(["train", "vae", "--epochs", "1", "--out", str(run), "--no-export",
                     *TINY]) == 0
    assert zoo_main(["export", str(run), "--base", str(root / "models")]) == 0
    return root


def _checksums(root):
    sums = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                sums[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return sums


def test_the_sweep_has_every_case_of_the_issue():
    assert len(CASES) >= 56 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_error_line_and_nothing_is_lost(case, finished, tmp_path, capsys):
    _, command, argv, setup, words = case
    work = tmp_path / "work"
    shutil.copytree(finished, work)
    if setup:
        setup(str(work))
    before = _checksums(work)
    argv = [a.format(d=work) for a in argv]
    if command in (T, "train-subprocess"):
        # The case's own flags come last, so they win over the tiny defaults.
        argv = [argv[0], *TINY, *argv[1:]]
        if "--out" not in argv:
            argv += ["--out", str(work / "fresh")]
    if command == "train-subprocess":
        proc = subprocess.run([sys.executable, "-m", "training.cli", "train", *argv],
                              cwd=REPO, capture_output=True, text=True, timeout=300)
        code, err = proc.returncode, proc.stderr
    else:
        try:
            code = zoo_main(([command] if command else []) + argv)
        except SystemExit as e:  # argparse's own usage errors
            code = e.code
        err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err, err
    # argparse writes "usage: ..." and then "PROG: error: ...".
    errors = [line for line in err.splitlines()
              if line.startswith("error:") or ": error: " in line]
    assert len(errors) == 1, err
    assert words in errors[0], err
    after = _checksums(work)
    lost = {k for k in before if after.get(k) != before[k]}
    assert not lost, f"changed or removed: {sorted(lost)}"
    fresh = work / "fresh" / "run.json"
    assert not fresh.exists() or json.load(open(fresh))["status"] != "running"


def test_the_workspace_fixture_is_a_finished_exported_run(finished):
    # The guarantees above only mean something if there was something to lose.
    run = json.load(open(finished / "run" / "run.json"))
    assert run["status"] == "complete"
    assert (finished / "models" / "vae" / "1" / "saved_model.pb").is_file()
