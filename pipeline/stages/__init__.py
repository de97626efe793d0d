"""One module per command, named after it; importing this package registers every command on
the app. A stage module never imports another: what stages share lives in pipeline/ or diffurec/
(tests/test_layers.py)."""

from pipeline.stages import (  # noqa: F401
    ablation,
    ablation_report,
    baselines,
    case_study,
    dataset_report,
    download,
    ensemble,
    evaluate,
    preprocess,
    split,
    table5,
    tables,
    train,
    tsne,
    ttest,
)
