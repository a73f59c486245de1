"""Serving and hub: client <-> TF Serving protocol stand-in, config, warmup, hub loading."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

import export
import export.hub
from export import config as serving_config
from export.client import GrpcClient, RestClient, ServingError
from export.warmup import read_warmup
from tests import contract
from tests.serving_stub import ServingStub
from training.trainer import train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """Two versions of a trained VAE and a corrupt model under one base."""
    root = tmp_path_factory.mktemp("serving")
    run_dir = str(root / "run")
    train("vae", epochs=1, batch_size=256, out=run_dir, export=False, verbose=0,
          iwae_samples=2, overrides=contract.tiny("vae"))
    base = root / "models"
    export.export_run(run_dir, str(base))
    export.export_run(run_dir, str(base))
    (base / "broken" / "1" / "variables").mkdir(parents=True)
    (base / "broken" / "1" / "saved_model.pb").write_bytes(b"not a SavedModel")
    (base / "broken" / "1" / "variables" / "variables.index").write_bytes(b"")
    model = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    with ServingStub(str(base), labels={"vae": {"stable": 1, "canary": 2}}) as stub:
        rest = RestClient(stub.rest_url, timeout=30)
        grpc_client = GrpcClient(stub.grpc_target, timeout=30)
        yield dict(base=base, model=model, rest=rest, grpc=grpc_client, stub=stub)
        grpc_client.close()


SEEDS = np.array([[0, 0], [0, 1], [5, 3], [9, 9]], np.int32)


@pytest.mark.parametrize("fmt", ["row", "columnar"])
def test_rest_predict_matches_the_model(deployment, fmt):
    out = deployment["rest"].predict("vae", {"seed": SEEDS}, format=fmt)
    assert out["images"].dtype == np.float32 and out["images"].shape == (4, 8, 8, 1)
    np.testing.assert_allclose(out["images"], deployment["model"].sample_from_seeds(SEEDS),
                               atol=1e-5)


def test_row_columnar_and_grpc_agree_on_multi_input_multi_output(deployment):
    model = deployment["model"]
    images = contract.real_images(model, 3)
    inputs = {"images": images, "seed": SEEDS[:3]}
    row = deployment["rest"].predict("vae", inputs, signature="elbo")
    col = deployment["rest"].predict("vae", inputs, signature="elbo", format="columnar")
    rpc = deployment["grpc"].predict("vae", inputs, signature="elbo")
    assert set(row) == set(col) == set(rpc) == {"elbo", "kl"}
    for key in row:
        np.testing.assert_allclose(row[key], col[key], rtol=1e-6)
        np.testing.assert_allclose(row[key], rpc[key], rtol=1e-6)
    np.testing.assert_allclose(rpc["elbo"], model.elbo_from_seeds(images, SEEDS[:3]),
                               rtol=1e-5)


def test_batched_seeds_equal_seeds_one_by_one(deployment):
    batched = deployment["grpc"].predict("vae", {"seed": SEEDS})["images"]
    for i, row in enumerate(SEEDS):
        alone = deployment["rest"].predict("vae", {"seed": row[None]})["images"]
        np.testing.assert_allclose(alone[0], batched[i], atol=1e-6)


def test_versions_labels_status_and_metadata(deployment):
    rest, rpc = deployment["rest"], deployment["grpc"]
    assert [s["version"] for s in rest.status("vae")] == ["1", "2"]
    assert all(s["state"] == "AVAILABLE" for s in rpc.status("vae"))
    for client in (rest, rpc):
        for kwargs in ({"version": 1}, {"label": "canary"}):
            out = client.predict("vae", {"z": np.zeros((2, 4), np.float32)},
                                 signature="decode", **kwargs)
            assert out["images"].shape == (2, 8, 8, 1)
        sigs = client.signatures("vae", version=2)
        assert sigs["decode"]["inputs"]["z"] == {"dtype": "float32", "shape": [-1, 4]}
        assert sigs["encode"]["outputs"]["log_var"]["shape"] == [-1, 4]


def test_corrupt_model_is_reported_while_others_serve(deployment):
    status = deployment["rest"].status("broken")
    assert status[0]["state"] == "END" and status[0]["status"]["error_message"]
    with pytest.raises(ServingError, match="404.*broken"):
        deployment["rest"].predict("broken", {"seed": SEEDS})
    assert deployment["rest"].predict("vae", {"seed": SEEDS})["images"].shape[0] == 4


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_bad_requests_give_clear_errors(deployment, transport):
    client = deployment[transport]
    cases = [
        (dict(model="nope", inputs={"seed": SEEDS}), "nope"),
        (dict(model="vae", inputs={"seed": SEEDS}, version=7), "7"),
        (dict(model="vae", inputs={"seed": SEEDS}, signature="sample"),
         "no signature 'sample'"),
        (dict(model="vae", inputs={"seed": SEEDS[:, :1]}), r"'seed'.*\[-1, 2\]"),
        (dict(model="vae", inputs={"seed": SEEDS.astype(np.float32)}), "'seed'.*int32"),
        (dict(model="vae", inputs={"z": SEEDS}), r"takes inputs \['seed'\]"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ServingError, match=message):
            client.predict(**kwargs)
    # Without client-side checks the server's own answer comes back clearly.
    with pytest.raises(ServingError, match="(400|INVALID_ARGUMENT).*[Ss]hape|shape"):
        client.predict("vae", {"seed": SEEDS[:, :1]}, validate=False)
    with pytest.raises(ServingError, match=r"(400|INVALID_ARGUMENT).*\[0, 1\]"):
        client.predict("vae", {"images": np.full((1, 8, 8, 1), 3.0, np.float32)},
                       signature="reconstruct", validate=False)


def test_rest_protocol_rules(deployment):
    import json
    import urllib.request

    url = deployment["stub"].rest_url + "/v1/models/vae:predict"

    def post(body):
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return 200, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    # Single input: bare instances are allowed. serving_default has two
    # outputs (decoder means and draws), so each prediction is a named row.
    code, reply = post({"instances": [[0, 0], [0, 1]]})
    assert code == 200 and len(reply["predictions"]) == 2
    assert set(reply["predictions"][0]) == {"images", "draws"}
    assert np.asarray(reply["predictions"][1]["draws"]).shape == (8, 8, 1)
    # Single output (reconstruct): unnamed predictions and outputs.
    image = np.zeros((8, 8, 1)).tolist()
    code, reply = post({"signature_name": "reconstruct", "instances": [image, image]})
    assert code == 200 and np.asarray(reply["predictions"]).shape == (2, 8, 8, 1)
    code, reply = post({"signature_name": "reconstruct", "inputs": [image]})
    assert code == 200 and np.asarray(reply["outputs"]).shape == (1, 8, 8, 1)
    code, reply = post({"inputs": [[0, 0]]})
    assert code == 200 and np.asarray(reply["outputs"]["draws"]).shape == (1, 8, 8, 1)
    code, reply = post({"instances": [[0, 0]], "inputs": [[0, 0]]})
    assert code == 400 and "error" in reply


def test_client_times_out_clearly():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        start = time.time()
        with pytest.raises(ServingError, match="cannot reach.*timed out"):
            RestClient(f"http://127.0.0.1:{port}", timeout=0.5).status("vae")
        assert time.time() - start < 5
    finally:
        server.close()
    with pytest.raises(ServingError, match="UNAVAILABLE|DEADLINE"):
        GrpcClient(f"127.0.0.1:{port}", timeout=0.5).status("vae")


def test_warmup_requests_cover_and_run_every_signature(deployment):
    path = str(deployment["base"] / "vae" / "1")
    requests = read_warmup(path)
    from tensorflow_serving.apis import prediction_log_pb2

    record = next(iter(tf.data.TFRecordDataset(os.path.join(path, export.warmup.WARMUP_FILE))))
    log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
    assert log.predict_log.request.model_spec.name == "vae"
    loaded = tf.saved_model.load(path)
    expected = {s for s in loaded.signatures}
    assert {name for name, _ in requests} == expected
    for name, inputs in requests:
        outputs = loaded.signatures[name](**{k: tf.constant(v) for k, v in inputs.items()})
        assert all(np.all(np.isfinite(v.numpy())) for v in outputs.values()), name


def test_serving_config_files(deployment, capsys):
    base = str(deployment["base"])
    assert serving_config.main([base, "--label", "stable=1"]) == 0
    from tensorflow_serving.config import model_server_config_pb2 as pb

    config = text_format.Parse(open(os.path.join(base, "models.config")).read(),
                               pb.ModelServerConfig())
    entries = {c.name: c for c in config.model_config_list.config}
    assert set(entries) == {"vae", "broken"}
    assert list(entries["vae"].model_version_policy.specific.versions) == [1, 2]
    assert entries["vae"].version_labels["stable"] == 1
    assert entries["vae"].base_path == "/models/vae"
    batching = open(os.path.join(base, "batching_parameters.txt")).read()
    assert "max_batch_size { value: 64 }" in batching and "allowed_batch_sizes: 64" in batching
    compose = open(os.path.join(base, "docker-compose.yml")).read()
    assert "tensorflow/serving:2.21.0-gpu" in compose and "capabilities: [gpu]" in compose
    assert "--gpus all" in capsys.readouterr().out
    assert serving_config.main([str(deployment["base"] / "missing")]) == 2


def test_hub_load_handles(deployment, tmp_path):
    base = deployment["base"]
    model = deployment["model"]
    for handle in (base / "vae" / "2", f"file://{base / 'vae' / '2'}", base / "vae"):
        loaded = export.hub.load(handle)
        assert loaded.path.endswith(os.path.join("vae", "2"))
        out = loaded.predict("serving_default", seed=SEEDS)
        np.testing.assert_allclose(out["images"], model.sample_from_seeds(SEEDS), atol=1e-5)
        assert loaded.metadata["model"] == "vae"
    with pytest.raises(export.hub.HubError, match="names no version"):
        export.hub.load("https://www.kaggle.com/models/someone/vae/tensorFlow2/default")
    with pytest.raises(export.hub.HubError, match="does not exist"):
        export.hub.load(tmp_path / "nothing")
    with pytest.raises(export.hub.HubError, match="not a readable SavedModel"):
        export.hub.load(base / "broken" / "1")
    with pytest.raises(export.hub.HubError, match="unknown signature"):
        loaded.predict("sample", seed=SEEDS)
    with pytest.raises(export.hub.HubError, match="shape"):
        loaded.predict("serving_default", seed=SEEDS[:, :1])
    with pytest.raises(export.hub.HubError, match="int32"):
        loaded.predict("serving_default", seed=SEEDS.astype(np.float32))


def test_tfsmlayer_fine_tunes_with_adam(deployment):
    layer = export.hub.keras_layer(deployment["base"] / "vae" / "1", "decode", trainable=True)
    z = keras.Input((4,))
    finetune = keras.Model(z, layer(z)["images"])
    finetune.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    target = np.zeros((64, 8, 8, 1), np.float32)
    before = finetune.evaluate(x, target, verbose=0)
    finetune.fit(x, target, epochs=10, verbose=0)
    after = finetune.evaluate(x, target, verbose=0)
    assert after < before * 0.5, (before, after)


def test_hub_keras_layer_exposes_trainable_weights(deployment):
    import tensorflow_hub as hub
    import tf_keras

    path = str(deployment["base"] / "vae" / "1")
    layer = hub.KerasLayer(path, trainable=True, output_key="images")
    z = tf_keras.Input((4,))
    model = tf_keras.Model(z, layer(z))
    assert len(layer.trainable_weights) == len(deployment["model"].trainable_weights)
    out = model(np.zeros((2, 4), np.float32))
    np.testing.assert_allclose(out, deployment["model"].decode(np.zeros((2, 4), np.float32)),
                               atol=1e-5)


@pytest.mark.slow
def test_killed_export_leaves_only_complete_versions(deployment, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(deployment["base"].parent / "run", run_dir)
    base = tmp_path / "models"
    cmd = [sys.executable, "-m", "export", str(run_dir), "--base", str(base)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (base / "vae").is_dir() or not os.listdir(base / "vae"):
        assert proc.poll() is None and time.time() < deadline, "export ended early"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    entries = os.listdir(base / "vae")
    assert not [e for e in entries if e.isdigit()], entries  # nothing half-written
    assert subprocess.run(cmd, cwd=REPO, capture_output=True, timeout=120).returncode == 0
    assert [e for e in os.listdir(base / "vae") if e.isdigit()] == ["1"]
    assert export.hub.load(base / "vae").predict("serving_default", seed=SEEDS)


@pytest.mark.skipif(not os.environ.get("ZOO_DOCKER_SERVING"),
                    reason="set ZOO_DOCKER_SERVING=1 where Docker and the image exist")
def test_real_tf_serving_container(deployment):
    base = str(deployment["base"])
    shutil.rmtree(os.path.join(base, "broken"))
    serving_config.write_config(base, image=os.environ.get(
        "ZOO_SERVING_IMAGE", "tensorflow/serving:2.21.0"))
    name = f"zoo-serving-test-{os.getpid()}"
    args = ["docker", "run", "-d", "--rm", "--name", name, "-p", "127.0.0.1:18501:8501",
            "-v", f"{base}:/models:ro",
            os.environ.get("ZOO_SERVING_IMAGE", "tensorflow/serving:2.21.0")]
    subprocess.run(args + serving_config.server_args(), check=True)
    try:
        client = RestClient("http://127.0.0.1:18501", timeout=5)
        for _ in range(60):
            try:
                if client.status("vae")[-1]["state"] == "AVAILABLE":
                    break
            except ServingError:
                time.sleep(1)
        out = client.predict("vae", {"seed": SEEDS})
        np.testing.assert_allclose(out["images"], deployment["model"].sample_from_seeds(SEEDS),
                                   atol=1e-5)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def test_publish_prepares_a_kaggle_models_folder(deployment, tmp_path, capsys):
    import json

    from export import publish

    version = str(deployment["base"] / "vae" / "1")
    out = tmp_path / "kaggle"
    assert publish.main([version, "--out", str(out), "--owner", "zoo-team"]) == 0
    assert "kaggle models instances create" in capsys.readouterr().out
    model_meta = json.load(open(out / "model-metadata.json"))
    instance = json.load(open(out / "default" / "model-instance-metadata.json"))
    assert model_meta["slug"] == instance["modelSlug"] == "vae"
    assert instance["framework"] == "tensorFlow2" and "curl" in instance["usage"]
    # What is uploaded loads like the original.
    np.testing.assert_allclose(
        export.hub.load(out / "default").predict("serving_default", seed=SEEDS)["images"],
        deployment["model"].sample_from_seeds(SEEDS), atol=1e-5)
    assert publish.main([version, "--out", str(out), "--owner", "zoo-team"]) == 2
    assert "exists" in capsys.readouterr().err
    assert publish.main([version, "--out", str(tmp_path / "x"), "--owner", "Bad Owner"]) == 2
    assert publish.main([str(tmp_path), "--out", str(tmp_path / "y"), "--owner", "abc"]) == 2


@pytest.mark.parametrize("url", ["not a url", "localhost:8501", "ftp://host/x"])
def test_rest_client_refuses_a_malformed_url(url):
    """Issue #12, defect 9: a ServingError, not a ValueError from urllib."""
    with pytest.raises(ServingError, match="http://HOST:PORT"):
        RestClient(url)
