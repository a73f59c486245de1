"""The `zoo` console command (installed by `pip install .`).

    zoo train vae --epochs 5            same as  python -m training.train vae --epochs 5
    zoo evaluate runs/vae --dataset digits       python -m training.evaluate ...
    zoo export runs/vae --base serving           python -m export ...
    zoo serving-config serving                   python -m export.config ...
    zoo publish serving/vae/1 --out kaggle --owner ME   python -m export.publish ...
    zoo list                                     the registered models

Each subcommand hands the rest of the command line to the `main(argv)` of
the module it names, so its options, messages and exit status are exactly
those of the `python -m` entry point. It lives in `training` because it
reaches both `training` and `export` (imports only go downward).
"""

import difflib
import importlib
import importlib.util
import os
import runpy
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# name -> (module whose main(argv) runs it, one line of help). Modules are
# imported only when their command runs: `zoo --help` must not wait for TensorFlow.
COMMANDS = {
    "train": ("training.train", "train a model on a dataset and export it "
                                "(python -m training.train)"),
    "evaluate": ("training.evaluate.cli", "score a run or an export, or --compare "
                                          "evaluations (python -m training.evaluate)"),
    "export": ("export.__main__", "export a run as a versioned SavedModel "
                                  "(python -m export)"),
    "serving-config": ("export.config", "write TF Serving's config for a model base "
                                        "(python -m export.config)"),
    "publish": ("export.publish", "prepare a Kaggle Models upload "
                                  "(python -m export.publish)"),
    "list": ("training.catalog", "the registered models: family, capabilities, "
                                 "conditional, paper"),
}


def usage():
    """The text of `zoo --help`."""
    width = max(map(len, COMMANDS))
    commands = "\n".join(f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items())
    return (f"usage: zoo COMMAND [ARGS ...]\n\n"
            f"Generative models on TensorFlow, Keras 3 and TFP: train, evaluate, export\n"
            f"and serve them.\n\n"
            f"commands:\n{commands}\n\n"
            f"options:\n  -h, --help  show this help and exit\n"
            f"  --version   print the zoo's version and exit\n\n"
            f"`zoo COMMAND --help` shows a command's options.")


def version():
    """zoo.__version__, read from zoo/_version.py without importing zoo
    (and so TensorFlow), from wherever `import zoo` would find it."""
    package_dir = os.path.dirname(importlib.util.find_spec("zoo").origin)
    return runpy.run_path(os.path.join(package_dir, "_version.py"))["__version__"]


def _fail(message):
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv=None):
    """Runs `zoo COMMAND ARGS...`; returns the exit status (2 for bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        return _fail(f"give a command: {', '.join(COMMANDS)} (zoo --help describes them)")
    command, rest = argv[0], argv[1:]
    if command in ("-h", "--help"):
        print(usage())
        return 0
    if command == "--version":
        print(f"zoo {version()}")
        return 0
    if command not in COMMANDS:
        close = difflib.get_close_matches(command, COMMANDS, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        return _fail(f"unknown command {command!r}.{hint} Commands: {', '.join(COMMANDS)}")
    module = importlib.import_module(COMMANDS[command][0])
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
