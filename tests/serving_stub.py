"""A test-only stand-in for TF Serving: its REST and gRPC APIs over loopback.

There is no `tensorflow_model_server` binary here, so the client and the
exports are tested against this stub. It follows TF Serving's documented
behaviour where the tests depend on it:
- models under BASE/NAME/VERSION; the newest loadable version serves by
  default; /versions/N and /labels/L (or ModelSpec.version/version_label)
  pick others; a model whose directory is corrupt reports an error while the
  others keep serving;
- REST predict takes "instances" (row format: one dict per example, or bare
  values when the signature has a single input) or "inputs" (columnar: a dict
  of batched values, or a bare value for a single input), never both; it
  answers "predictions" (rows; bare values when there is one output) or
  "outputs" (a dict, or a bare value for one output);
- errors are {"error": message} with 400 (bad request) or 404 (not found);
- gRPC PredictionService.Predict / GetModelMetadata and
  ModelService.GetModelStatus with NOT_FOUND / INVALID_ARGUMENT codes.
It is not a performance model of TF Serving (no batching scheduler).
"""

import json
import os
import re
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import (get_model_metadata_pb2, get_model_status_pb2,
                                     model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc)

from export.signatures import read_saved_model_proto


class NotFound(Exception):
    pass


class BadRequest(Exception):
    pass


class _Version:
    def __init__(self, path):
        self.path = path
        self.error = None
        try:
            self.loaded = tf.saved_model.load(path)
            proto = read_saved_model_proto(path)
            self.signature_defs = proto.meta_graphs[0].signature_def
        except Exception as e:  # a corrupt version must not take the server down
            self.loaded = None
            self.error = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"


class ModelRegistry:
    """Loads every version under `base`; resolves (name, version, label)."""

    def __init__(self, base, labels=None):
        self.models = {}
        for name in sorted(os.listdir(base)):
            model_dir = os.path.join(base, name)
            if not os.path.isdir(model_dir) or name.startswith("."):
                continue
            versions = {int(v): _Version(os.path.join(model_dir, v))
                        for v in os.listdir(model_dir) if v.isdigit()}
            if versions:
                self.models[name] = versions
        self.labels = labels or {}

    def resolve(self, name, version=None, label=None):
        if name not in self.models:
            raise NotFound(f"Servable not found for request: Latest({name})")
        versions = self.models[name]
        if label is not None:
            if label not in self.labels.get(name, {}):
                raise NotFound(f"Unrecognized servable version label: {label}")
            version = self.labels[name][label]
        if version is None:
            ok = [v for v, item in versions.items() if item.loaded is not None]
            if not ok:
                raise NotFound(f"Servable not found for request: Latest({name})")
            version = max(ok)
        item = versions.get(int(version))
        if item is None or item.loaded is None:
            raise NotFound(f"Servable not found for request: Specific({name}, {version})")
        return int(version), item

    def run(self, item, signature, inputs):
        signature = signature or "serving_default"
        if signature not in item.loaded.signatures:
            raise BadRequest(f'Serving signature name: "{signature}" not found in '
                             "signature def")
        fn = item.loaded.signatures[signature]
        expected = fn.structured_input_signature[1]
        if set(inputs) != set(expected):
            raise BadRequest(f"input names {sorted(inputs)} do not match the signature's "
                             f"{sorted(expected)}")
        tensors = {}
        for key, spec in expected.items():
            try:
                value = np.asarray(inputs[key], dtype=spec.dtype.as_numpy_dtype)
            except (TypeError, ValueError) as e:
                raise BadRequest(f"input {key!r}: {e}") from None
            if not spec.shape.is_compatible_with(value.shape):
                raise BadRequest(f"input {key!r}: shape {list(value.shape)} is not "
                                 f"compatible with {spec.shape.as_list()}")
            tensors[key] = tf.constant(value)
        try:
            return {k: v.numpy() for k, v in fn(**tensors).items()}
        except tf.errors.InvalidArgumentError as e:
            # TF Serving returns the whole status message; an assertion inside
            # a loop or nested function starts it with "Graph execution
            # error:" and names the failed check lines later.
            raise BadRequest(" ".join(line.strip() for line in e.message.splitlines()
                                      if line.strip())[:2000]) from None


def _rest_inputs(body, input_names):
    if ("instances" in body) == ("inputs" in body):
        raise BadRequest("Missing 'inputs' or 'instances' key" if "inputs" not in body
                         else "Not both 'inputs' and 'instances' may be given")
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list) or not rows:
            raise BadRequest("'instances' must be a non-empty list")
        if all(isinstance(r, dict) for r in rows):
            keys = set(rows[0])
            if any(set(r) != keys for r in rows):
                raise BadRequest("every instance must name the same inputs")
            return {k: [r[k] for r in rows] for k in keys}, "row"
        if len(input_names) != 1:
            raise BadRequest("instances must be objects naming the inputs when the "
                             "signature has several")
        return {input_names[0]: rows}, "row"
    value = body["inputs"]
    if isinstance(value, dict):
        return value, "columnar"
    if len(input_names) != 1:
        raise BadRequest("'inputs' must be an object when the signature has several inputs")
    return {input_names[0]: value}, "columnar"


def _rest_outputs(outputs, fmt):
    if fmt == "row":
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values())).tolist()}
        n = len(next(iter(outputs.values())))
        return {"predictions": [{k: v[i].tolist() for k, v in outputs.items()}
                                for i in range(n)]}
    if len(outputs) == 1:
        return {"outputs": next(iter(outputs.values())).tolist()}
    return {"outputs": {k: v.tolist() for k, v in outputs.items()}}


