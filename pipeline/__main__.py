"""`python -m pipeline STAGE ...`: importing a stage module registers its command."""

from pipeline import stages  # noqa: F401  (registers the commands)
from pipeline.app import main

main()
