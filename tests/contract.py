"""Shared checks that every registered model runs (see test_models.py).

A new model gets them by being registered. `tiny(name)` shrinks a model's
default config so the suite stays fast; a model absent from it runs with its
defaults on 8x8 digits.
"""

import functools
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import tensorflow as tf

import zoo
from training import datasets

IMAGE_SHAPE = (8, 8, 1)

def tiny(name):
    """A copy of the tiny config of model `name` (empty: its defaults).

    Each family's test module holds the tiny configs of its models in a
    dict `TINY_CONFIGS`; a new model's entry goes there, beside its tests.
    """
    return dict(_tiny_configs().get(name, {}))


@functools.lru_cache(maxsize=None)
def _tiny_configs():
    configs = {}
    for info in pkgutil.iter_modules([os.path.dirname(os.path.abspath(__file__))]):
        if not info.name.startswith("test_"):
            continue
        module = importlib.import_module(f"tests.{info.name}")
        for name, config in getattr(module, "TINY_CONFIGS", {}).items():
            if name in configs:
                raise ValueError(f"two test modules give a tiny config for {name!r}")
            configs[name] = config
    return configs

# Modules the fresh serving process must do without: the zoo's own code and
# TFP. TensorFlow itself loads keras, so keras stays importable.
BLOCKED = ("zoo", "training", "export", "tensorflow_probability")


def build(name, **overrides):
    kwargs = dict(tiny(name), image_shape=IMAGE_SHAPE, **overrides)
    if "seed" in zoo.registry.accepted_kwargs(zoo.get_class(name)):
        kwargs.setdefault("seed", 0)
    return zoo.get(name, **kwargs)


def batches(model, training=True, n=64, batch_size=32):
    if getattr(model, "pair_data", False):
        # Image-to-image models: (source, target) pairs of their example task.
        return datasets.load_pairs(model.example_task, "train" if training else "test",
                                   batch_size=batch_size, take=n, shuffle=False,
                                   drop_remainder=model.requires_full_batches)
    return datasets.load(
        "digits", "train" if training else "test", batch_size=batch_size,
        mode=model.preprocessing(training), take=n, shuffle=False,
        labels=model.requires_labels, drop_remainder=model.requires_full_batches)


def real_images(model, n=5):
    batch = next(iter(batches(model, training=False, n=n, batch_size=n)))
    return np.asarray(model.images_from_batch(batch), np.float32)


