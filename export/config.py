"""Serving configuration for every model under a base directory.

    python -m export.config BASE [--label stable=2] [--container-root /models]
        [--max-batch-size 64] [--batch-timeout-micros 2000]
        [--image tensorflow/serving:2.21.0-gpu]

writes into BASE:
  models.config             ModelServerConfig: every model, all complete versions,
                            version labels ("stable" -> newest unless given)
  batching_parameters.txt   server-side batching for --enable_batching
  docker-compose.yml        the GPU serving image on these files

Start it with `docker compose -f BASE/docker-compose.yml up` (needs the NVIDIA
container toolkit), or the equivalent `docker run --gpus all ...` printed by
this command.
"""

import argparse
import os
import sys

from export import layout
from export.layout import BATCHING_FILE, COMPOSE_FILE, SERVING_CONFIG_FILE as CONFIG_FILE

SERVING_IMAGE = "tensorflow/serving:2.21.0-gpu"


class ConfigError(Exception):
    """The base directory cannot be turned into a serving config."""


def scan(base):
    """{model name: sorted complete versions} for the model dirs under `base`.

    Only complete versions count (`export.layout.versions`): temporary
    export folders and stray files are skipped, as TF Serving skips them.
    """
    if not os.path.isdir(base):
        raise ConfigError(f"model base {base!r} does not exist")
    models = layout.model_versions(base)
    if not models:
        raise ConfigError(f"no exported models under {base!r} (expected "
                          f"BASE/NAME/VERSION/{layout.SAVED_MODEL_FILE})")
    return models


def models_config(models, container_root="/models", labels=None):
    """ModelServerConfig text for `models` ({name: versions}).

    Args:
      models: as returned by `scan`.
      container_root: where BASE is mounted inside the server.
      labels: {label: version} applied to every model that has that version;
        default {"stable": newest version} per model.
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2 as pb

    config = pb.ModelServerConfig()
    for name, versions in models.items():
        entry = config.model_config_list.config.add()
        entry.name = name
        entry.base_path = f"{container_root.rstrip('/')}/{name}"
        entry.model_platform = "tensorflow"
        # Serve every complete version so labels can move between them.
        entry.model_version_policy.specific.versions.extend(versions)
        model_labels = dict(labels) if labels else {"stable": versions[-1]}
        for label, version in sorted(model_labels.items()):
            if version in versions:
                entry.version_labels[label] = version
    return text_format.MessageToString(config)


def batching_parameters(max_batch_size=64, batch_timeout_micros=2000,
                        num_batch_threads=4, max_enqueued_batches=100):
    """BatchingParameters text. Allowed sizes are powers of two up to the max,
    so the GPU sees a few fixed shapes instead of one per request size."""
    sizes, size = [], 1
    while size < max_batch_size:
        sizes.append(size)
        size *= 2
    sizes.append(max_batch_size)
    lines = [f"max_batch_size {{ value: {max_batch_size} }}",
             f"batch_timeout_micros {{ value: {batch_timeout_micros} }}",
             f"max_enqueued_batches {{ value: {max_enqueued_batches} }}",
             f"num_batch_threads {{ value: {num_batch_threads} }}"]
    lines += [f"allowed_batch_sizes: {s}" for s in sizes]
    lines.append("pad_variable_length_inputs: false")
    return "\n".join(lines) + "\n"


def server_args(container_root="/models"):
    return [f"--model_config_file={container_root}/{CONFIG_FILE}",
            "--model_config_file_poll_wait_seconds=60",
            "--enable_batching=true",
            f"--batching_parameters_file={container_root}/{BATCHING_FILE}",
            "--port=8500", "--rest_api_port=8501"]


def docker_compose(image=SERVING_IMAGE, container_root="/models"):
    args = "\n".join(f"      - {a}" for a in server_args(container_root))
    return f"""# TF Serving on GPU for every model in this folder.
# docker compose -f docker-compose.yml up   (NVIDIA container toolkit required)
services:
  serving:
    image: {image}
    ports:
      - "8500:8500"   # gRPC
      - "8501:8501"   # REST
    volumes:
      - ./:{container_root}:ro
    command:
{args}
    deploy:
      resources:
        reservations:
          devices:
            - driver: nvidia
              count: all
              capabilities: [gpu]
"""


def write_config(base, labels=None, container_root="/models", image=SERVING_IMAGE,
                 max_batch_size=64, batch_timeout_micros=2000):
    """Writes the three files into `base`; returns their paths."""
    models = scan(base)
    files = {
        CONFIG_FILE: models_config(models, container_root, labels),
        BATCHING_FILE: batching_parameters(max_batch_size, batch_timeout_micros),
        COMPOSE_FILE: docker_compose(image, container_root),
    }
    paths = []
    for name, text in files.items():
        path = os.path.join(base, name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)  # a polling server never reads half a file
        paths.append(path)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m export.config",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="model base directory (BASE/NAME/VERSION)")
    parser.add_argument("--label", action="append", default=[], metavar="LABEL=VERSION",
                        help="version label for every model having that version")
    parser.add_argument("--container-root", default="/models")
    parser.add_argument("--image", default=SERVING_IMAGE)
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--batch-timeout-micros", type=int, default=2000)
    args = parser.parse_args(argv)
    try:
        labels = {}
        for item in args.label:
            label, sep, version = item.partition("=")
            if not sep or not version.isdigit():
                raise ConfigError(f"--label expects LABEL=VERSION, got {item!r}")
            labels[label] = int(version)
        if args.max_batch_size < 1:
            raise ConfigError("--max-batch-size must be positive")
        paths = write_config(args.base, labels or None, args.container_root, args.image,
                             args.max_batch_size, args.batch_timeout_micros)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n".join(paths))
    print("\nstart: docker run --gpus all -p 8500:8500 -p 8501:8501 "
          f"-v {os.path.abspath(args.base)}:{args.container_root}:ro {args.image} "
          + " ".join(server_args(args.container_root)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
