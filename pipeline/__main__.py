"""`python -m pipeline STAGE ...`: registers STAGE's command alone (all of them for `--help`), then runs it."""

import sys

from pipeline import stages
from pipeline.app import main

stages.register(sys.argv[1] if len(sys.argv) > 1 else None)
main()
