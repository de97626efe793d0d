"""Stage `ttest`: every variant against the baseline on every dataset, and the paper's Table 4 recomputed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from diffurec.errors import DataError
from diffurec.report.significance import PAPER_HALF_UNIT, PER_USER_K, VariantComparison, check_paper_table4, compare_variant
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
    """Paired tests of each variant against the baseline, per dataset, written to OUT.

    Three tests per (dataset, variant): the paper's paired t-test over the seed-averaged metric
    means; per metric, a paired t-test across seeds; per user, a Wilcoxon signed-rank test on
    NDCG@10 averaged over seeds. Also recomputes the paper's Table 4 from the paper's Table 3.
    """
    config = load_config(params)
    metrics = metric_names(config.eval.ks)
    paper = load_paper_tables(paper_tables)
    comparisons = []
    if BASELINE in config.variants:
        for dataset in config.datasets:
            comparisons.extend(_compare_dataset(runs, dataset, config.variants, config.seeds, metrics))
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
    runs: Path, dataset: str, variants: tuple[str, ...], seeds: tuple[int, ...], metrics: tuple[str, ...]
) -> list[VariantComparison]:
    baseline = seed_metrics(runs, dataset, BASELINE, seeds, metrics)
    baseline_ndcg = seed_averaged_ndcg(runs, dataset, BASELINE, seeds, PER_USER_K)
    comparisons = []
    for variant in variants:
        if variant == BASELINE:
            continue
        values = seed_metrics(runs, dataset, variant, seeds, metrics)
        variant_ndcg = seed_averaged_ndcg(runs, dataset, variant, seeds, PER_USER_K)
        if not variant_ndcg.index.equals(baseline_ndcg.index):
            path = layout.eval_dir(dataset, variant, seeds[0], runs) / "ranks.parquet"
            raise DataError(
                f"{path}: ranks other test users than the baseline's run on {dataset}; "
                "rerun the evaluate stage for both (dvc repro evaluate)"
            )
        comparisons.append(
            compare_variant(dataset, variant, values, baseline, variant_ndcg.to_numpy(), baseline_ndcg.to_numpy())
        )
    return comparisons
