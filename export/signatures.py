"""Signature introspection straight from saved_model.pb (no TF function loading).

TF Serving describes models by their SignatureDefs; reading them from the
proto gives exactly what a server will report, and is cheap.
"""

import os

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from export import layout

# Signatures the SavedModel format adds for itself.
INTERNAL = ("__saved_model_init_op",)


def read_saved_model_proto(path):
    """The parsed `SavedModel` proto of the SavedModel directory `path`."""
    pb_path = os.path.join(path, layout.SAVED_MODEL_FILE)
    saved = saved_model_pb2.SavedModel()
    with open(pb_path, "rb") as f:
        saved.ParseFromString(f.read())
    return saved


def _tensor_info(info):
    shape = None if info.tensor_shape.unknown_rank else [
        int(d.size) for d in info.tensor_shape.dim]
    return {"dtype": tf.dtypes.as_dtype(info.dtype).name, "shape": shape}


def signature_defs(path):
    """{signature: {"inputs": {name: {dtype, shape}}, "outputs": {...}}}.

    Shapes use -1 for the batch (or any unknown) dimension, as TF Serving's
    metadata does.
    """
    saved = read_saved_model_proto(path)
    result = {}
    for meta_graph in saved.meta_graphs:
        for name, sig in meta_graph.signature_def.items():
            if name in INTERNAL:
                continue
            result[name] = {
                "inputs": {k: _tensor_info(v) for k, v in sorted(sig.inputs.items())},
                "outputs": {k: _tensor_info(v) for k, v in sorted(sig.outputs.items())},
            }
    return result
