"""Stage `ttest`: every variant against the baseline on every dataset, and the paper's Table 4 recomputed."""

from __future__ import annotations

from pathlib import Path
from statistics import fmean
from typing import Annotated

import typer

from diffurec.errors import DataError
from diffurec.significance import (
    PER_USER_K,
    VariantComparison,
    check_paper_table4,
    paired_ttest,
    signed_rank_test,
)
from diffurec.tables import BASELINE, metric_names
from pipeline import layout
from pipeline.app import app
from pipeline.fileio import write_json
from pipeline.params import DEFAULT_PARAMS, load_config
from pipeline.report_inputs import (
    PAPER_TABLES,
    load_paper_tables,
    seed_averaged_ndcg,
    seed_metrics,
)

# The paper prints Table 3 and Table 4 to 4 decimals.
PAPER_HALF_UNIT = 0.5e-4


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
            VariantComparison(
                dataset=dataset,
                variant=variant,
                metric_means=paired_ttest(
                    [fmean(values[m]) for m in metrics], [fmean(baseline[m]) for m in metrics]
                ),
                per_metric={m: paired_ttest(values[m], baseline[m]) for m in metrics},
                per_user=signed_rank_test(variant_ndcg.to_numpy(), baseline_ndcg.to_numpy()),
            )
        )
    return comparisons