def example_inputs(model, specs, n=5, seed=0):
    """Inputs for a signature, chosen by the zoo's input naming convention."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for spec in specs:
        if spec.name == "seed":
            inputs[spec.name] = rng.integers(0, 2**31 - 1, (n, 2)).astype(np.int32)
        elif spec.name == "images":
            inputs[spec.name] = real_images(model, n)
        elif spec.name == "z":
            inputs[spec.name] = rng.normal(size=(n,) + tuple(spec.shape[1:])).astype(np.float32)
        elif spec.name == "num_known_rows":
            inputs[spec.name] = rng.integers(0, model.image_shape[0] + 1, n).astype(np.int32)
        elif spec.name == "temperature":
            inputs[spec.name] = rng.uniform(0.5, 1.0, n).astype(np.float32)
        elif spec.name == "guidance":
            inputs[spec.name] = rng.uniform(0.0, 3.0, n).astype(np.float32)
        elif spec.name == "eta":
            inputs[spec.name] = rng.uniform(0.0, 1.0, n).astype(np.float32)
        elif spec.name == "codes":
            inputs[spec.name] = rng.integers(0, model.num_codes,
                                             (n,) + tuple(spec.shape[1:])).astype(np.int32)
        elif spec.name == "label":
            inputs[spec.name] = rng.integers(0, model.num_classes, n).astype(np.int32)
        else:
            raise AssertionError(
                f"no example input for {spec.name!r}; extend tests/contract.py")
    return inputs


def endpoint_outputs(model, n=5):
    """{endpoint: (inputs, outputs)} computed in this process."""
    results = {}
    for name, (fn, specs) in model.serving_endpoints().items():
        inputs = example_inputs(model, specs, n)
        outputs = fn(*[tf.constant(inputs[s.name]) for s in specs])
        results[name] = (inputs, {k: np.asarray(v) for k, v in outputs.items()})
    return results


def fit_step(name, precision="off", **overrides):
    """One short fit: finite losses, and the weights move.

    Args:
      precision: "off", "bfloat16" or "float16" (`training.distribute.precision`).
      **overrides: constructor arguments over the tiny config.
    """
    from training.distribute import precision as dtype_policy

    with dtype_policy(precision):
        model = build(name, **overrides)
    model.compile(**model.make_optimizers())
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(batches(model), epochs=1, verbose=0, shuffle=False)
    for key, values in history.history.items():
        assert np.all(np.isfinite(values)), f"{name}: {key}={values}"
    assert history.history, f"{name}: fit reported no metrics"
    changed = [not np.array_equal(b, np.array(w))
               for b, w in zip(before, model.trainable_weights)]
    assert all(changed), f"{name}: {changed.count(False)} weights did not change"
    return model


def seeds_reproduce(name):
    """Same seed -> same samples, batch-invariant seed rows.

    Models without a prior (no "sample" capability) must say so with
    `NotImplementedError`; their deterministic map, `reconstruct`, must
    instead give the same rows alone and in any batch.
    """
    model = build(name)
    if "sample" not in model.capabilities:
        return deterministic_reconstruct(model)
    a, b = model.sample(4, seed=3), model.sample(4, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, model.sample(4, seed=4)), "seed is ignored"
    h, w, c = model.image_shape
    assert a.shape == (4, h, w, c) and a.dtype == tf.float32
    assert float(tf.reduce_min(a)) >= 0 and float(tf.reduce_max(a)) <= 1
    # Row i of sample(n, seed=s) is seed row [s, i], alone or in any batch.
    seeds = np.array([[3, 2], [9, 1], [3, 0]], np.int32)
    # Conditional models: the labels sample() uses by default for rows 2, 1, 0.
    labels = (np.array([2, 1, 0]) % model.num_classes).astype(np.int32) \
        if model.conditional else None
    together = model.sample_from_seeds(seeds, labels)
    for i in range(3):
        alone = model.sample_from_seeds(
            seeds[i:i + 1], None if labels is None else labels[i:i + 1])
        np.testing.assert_allclose(alone[0], together[i], atol=1e-6)
    np.testing.assert_allclose(together[0], a[2], atol=1e-6)
    np.testing.assert_allclose(together[2], a[0], atol=1e-6)


def deterministic_reconstruct(model):
    """For models that cannot sample: a clear refusal, and a deterministic,
    batch-invariant map: `translate` (image-to-image models; StarGAN to
    label i mod K), `reconstruct`, or `encode` (embedding models)."""
    try:
        model.sample(2, seed=0)
    except NotImplementedError as e:
        assert "sample" in str(e), str(e)
    else:
        raise AssertionError(f"{model.registered_name}: sample() did not raise "
                             "NotImplementedError although 'sample' is not a capability")
    x = real_images(model, 6)
    translation = getattr(model, "translation", False)
    if translation:
        labels = (np.arange(6) % (getattr(model, "num_classes", None) or 1)).astype(np.int32)

        def fn(rows):
            return model.translate(x[rows], labels[rows] if model.conditional else None)
    else:
        assert {"reconstruct", "encode"} & set(model.capabilities), model.capabilities
        method = model.reconstruct if "reconstruct" in model.capabilities else model.encode

        def fn(rows):
            return method(x[rows])
    every = np.arange(len(x))
    a, b = fn(every), fn(every)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == tf.float32 and len(a) == len(x)
    if translation or "reconstruct" in model.capabilities:
        assert a.shape[1:] == model.image_shape
        assert float(tf.reduce_min(a)) >= 0 and float(tf.reduce_max(a)) <= 1
    assert not np.allclose(a[0], a[1]), "the map ignores its input"
    for i in range(len(x)):
        np.testing.assert_allclose(fn(every[i:i + 1])[0], a[i], atol=1e-6)


def keras_round_trip(name, tmp_path):
    model = fit_step(name)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    expected = endpoint_outputs(model)
    got = endpoint_outputs(loaded)
    for endpoint, (_, outputs) in expected.items():
        for key, value in outputs.items():
            np.testing.assert_array_equal(got[endpoint][1][key], value,
                                          err_msg=f"{name}.{endpoint}.{key}")


# One long-lived process serves every export of the session: it starts with
# zoo, training, export and TFP blocked from import and answers one request
# (a SavedModel and its inputs) per line, so each check costs no TF start-up.
_SERVE_WORKER = textwrap.dedent("""
    import importlib.abc, json, os, sys, traceback
    BLOCKED = {blocked!r}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname.split(".")[0] in BLOCKED:
                raise ImportError("blocked in the serving process: " + fullname)
            return None

    sys.meta_path.insert(0, Block())
    for mod in BLOCKED:
        try:
            __import__(mod)
        except ImportError:
            pass
        else:
            raise SystemExit("import blocker failed for " + mod)
    import numpy as np
    import tensorflow as tf

    def serve(path, inputs, outputs, hub):
        loaded = tf.saved_model.load(path)
        inputs = np.load(inputs)
        out = {{}}
        for key in inputs.files:
            endpoint, arg = key.split("/")
            out.setdefault(endpoint, {{}})[arg] = tf.constant(inputs[key])
        results = {{}}
        for endpoint, kwargs in out.items():
            for k, v in loaded.signatures[endpoint](**kwargs).items():
                results[endpoint + "/" + k] = v.numpy()
        # hub.load's call path: the exported __call__ endpoint.
        for k, v in loaded(**out[hub]).items():
            results["__call__/" + k] = v.numpy()
        # Every signature answers 0 rows with 0 rows, and refuses inputs that
        # disagree on the number of rows.
        empty, mismatch = {{}}, {{}}
        for endpoint, kwargs in out.items():
            answer = loaded.signatures[endpoint](**{{k: v[:0] for k, v in kwargs.items()}})
            empty[endpoint] = {{k: int(v.shape[0]) for k, v in answer.items()}}
            if len(kwargs) > 1:
                last = sorted(kwargs)[-1]
                short = dict(kwargs, **{{last: kwargs[last][:-1]}})
                try:
                    loaded.signatures[endpoint](**short)
                    mismatch[endpoint] = "accepted"
                except tf.errors.InvalidArgumentError as e:
                    mismatch[endpoint] = str(e)
        assert not [m for m in sys.modules if m.split(".")[0] in BLOCKED]
        np.savez(outputs, **results)
        return dict(signatures=sorted(loaded.signatures), empty=empty, mismatch=mismatch)

    for line in sys.stdin:
        try:
            reply = dict(ok=True, **serve(**json.loads(line)))
        except BaseException:
            reply = dict(ok=False, error=traceback.format_exc())
        sys.stdout.write("@@reply " + json.dumps(reply) + "\\n")
        sys.stdout.flush()
