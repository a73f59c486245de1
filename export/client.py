"""Clients for TF Serving's REST and gRPC APIs that speak NumPy.

    from export.client import RestClient, GrpcClient
    rest = RestClient("http://localhost:8501", timeout=10)
    rest.predict("vae", {"seed": [[0, 0], [0, 1]]})["images"]      # np.ndarray
    rest.predict("vae", {"z": z}, signature="decode", version=2, format="columnar")
    grpc_client = GrpcClient("localhost:8500")
    grpc_client.predict("vae", {"seed": seeds}, label="stable")

Both validate inputs against the served signature (names, dtypes, shapes)
before sending, so a wrong request fails with a message naming the input,
and both turn server and transport errors into `ServingError`.
"""

import json
import urllib.error
import urllib.parse
import urllib.request

import numpy as np


class ServingError(Exception):
    """A request failed: unreachable server, timeout, unknown model/version/
    signature, or inputs the signature does not accept."""


def _check_inputs(model, signature, inputs, sig):
    """Inputs as arrays of the signature's dtypes; raises ServingError otherwise."""
    expected = sig["inputs"]
    if set(inputs) != set(expected):
        raise ServingError(f"{model}:{signature} takes inputs {sorted(expected)}, "
                           f"got {sorted(inputs)}")
    arrays, batch = {}, set()
    for name, spec in expected.items():
        value = np.asarray(inputs[name])
        dtype = np.dtype(spec["dtype"])
        if value.dtype.kind not in ("f" if dtype.kind == "f" else "iu") and value.size:
            raise ServingError(f"input {name!r} of {model}:{signature} must be "
                               f"{spec['dtype']}, got {value.dtype}")
        shape = spec["shape"]
        if shape is not None and (value.ndim != len(shape) or any(
                want not in (-1, got) for want, got in zip(shape, value.shape))):
            raise ServingError(f"input {name!r} of {model}:{signature} must have shape "
                               f"{shape} (-1 = any), got {list(value.shape)}")
        arrays[name] = value.astype(dtype)
        batch.add(value.shape[0] if value.ndim else None)
    if len(batch) > 1:
        raise ServingError(f"inputs of {model}:{signature} disagree on the batch size: "
                           f"{sorted(map(str, batch))}")
    return arrays


def _parse_signature_defs(signature_def_map):
    """{signature: {"inputs"/"outputs": {name: {dtype, shape}}}} from metadata JSON."""
    dtypes = {"DT_FLOAT": "float32", "DT_DOUBLE": "float64", "DT_INT32": "int32",
              "DT_INT64": "int64", "DT_UINT8": "uint8", "DT_BOOL": "bool",
              "DT_HALF": "float16", "DT_STRING": "object"}
    result = {}
    for name, sig in signature_def_map.items():
        entry = {}
        for part in ("inputs", "outputs"):
            entry[part] = {}
            for key, info in sig.get(part, {}).items():
                shape = info.get("tensorShape", info.get("tensor_shape", {}))
                dims = None if shape.get("unknownRank") or shape.get("unknown_rank") else [
                    int(d.get("size", -1)) for d in shape.get("dim", [])]
                entry[part][key] = {"dtype": dtypes.get(info.get("dtype"), "float32"),
                                    "shape": dims}
        result[name] = entry
    return result


class _Client:
    def __init__(self, timeout):
        self.timeout = timeout
        self._signatures = {}

    def signatures(self, model, version=None, label=None):
        """The served signatures of a model version, as {name: {inputs, outputs}}."""
        key = (model, version, label)
        if key not in self._signatures:
            self._signatures[key] = self._fetch_signatures(model, version, label)
        return self._signatures[key]

    def _signature(self, model, signature, version, label):
        sigs = self.signatures(model, version, label)
        if signature not in sigs:
            raise ServingError(f"model {model!r} has no signature {signature!r}; it has "
                               f"{sorted(s for s in sigs if not s.startswith('__'))}")
        return sigs[signature]

    def predict(self, model, inputs, signature="serving_default", version=None,
                label=None, validate=True, **kwargs):
        """Runs `signature` of `model` on `inputs` ({name: array-like}).

        Args:
          version / label: pin a version number or a version label.
          validate: check inputs against the signature first (one metadata
            request per model version, then cached).

        Returns:
          {output name: np.ndarray}.
        """
        if version is not None and label is not None:
            raise ServingError("pass a version or a label, not both")
        sig = self._signature(model, signature, version, label) if validate else None
        arrays = _check_inputs(model, signature, inputs, sig) if validate else {
            k: np.asarray(v) for k, v in inputs.items()}
        return self._predict(model, signature, arrays, version, label, sig, **kwargs)


