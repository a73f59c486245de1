"""Training on several replicas: the same step as on one device, and the CLI."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One model per family, a GAN with k = 2 fresh batches, WGAN-GP (n_critic = 2,
# per-sample penalty), DCGAN (synchronized batch norm), Glow (actnorm started
# from the global batch's moments), FFJORD (Hutchinson probes per row) and DDPM
# (timesteps and noise per row, EMA weights updated per device), VQ-VAE (EMA
# codebook from the global batch's counts), VAE-GAN (three optimizers) and M2
# (all K labels per row). Models whose loss is a statistic of the replica's
# batch (SSGAN's feature matching, in-batch pair and triplet mining) are not
# equivalent by design: each replica mines its own slice.
MODELS = ["vae", "autoencoder", "gan", "wgan_gp", "pixelcnn", "dcgan", "glow", "ffjord",
          "ddpm", "vq_vae", "vae_gan", "m2_vae"]


def _python(*args, env=None, timeout=600):
    environment = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    environment.update(TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env=environment)


@pytest.fixture(scope="module")
def report():
    proc = _python("-m", "tests.distributed_check", *MODELS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", MODELS)
def test_two_replicas_take_the_one_device_step(report, name):
    r = report[name]
    # One SGD step on 2 replicas x 8 images == 1 replica x 16 images, same noise.
    assert r["max_diff"] < 1e-5, r
    # A per-replica mean (gradients summed over replicas: 2x too large) is
    # caught: the check can fail.
    assert r["buggy_diff"] > 1e-3 and r["moved"] > 1e-3, r
    one, two = r["logs"]
    assert one.keys() == two.keys()
    for key in one:
        assert two[key] == pytest.approx(one[key], rel=1e-5, abs=1e-6), key


def test_replicas_draw_their_own_rows_of_one_global_draw(report):
    import numpy as np

    replicas = np.asarray(report["noise"]["replicas"])
    single = np.asarray(report["noise"]["single"])
    assert not np.allclose(replicas[0], replicas[1])
    np.testing.assert_array_equal(np.concatenate(replicas), single)


@pytest.mark.parametrize("name", ["vae", "dcgan"])
def test_cli_trains_and_exports_on_two_cpu_replicas(tmp_path, name):
    out = tmp_path / name
    proc = _python("-m", "training.train", name, "--distribute", "mirrored",
                   "--cpu-replicas", "2", "--epochs", "1", "--batch-size", "32",
                   "--out", str(out), "--verbose", "0", "--iwae-samples", "2",
                   "--set", "latent_dim=4")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.load(open(out / "run.json"))
    assert run["status"] == "complete" and run["replicas"] == 2
    assert run["distribute"] == "mirrored"
    assert (out / "export" / name / "1" / "saved_model.pb").is_file()


@pytest.mark.parametrize("args,message", [
    (["--distribute", "mirrored", "--cpu-replicas", "2", "--batch-size", "33"],
     "multiple of the 2 replicas"),
    (["--cpu-replicas", "2"], "--cpu-replicas takes"),
    (["--distribute", "multi_worker"], "TF_CONFIG, which is not set"),
    (["--distribute", "multi_worker"], "TF_CONFIG is not valid JSON"),
])
def test_bad_distribution_settings_are_one_clear_error(tmp_path, args, message):
    env = {"TF_CONFIG": "{cluster"} if "JSON" in message else {}
    proc = _python("-m", "training.train", "vae", "--epochs", "1", "--out",
                   str(tmp_path / "run"), *args, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()


def test_a_killed_mirrored_run_resumes_from_its_last_epoch(tmp_path):
    import csv

    from tests import contract

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "training.train", "dcgan", "--distribute", "mirrored",
           "--cpu-replicas", "2", "--epochs", "6", "--batch-size", "128", "--out", str(out),
           "--no-export", "--verbose", "0", "--set", "latent_dim=4", "--set",
           "filters=(8,16)"]
    environment = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=environment)

    def epochs():
        with open(out / "history.csv") as f:
            return [int(row["epoch"]) for row in csv.DictReader(f)]

    contract.kill_when_written(proc, out / "samples" / "epoch_002.png")
    done_before = epochs()
    assert 2 <= len(done_before) < 6, done_before
    rerun = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300,
                           env=environment)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    after = epochs()
    assert after[:len(done_before)] == done_before
    assert after == sorted(set(after)) and after[-1] == 5, after
