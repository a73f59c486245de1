"""Prepare an export for upload to Kaggle Models.

    python -m export.publish BASE/NAME/VERSION --out DIR --owner OWNER [--slug SLUG]
        [--variation default] [--title TITLE] [--license "Apache 2.0"] [--public]

DIR then holds model-metadata.json (the model) and DIR/VARIATION/ with the
SavedModel and model-instance-metadata.json (a TensorFlow 2 variation).
Upload with the Kaggle CLI:

    kaggle models create -p DIR
    kaggle models instances create -p DIR/VARIATION
    # a new version of an existing variation:
    kaggle models instances versions create OWNER/SLUG/tensorFlow2/VARIATION -p DIR/VARIATION

and load it anywhere with
export.hub.load("https://www.kaggle.com/models/OWNER/SLUG/tensorFlow2/VARIATION/1").
"""

import argparse
import json
import os
import re
import shutil
import sys

from export import layout
from export.audit import audit_saved_model

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{2,49}$")
# The file names the Kaggle CLI reads.
MODEL_METADATA_FILE = "model-metadata.json"
INSTANCE_METADATA_FILE = "model-instance-metadata.json"


class PublishError(Exception):
    """The export cannot be published as asked; the message says why."""


def prepare(version_dir, out, owner, slug=None, variation="default", title=None,
            license_name="Apache 2.0", private=True, overwrite=False):
    """Writes the Kaggle Models upload folder; returns the variation folder."""
    if not layout.is_version_dir(version_dir):
        raise PublishError(f"{version_dir!r} is not an export version directory "
                           f"(no {layout.SAVED_MODEL_FILE})")
    problems = audit_saved_model(version_dir)
    if problems:
        raise PublishError("export is not servable: " + "; ".join(problems))
    meta_path = os.path.join(version_dir, layout.METADATA_FILE)
    meta = json.load(open(meta_path)) if os.path.isfile(meta_path) else {}
    slug = slug or str(meta.get("name") or meta.get("model") or "").replace("_", "-")
    for what, value in (("owner", owner), ("slug", slug), ("variation", variation)):
        if not _SLUG.match(value or ""):
            raise PublishError(f"{what} {value!r} must be 3-50 lowercase letters, "
                               "digits or '-'")
    if os.path.exists(out):
        if not overwrite:
            raise PublishError(f"{out!r} exists; pass --overwrite to replace it")
        shutil.rmtree(out)
    instance_dir = os.path.join(out, variation)
    shutil.copytree(version_dir, instance_dir)
    card = ""
    card_path = os.path.join(version_dir, layout.CARD_FILE)
    if os.path.isfile(card_path):
        card = open(card_path).read()
    model_meta = {
        "ownerSlug": owner, "title": title or slug, "slug": slug,
        "subtitle": f"zoo `{meta.get('model', slug)}` generative model",
        "isPrivate": private, "description": card, "publishTime": "",
        "provenanceSources": "",
    }
    instance_meta = {
        "ownerSlug": owner, "modelSlug": slug, "instanceSlug": variation,
        "framework": "tensorFlow2", "overview": model_meta["subtitle"],
        "usage": card, "licenseName": license_name, "fineTunable": True,
        "trainingData": [meta["dataset"]] if meta.get("dataset") else [],
        "modelInstanceType": "Unspecified", "baseModelInstanceId": 0,
        "externalBaseModelUrl": "",
    }
    with open(os.path.join(out, MODEL_METADATA_FILE), "w") as f:
        json.dump(model_meta, f, indent=2)
    with open(os.path.join(instance_dir, INSTANCE_METADATA_FILE), "w") as f:
        json.dump(instance_meta, f, indent=2)
    return instance_dir


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m export.publish",
                                     description="Prepare a Kaggle Models upload folder.")
    parser.add_argument("version_dir", help="export version directory BASE/NAME/VERSION")
    parser.add_argument("--out", required=True)
    parser.add_argument("--owner", required=True, help="Kaggle user or organization slug")
    parser.add_argument("--slug", help="model slug (default: the export's name)")
    parser.add_argument("--variation", default="default")
    parser.add_argument("--title")
    parser.add_argument("--license", default="Apache 2.0")
    parser.add_argument("--public", action="store_true")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    try:
        instance_dir = prepare(args.version_dir, args.out, args.owner, args.slug,
                               args.variation, args.title, args.license,
                               not args.public, args.overwrite)
    except PublishError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    meta = json.load(open(os.path.join(instance_dir, INSTANCE_METADATA_FILE)))
    handle = f"{meta['ownerSlug']}/{meta['modelSlug']}/tensorFlow2/{meta['instanceSlug']}"
    print(f"kaggle models create -p {args.out}\n"
          f"kaggle models instances create -p {instance_dir}\n"
          f"# then: export.hub.load('https://www.kaggle.com/models/{handle}/1')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
