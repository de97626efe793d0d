"""One module per stage; importing this package registers every command on the app."""

from pipeline.stages import (  # noqa: F401
    dataset_report,
    download,
    evaluate,
    preprocess,
    split,
    tables,
    train,
    ttest,
)
