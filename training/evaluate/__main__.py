"""python -m training.evaluate (see `training.evaluate.cli`)."""

import sys

from training.evaluate.cli import main

sys.exit(main())
