"""Stage `ttest`: every model against DiffuRec, and against the control where it is run, on every
dataset, and the paper's Table 4 recomputed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from diffurec.errors import DataError
from diffurec.report.significance import (
    PAPER_HALF_UNIT,
    PER_USER_K,
    VariantComparison,
    check_paper_table4,
    compare_variant,
    comparison_pairs,
)
from diffurec.report.tables import metric_names
from diffurec.variants import BASELINE
from pipeline import layout
from pipeline.app import app
from pipeline.files.atomic_write import write_json
from pipeline.files.paper_tables import PAPER_TABLES, load_paper_tables
from pipeline.files.run_results import seed_averaged_ndcg, seed_metrics
from pipeline.params import DEFAULT_PARAMS, load_config



@app.command()
def ttest(
    runs: Annotated[Path, typer.Option(help="Runs folder holding eval/<dataset>/<variant>/seed<k>/.")] = layout.RUNS,
    paper_tables: Annotated[Path, typer.Option(help="The paper's printed numbers.")] = PAPER_TABLES,
    out: Annotated[Path, typer.Option(help="JSON file that receives every test.")] = layout.ttest_file(),
    params: Annotated[Path, typer.Option(help="Parameters file (reads datasets, variants, seeds, eval.ks).")]
    = DEFAULT_PARAMS,
) -> None:
    """Paired tests of each model against DiffuRec (the baseline) and, when `variants` lists the
    control, against the control, per dataset, written to OUT; each comparison names its reference.

    Three tests per (dataset, model, reference): the paper's paired t-test over the seed-averaged
    metric means; per metric, a paired t-test across seeds; per user, a Wilcoxon signed-rank test
    on NDCG@10 averaged over seeds. DiffuRec against the control is tested once, as DiffuRec vs
    control. Also recomputes the paper's Table 4 from the paper's Table 3.
    """
    config = load_config(params)
    metrics = metric_names(config.eval.ks)
    paper = load_paper_tables(paper_tables)
    pairs = comparison_pairs(config.variants)
    comparisons = []
    for dataset in config.datasets:
        comparisons.extend(_compare_dataset(runs, dataset, pairs, config.seeds, metrics))
    checks = check_paper_table4(paper.means, paper.printed_table4, PAPER_HALF_UNIT, BASELINE)
    write_json(
        out,
        {
            "datasets": list(config.datasets),
            "variants": list(config.variants),
            "seeds": list(config.seeds),
            "metrics": list(metrics),
            "comparisons": [c.to_dict() for c in comparisons],
            "paper_table4": [c.to_dict() for c in checks],
        },
    )


def _compare_dataset(
    runs: Path, dataset: str, pairs: tuple[tuple[str, str], ...], seeds: tuple[int, ...], metrics: tuple[str, ...]
) -> list[VariantComparison]:
    # Each model's files are read once, however many pairs it is in.
    models = dict.fromkeys(model for pair in pairs for model in pair)
    values = {model: seed_metrics(runs, dataset, model, seeds, metrics) for model in models}
    ndcg = {model: seed_averaged_ndcg(runs, dataset, model, seeds, PER_USER_K) for model in models}
    comparisons = []
    for variant, reference in pairs:
        if not ndcg[variant].index.equals(ndcg[reference].index):
            path = layout.eval_dir(dataset, variant, seeds[0], runs) / "ranks.parquet"
            raise DataError(
                f"{path}: ranks other test users than the {reference} run on {dataset}; "
                "rerun the evaluate stage for both (dvc repro evaluate)"
            )
        comparisons.append(
            compare_variant(
                dataset,
                variant,
                values[variant],
                values[reference],
                ndcg[variant].to_numpy(),
                ndcg[reference].to_numpy(),
                reference=reference,
            )
        )
    return comparisons
