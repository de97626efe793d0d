"""One module per stage; importing this package registers every command on the app."""

from pipeline.stages import (  # noqa: F401
    analysis,
    baselines,
    dataset_report,
    download,
    evaluate,
    preprocess,
    split,
    table5,
    tables,
    train,
    ttest,
)
