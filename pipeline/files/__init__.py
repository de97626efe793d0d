"""Every file the pipeline reads or writes, one module per kind: how it is written (atomically,
`atomic_write`) and how it is read back, refusing a missing or malformed file with its path, the
stage that writes it and the fix.

- `recbole_inter`: RecBole's `.inter` interaction files (the download stage's output)
- `data_tables`: the preprocessed and split Parquet tables
- `checkpoint`: trained models (`model.pt`) and resume states
- `run_results`: what the train, evaluate, ensemble, baselines, ttest and ablation stages write
- `paper_tables`: the paper's printed numbers, `reference/paper_tables.yaml`
"""
