"""SavedModel export for TF Serving and model hubs.

    python -m export RUN_DIR --base BASE_DIR [--name NAME] [--version N]

writes BASE_DIR/NAME/VERSION/, a SavedModel with named, batch-major
signatures (see `zoo.base.GenerativeModel.serving_endpoints`). File names and
version discovery: `export.layout`; loading exports and hub handles:
`export.hub`.
"""

from export.audit import audit_saved_model
from export.layout import latest_version, next_version, version_dir, versions
from export.saved_model import ExportError, export_model, export_run

__all__ = ["ExportError", "audit_saved_model", "export_model", "export_run",
           "latest_version", "next_version", "version_dir", "versions"]
