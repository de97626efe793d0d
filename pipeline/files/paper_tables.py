"""The paper's printed numbers, `reference/paper_tables.yaml`: read once, whole, for every stage
that sets them beside ours (ttest, tables, table5) and for the GPU reproduction's document."""

from __future__ import annotations

from pathlib import Path

from diffurec.errors import DataError
from diffurec.report.significance import PrintedTTest
from diffurec.report.tables import PaperTables
from pipeline.files.yaml_file import read_yaml

PAPER_TABLES = Path("reference/paper_tables.yaml")


def load_paper_tables(path: Path) -> PaperTables:
    """Every table of the file, checked for shape; value lists follow its `metrics`."""
    raw = read_yaml(path, DataError, f"restore it from git (git checkout -- {path})", "restore it from git")
    try:
        metrics = tuple(str(m) for m in raw["metrics"])
        reported = _per_metric(raw["table5_reported"], metrics)
        return PaperTables(
            metrics=metrics,
            convergence_s={
                variant: {dataset: float(s) for dataset, s in row.items()}
                for variant, row in raw["table2_convergence_seconds"].items()
            },
            means=_per_metric(raw["table3_mean"], metrics),
            stds=_per_metric(raw["table3_std"], metrics),
            printed_table4={
                dataset: {
                    label: PrintedTTest(float(r["t"]), float(r["p"]), float(r["avg_diff_pp"]))
                    for label, r in rows.items()
                }
                for dataset, rows in raw["table4_printed"].items()
            },
            reported={
                dataset: {method: dict(zip(metrics, values)) for method, values in rows.items()}
                for dataset, rows in reported.items()
            },
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise DataError(f"{path}: malformed paper table ({error!r}); restore it from git") from error


def _per_metric(table: dict, metrics: tuple[str, ...]) -> dict[str, dict[str, tuple[float, ...]]]:
    """row -> column -> one value per metric, e.g. dataset -> variant -> values."""
    result = {}
    for dataset, columns in table.items():
        result[dataset] = {}
        for column, values in columns.items():
            if len(values) != len(metrics):
                raise ValueError(f"{dataset}/{column} lists {len(values)} values for {len(metrics)} metrics")
            result[dataset][column] = tuple(float(v) for v in values)
    return result