_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(/versions/(?P<version>\d+)|"
                   r"/labels/(?P<label>[^/:]+))?(?P<rest>:predict|/metadata)?$")


def _make_handler(registry):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _reply(self, code, payload):
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method):
            match = _PATH.match(self.path)
            if not match:
                raise NotFound(f"Malformed request: {method} {self.path}")
            name, rest = match["name"], match["rest"]
            if method == "GET" and rest is None:
                # Status lists versions that failed to load too, with their error.
                if name not in registry.models:
                    raise NotFound(f"Could not find any versions of model {name}")
                wanted = match["version"] and int(match["version"])
                statuses = [{
                    "version": str(v), "state": "AVAILABLE" if i.loaded else "END",
                    "status": {"error_code": "OK" if i.loaded else "UNKNOWN",
                               "error_message": i.error or ""}}
                    for v, i in sorted(registry.models[name].items())
                    if wanted is None or v == wanted]
                if not statuses:
                    raise NotFound(f"Could not find version {wanted} of model {name}")
                return {"model_version_status": statuses}
            version, item = registry.resolve(name, match["version"], match["label"])
            if method == "GET" and rest == "/metadata":
                sig_map = get_model_metadata_pb2.SignatureDefMap()
                for k, v in item.signature_defs.items():
                    sig_map.signature_def[k].CopyFrom(v)
                return {"model_spec": {"name": name, "signature_name": "",
                                       "version": str(version)},
                        "metadata": {"signature_def": json_format.MessageToDict(
                            sig_map, preserving_proto_field_name=True)}}
            if method == "POST" and rest == ":predict":
                length = int(self.headers.get("Content-Length", 0))
                try:
                    body = json.loads(self.rfile.read(length))
                except ValueError as e:
                    raise BadRequest(f"JSON Parse error: {e}") from None
                signature = body.get("signature_name", "serving_default")
                if signature not in item.loaded.signatures:
                    raise BadRequest(f'Serving signature name: "{signature}" not found '
                                     "in signature def")
                names = sorted(item.loaded.signatures[signature]
                               .structured_input_signature[1])
                inputs, fmt = _rest_inputs(body, names)
                return _rest_outputs(registry.run(item, signature, inputs), fmt)
            raise NotFound(f"Malformed request: {method} {self.path}")

        def _handle(self, method):
            try:
                self._reply(200, self._route(method))
            except NotFound as e:
                self._reply(404, {"error": str(e)})
            except BadRequest as e:
                self._reply(400, {"error": str(e)})

        def do_GET(self):
            self._handle("GET")

        def do_POST(self):
            self._handle("POST")

    return Handler


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, registry):
        self.registry = registry

    def _resolve(self, spec, context):
        try:
            return self.registry.resolve(
                spec.name, spec.version.value if spec.HasField("version") else None,
                spec.version_label or None)
        except NotFound as e:
            context.abort(grpc.StatusCode.NOT_FOUND, str(e))

    def Predict(self, request, context):
        version, item = self._resolve(request.model_spec, context)
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        try:
            outputs = self.registry.run(item, request.model_spec.signature_name, inputs)
        except BadRequest as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        reply = predict_pb2.PredictResponse()
        reply.model_spec.name = request.model_spec.name
        reply.model_spec.version.value = version
        for k, v in outputs.items():
            reply.outputs[k].CopyFrom(tf.make_tensor_proto(v))
        return reply

    def GetModelMetadata(self, request, context):
        version, item = self._resolve(request.model_spec, context)
        if list(request.metadata_field) != ["signature_def"]:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          "Metadata field signature_def is the only one supported")
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        for k, v in item.signature_defs.items():
            sig_map.signature_def[k].CopyFrom(v)
        reply = get_model_metadata_pb2.GetModelMetadataResponse()
        reply.model_spec.name = request.model_spec.name
        reply.model_spec.version.value = version
        reply.metadata["signature_def"].Pack(sig_map)
        return reply


class _ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, registry):
        self.registry = registry

    def GetModelStatus(self, request, context):
        spec = request.model_spec
        if spec.name not in self.registry.models:
            context.abort(grpc.StatusCode.NOT_FOUND,
                          f"Could not find any versions of model {spec.name}")
        reply = get_model_status_pb2.GetModelStatusResponse()
        for v, item in sorted(self.registry.models[spec.name].items()):
            if spec.HasField("version") and v != spec.version.value:
                continue
            status = reply.model_version_status.add()
            status.version = v
            status.state = (get_model_status_pb2.ModelVersionStatus.AVAILABLE if item.loaded
                            else get_model_status_pb2.ModelVersionStatus.END)
            status.status.error_code = 0 if item.loaded else 2
            status.status.error_message = item.error or ""
        return reply


class ServingStub:
    """REST and gRPC on 127.0.0.1 (free ports); use as a context manager.

    Args:
      base: model base directory (BASE/NAME/VERSION).
      labels: {model: {label: version}}.
    """

    def __init__(self, base, labels=None):
        self.registry = ModelRegistry(base, labels)

    def __enter__(self):
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self.registry))
        self.rest_url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            _PredictionService(self.registry), self.grpc)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(
            _ModelService(self.registry), self.grpc)
        port = self.grpc.add_insecure_port("127.0.0.1:0")
        self.grpc_target = f"127.0.0.1:{port}"
        self.grpc.start()
        return self

    def __exit__(self, *exc):
        self.http.shutdown()
        self.http.server_close()
        self.grpc.stop(grace=None)
