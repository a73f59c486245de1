"""Checks that a SavedModel holds only ops a stock TF Serving can run.

TF Serving has no Python, so Python-function ops (PyFunc, EagerPyFunc,
what TF's py/numpy function wrappers emit) cannot run there; ops outside TensorFlow's own
registry need custom server builds; functions marked for XLA compilation
need experimental server flags.
"""

from tensorflow.python.framework import op_def_registry

from export.signatures import read_saved_model_proto

PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
XLA_OPS = frozenset({"XlaLaunch", "_XlaCompile", "_XlaRun", "XlaLaunchV2"})


def _is_true(attr_map, key):
    return key in attr_map and attr_map[key].b


def audit_saved_model(path):
    """Lists what in the SavedModel at `path` TF Serving could not run.

    Args:
      path: a SavedModel directory (holding saved_model.pb).

    Returns:
      A list of human-readable problems; empty when the export is servable.
    """
    saved = read_saved_model_proto(path)
    function_names = set()
    problems = []

    def check_nodes(nodes, where):
        for node in nodes:
            if node.op in PYTHON_OPS:
                problems.append(f"{where}: node {node.name!r} is a Python op "
                                f"({node.op}); TF Serving has no Python")
            elif node.op in XLA_OPS or _is_true(node.attr, "_XlaMustCompile"):
                problems.append(f"{where}: node {node.name!r} is XLA-compiled")
            elif node.op not in function_names and \
                    op_def_registry.get(node.op) is None:
                problems.append(f"{where}: node {node.name!r} uses op "
                                f"{node.op!r}, which is not a TensorFlow op")

    for meta_graph in saved.meta_graphs:
        library = meta_graph.graph_def.library
        function_names.update(f.signature.name for f in library.function)
        check_nodes(meta_graph.graph_def.node, "graph")
        for function in library.function:
            name = function.signature.name
            if _is_true(function.attr, "_XlaMustCompile"):
                problems.append(f"function {name!r} is marked for XLA "
                                "compilation (jit_compile=True)")
            check_nodes(function.node_def, f"function {name!r}")
    return problems
