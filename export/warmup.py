"""TF Serving warmup requests: assets.extra/tf_serving_warmup_requests.

TF Serving replays these `PredictionLog` records when it loads a version,
so graph initialisation (and, on GPU, kernel autotuning) happens before
the first real request rather than during it.
"""

import os

import numpy as np
import tensorflow as tf

from export.layout import WARMUP_FILE


def example_batch(inputs, batch_size=1):
    """Valid inputs for a signature: zeros of each input's dtype and shape.

    Zeros are inside every zoo input's domain (seed rows, images in [0, 1],
    codes, labels, row counts).

    Args:
      inputs: {name: {"dtype": str, "shape": [-1, ...]}} as from
        `export.signatures.signature_defs`.
    """
    return {name: np.zeros([batch_size] + [max(d, 1) for d in spec["shape"][1:]],
                           dtype=tf.dtypes.as_dtype(spec["dtype"]).as_numpy_dtype)
            for name, spec in inputs.items()}


def write_warmup(path, model_name, signatures, batch_size=1):
    """Writes one small Predict request per signature into the SavedModel at `path`.

    Args:
      path: SavedModel directory.
      model_name: the name the server serves it under.
      signatures: `signature_defs(path)`.
    """
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    os.makedirs(os.path.dirname(os.path.join(path, WARMUP_FILE)), exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(path, WARMUP_FILE)) as writer:
        for name, sig in sorted(signatures.items()):
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=name))
            for key, value in example_batch(sig["inputs"], batch_size).items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def read_warmup(path):
    """[(signature_name, {input: np.ndarray})] from a SavedModel's warmup file."""
    from tensorflow_serving.apis import prediction_log_pb2

    requests = []
    for record in tf.data.TFRecordDataset(os.path.join(path, WARMUP_FILE)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        requests.append((request.model_spec.signature_name,
                         {k: tf.make_ndarray(v) for k, v in request.inputs.items()}))
    return requests
