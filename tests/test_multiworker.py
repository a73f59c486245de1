"""Two worker processes on 127.0.0.1 with TF_CONFIG train through the CLI."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start(name, out, epochs, extra=()):
    """Starts both workers of a 2-worker cluster; returns their processes."""
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "training.train", name, "--distribute", "multi_worker",
             "--epochs", str(epochs), "--batch-size", "32", "--out", str(out),
             "--verbose", "0", "--iwae-samples", "2", "--set", "latent_dim=4", *extra],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def _finish(procs, timeout=400):
    results = []
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        results.append((proc.returncode, err))
    return results


def _epochs(out):
    with open(out / "history.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vae", "dcgan"])
def test_two_workers_train_and_only_the_chief_writes_the_run(tmp_path, name):
    out = tmp_path / name
    for code, err in _finish(_start(name, out, 2)):
        assert code == 0, err[-3000:]
    run = json.load(open(out / "run.json"))
    assert run["status"] == "complete" and run["replicas"] == 2
    assert (out / "export" / name / "1" / "saved_model.pb").is_file()
    assert _epochs(out) == [0, 1]
    # The other worker trained alongside in its own scratch folder, unexported.
    other = tmp_path / f"{name}.worker1"
    assert (other / "model.keras").is_file() and not (other / "export").exists()


@pytest.mark.slow
def test_a_killed_worker_and_a_restart_of_both_resume_the_run(tmp_path):
    out = tmp_path / "vae"
    procs = _start("vae", out, 12)
    deadline = time.time() + 300
    while time.time() < deadline:
        if (out / "history.csv").is_file() and len(_epochs(out)) >= 2:
            break
        if any(p.poll() is not None for p in procs):
            pytest.fail("a worker ended before it could be killed: "
                        + procs[0].communicate()[1][-2000:])
        time.sleep(0.2)
    procs[1].send_signal(signal.SIGKILL)
    # The chief blocks on the lost peer's collectives; the cluster restarts.
    time.sleep(1)
    procs[0].send_signal(signal.SIGKILL)
    for p in procs:
        p.wait()
    done_before = _epochs(out)
    # Unfinished: "running" when the kill came first, "failed" (with the
    # error) when the chief's collectives failed on the lost peer first.
    run = json.load(open(out / "run.json"))
    assert run["status"] == "running" or (run["status"] == "failed" and run["error"]), run
    for code, err in _finish(_start("vae", out, 12)):
        assert code == 0, err[-3000:]
    epochs = _epochs(out)
    assert json.load(open(out / "run.json"))["status"] == "complete"
    # It went on from its last finished epoch (at most one epoch repeated).
    resumed = epochs[len(done_before):]
    assert resumed and resumed[0] >= max(done_before) and resumed[-1] == 11
    assert (out / "export" / "vae" / "1" / "saved_model.pb").is_file()
