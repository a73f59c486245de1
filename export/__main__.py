"""python -m export RUN_DIR --base BASE [--name NAME] [--version N] [--overwrite]"""

import argparse
import os
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m export",
        description="Export a trained run as a versioned SavedModel "
                    "(BASE/NAME/VERSION) that TF Serving and hub.load can use.")
    parser.add_argument("run_dir", help="run directory written by training.train")
    parser.add_argument("--base", required=True, help="model base directory")
    parser.add_argument("--name", help="model name (default: the run's model)")
    parser.add_argument("--version", type=int,
                        help="version number (default: next free integer)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing version")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from export.saved_model import ExportError, export_run
    import zoo  # registers the model classes for load_model
    try:
        path = export_run(args.run_dir, args.base, name=args.name,
                          version=args.version, overwrite=args.overwrite)
    except (ExportError, zoo.ZooError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