class RestClient(_Client):
    """TF Serving's REST API (default port 8501).

    Args:
      url: server root, e.g. "http://localhost:8501".
      timeout: seconds per HTTP request.
    """

    def __init__(self, url="http://localhost:8501", timeout=10.0):
        super().__init__(timeout)
        parsed = urllib.parse.urlparse(str(url))
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ServingError(f"REST url must look like http://HOST:PORT, got {url!r}")
        self.url = str(url).rstrip("/")

    def _model_url(self, model, version=None, label=None):
        url = f"{self.url}/v1/models/{model}"
        if version is not None:
            url += f"/versions/{int(version)}"
        elif label is not None:
            url += f"/labels/{label}"
        return url

    def _request(self, url, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            try:
                message = json.loads(e.read()).get("error", "")
            except ValueError:
                message = e.reason
            raise ServingError(f"HTTP {e.code} from {url}: {message}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ServingError(f"cannot reach TF Serving at {url}: {reason}") from None

    def status(self, model, version=None, label=None):
        """The model_version_status list TF Serving reports."""
        return self._request(self._model_url(model, version, label))["model_version_status"]

    def metadata(self, model, version=None, label=None):
        return self._request(self._model_url(model, version, label) + "/metadata")

    def _fetch_signatures(self, model, version, label):
        meta = self.metadata(model, version, label)["metadata"]["signature_def"]
        return _parse_signature_defs(meta.get("signature_def", meta.get("signatureDef", {})))

    def _predict(self, model, signature, arrays, version, label, sig, format="row"):
        if format == "row":
            n = len(next(iter(arrays.values())))
            body = {"signature_name": signature,
                    "instances": [{k: v[i].tolist() for k, v in arrays.items()}
                                  for i in range(n)]}
        elif format == "columnar":
            body = {"signature_name": signature,
                    "inputs": {k: v.tolist() for k, v in arrays.items()}}
        else:
            raise ServingError(f"format must be 'row' or 'columnar', got {format!r}")
        reply = self._request(self._model_url(model, version, label) + ":predict", body)
        names = sorted(sig["outputs"]) if sig else None
        dtypes = {k: v["dtype"] for k, v in sig["outputs"].items()} if sig else {}
        if "predictions" in reply:
            rows = reply["predictions"]
            if rows and isinstance(rows[0], dict):
                out = {k: [r[k] for r in rows] for k in rows[0]}
            else:
                # A single output is sent unnamed (TF Serving's row format rule).
                out = {(names[0] if names else "output"): rows}
        else:
            outputs = reply["outputs"]
            out = outputs if isinstance(outputs, dict) else {
                (names[0] if names else "output"): outputs}
        return {k: np.asarray(v, dtype=dtypes.get(k)) for k, v in out.items()}


class GrpcClient(_Client):
    """TF Serving's gRPC API (default port 8500): PredictionService and ModelService.

    Args:
      target: "host:port".
      timeout: seconds per call (gRPC deadline).
    """

    def __init__(self, target="localhost:8500", timeout=10.0):
        super().__init__(timeout)
        import grpc
        from tensorflow_serving.apis import (model_service_pb2_grpc,
                                             prediction_service_pb2_grpc)

        self.target = target
        self._grpc = grpc
        self._channel = grpc.insecure_channel(target)
        self._predict_stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._model_stub = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self):
        self._channel.close()

    def _spec(self, model, signature=None, version=None, label=None):
        from tensorflow_serving.apis import model_pb2

        spec = model_pb2.ModelSpec(name=model)
        if signature:
            spec.signature_name = signature
        if version is not None:
            spec.version.value = int(version)
        elif label is not None:
            spec.version_label = label
        return spec

    def _call(self, method, request):
        try:
            return method(request, timeout=self.timeout)
        except self._grpc.RpcError as e:
            raise ServingError(f"gRPC {e.code().name} from {self.target}: "
                               f"{e.details()}") from None

    def status(self, model, version=None, label=None):
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest(
            model_spec=self._spec(model, version=version, label=label))
        reply = self._call(self._model_stub.GetModelStatus, request)
        return json_format.MessageToDict(reply)["model_version_status"]

    def metadata(self, model, version=None, label=None):
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=self._spec(model, version=version, label=label),
            metadata_field=["signature_def"])
        return self._call(self._predict_stub.GetModelMetadata, request)

    def _fetch_signatures(self, model, version, label):
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_metadata_pb2

        reply = self.metadata(model, version, label)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        reply.metadata["signature_def"].Unpack(sig_map)
        return _parse_signature_defs(json_format.MessageToDict(sig_map)["signatureDef"])

    def _predict(self, model, signature, arrays, version, label, sig):
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest(
            model_spec=self._spec(model, signature, version, label))
        for name, value in arrays.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        reply = self._call(self._predict_stub.Predict, request)
        return {k: tf.make_ndarray(v) for k, v in reply.outputs.items()}