""")
_worker = None


def _serve_in_worker(request, timeout=300):
    """Sends one request to the serving worker (started on first use); returns
    its reply dict."""
    import atexit
    import select
    import tempfile

    global _worker
    if _worker is None or _worker.poll() is not None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        home = tempfile.mkdtemp(prefix="serving-worker-")
        _worker = subprocess.Popen(
            [sys.executable, "-c", _SERVE_WORKER.format(blocked=BLOCKED)], cwd=home, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(os.path.join(home, "stderr.log"), "w"), text=True)
        atexit.register(_worker.kill)
    _worker.stdin.write(json.dumps(request) + "\n")
    _worker.stdin.flush()
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([_worker.stdout], [], [], max(0.0, deadline - time.time()))
        if not ready:
            break
        line = _worker.stdout.readline()
        if not line:
            raise AssertionError("the serving worker died; see its stderr.log")
        if line.startswith("@@reply "):
            return json.loads(line[len("@@reply "):])
    _worker.kill()
    raise AssertionError(f"the serving worker gave no answer in {timeout} s")


def export_round_trip(name, tmp_path, model=None, atol=1e-5):
    """Exports `model` (default: a `fit_step` of `name`), audits the ops and
    compares every signature, served in a process without zoo or TFP, with
    the in-process outputs (to `atol`: bfloat16 kernels may round otherwise
    in the served graph)."""
    from export import export_model

    model = model or fit_step(name)
    path = str(tmp_path / "export")
    export_model(model, path)
    served_like_the_model(model, path, tmp_path, atol)


def served_like_the_model(model, path, tmp_path, atol=1e-5):
    """The SavedModel at `path` passes the op audit, and every signature (and
    `__call__`), run in the serving worker (zoo and TFP cannot be imported there),
    gives `model`'s in-process outputs."""
    from export import audit_saved_model

    name = model.registered_name
    assert audit_saved_model(path) == []
    expected = endpoint_outputs(model)
    flat_inputs = {f"{e}/{k}": v for e, (ins, _) in expected.items()
                   for k, v in ins.items()}
    np.savez(tmp_path / "inputs.npz", **flat_inputs)
    report = _serve_in_worker(dict(
        path=os.path.abspath(path), inputs=str(tmp_path / "inputs.npz"),
        outputs=str(tmp_path / "outputs.npz"), hub=model.hub_endpoint))
    assert report["ok"], report.get("error", "")[-3000:]
    assert set(expected) | {"__call__"} <= set(report["signatures"])
    for endpoint, rows in report["empty"].items():
        assert set(rows.values()) == {0}, (name, endpoint, rows)
    for endpoint, error in report["mismatch"].items():
        assert "need the same number of rows" in error, (name, endpoint, error[-500:])
    got = np.load(tmp_path / "outputs.npz")
    for endpoint, (_, outputs) in expected.items():
        for key, value in outputs.items():
            np.testing.assert_allclose(got[f"{endpoint}/{key}"], value,
                                       rtol=1e-5, atol=atol,
                                       err_msg=f"{name}.{endpoint}.{key}")
    for key, value in expected[model.hub_endpoint][1].items():
        np.testing.assert_allclose(got[f"__call__/{key}"], value, rtol=1e-5, atol=atol)


def kill_when_written(proc, path, timeout=240):
    """SIGKILLs `proc` as soon as `path` exists (e.g. an epoch's sample grid);
    fails if the process ends first or `timeout` seconds pass."""
    import signal
    import time

    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert proc.poll() is None and time.time() < deadline, "run ended early"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

