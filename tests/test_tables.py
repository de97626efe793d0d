"""The ttest and tables stages on a small synthetic runs tree, and the pure renderers on known inputs."""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import pipeline.stages.tables  # noqa: F401  (registers the command)
import pipeline.stages.ttest  # noqa: F401
from diffurec.errors import DataError
from diffurec.metrics import summarize
from diffurec.report.curves import CURVE_METRIC
from diffurec.report.significance import (
    PAPER_HALF_UNIT,
    PairedTTest,
    SignedRankTest,
    VariantComparison,
    check_paper_table4,
    paired_ttest,
)
from diffurec.report.markdown import markdown_table, without_empty_columns
from diffurec.report.tables import (
    PaperTables,
    VariantRuns,
    metric_names,
    render_table2,
    render_table3,
    render_table4,
)
from diffurec.train import SELECTION_METRIC
from pipeline.app import app
from pipeline.files.training_curves import read_baseline_curve, read_curve
from pipeline.files.paper_tables import load_paper_tables

REPO = Path(__file__).resolve().parents[1]
KS = (5, 10, 20)
METRICS = metric_names(KS)
USERS = [f"u{i:03d}" for i in range(60)]
# Lower ranks = better; v1 and v2 are made better than the baseline so the tests have a direction.
RANK_SHIFT = {"baseline": 0, "v1": 6, "v2": 8, "control": 3}
# Per seed: best epoch, last epoch, stopped early, of 6 epochs at patience 2. Seed 2 (and 3) is still
# improving when training ends; seed 1 ended unimproved but not by early stopping, seed 0 by it.
STOPS = {0: (3, 5, True), 1: (5, 6, False), 2: (6, 6, False), 3: (6, 6, False), 7: (6, 6, False)}
EPOCHS, PATIENCE = 6, 2


def write_run(runs: Path, dataset: str, variant: str, seed: int, shift: int = 0, recorded: bool = True) -> None:
    """One seed's eval and train files; `recorded` False: a train.json from before last_epoch,
    stopped_early and patience were recorded."""
    rng = np.random.default_rng([len(dataset), seed, RANK_SHIFT[variant], shift])
    ranks = np.maximum(1, rng.integers(1, 40, len(USERS)) - RANK_SHIFT[variant] - shift)
    eval_dir = runs / "eval" / dataset / variant / f"seed{seed}"
    eval_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"user_id": USERS, "rank": ranks.astype("int64")}).to_parquet(eval_dir / "ranks.parquet")
    (eval_dir / "metrics.json").write_text(json.dumps({**summarize(ranks, KS), "users": len(USERS)}))
    train_dir = runs / "train" / dataset / variant / f"seed{seed}"
    train_dir.mkdir(parents=True, exist_ok=True)
    best, last, stopped = STOPS[seed]
    train = {
        "dataset": dataset,
        "variant": variant,
        "seed": seed,
        "best_epoch": best,
        "epochs": EPOCHS,
        "time_to_best_s": 10.0 + seed + RANK_SHIFT[variant] + shift,
        "total_time_s": 20.0 + seed,
        "device": "cpu",
    }
    if recorded:
        train |= {"last_epoch": last, "stopped_early": stopped, "patience": PATIENCE}
    (train_dir / "train.json").write_text(json.dumps(train))
    # Validation NDCG@10 rises by 0.01 an epoch up to the best epoch, then falls by 0.005.
    epochs = np.arange(1, (last if recorded else EPOCHS) + 1)
    scores = np.where(epochs <= best, 0.01 * epochs, 0.01 * best - 0.005 * (epochs - best))
    history = pd.DataFrame({"epoch": epochs, "loss": 1.0 / epochs, "valid_NDCG@10": scores})
    history.to_csv(train_dir / "history.tsv", sep="\t", index=False)


def write_ensemble(runs: Path, dataset: str, variant: str, shift: int = 0) -> None:
    rng = np.random.default_rng([len(dataset), 99, RANK_SHIFT[variant], shift])
    ranks = np.maximum(1, rng.integers(1, 30, len(USERS)) - RANK_SHIFT[variant] - shift)
    out = runs / "ensemble" / dataset / variant
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"user_id": USERS, "rank": ranks.astype("int64")}).to_parquet(out / "ranks.parquet")
    (out / "metrics.json").write_text(json.dumps({**summarize(ranks, KS), "users": len(USERS)}))


def write_baseline_history(runs: Path, dataset: str, name: str, epochs: int) -> None:
    """A re-run baseline's validations, one per epoch, and the epoch budget RecBole resolved."""
    folder = runs / "baselines" / dataset / name
    folder.mkdir(parents=True, exist_ok=True)
    history = pd.DataFrame({"epoch": range(1, 4), "valid_NDCG@10": [0.02, 0.04, 0.03], "seconds": [1.0, 2.0, 3.0]})
    history.to_csv(folder / "history.tsv", sep="\t", index=False)
    (folder / "metrics.json").write_text(json.dumps({"settings": {"epochs": epochs}, "last_epoch": 3}))


def make_project(root: Path, datasets, variants, seeds, recorded: bool = True, baselines=("GRU4Rec",)) -> Path:
    params = {"datasets": list(datasets), "variants": list(variants), "seeds": list(seeds), "eval": {"ks": list(KS)},
              "baselines": list(baselines)}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    runs = root / "runs"
    for dataset in datasets:
        for variant in variants:
            for seed in seeds:
                write_run(runs, dataset, variant, seed, recorded=recorded)
            write_ensemble(runs, dataset, variant)
        for name in baselines:
            write_baseline_history(runs, dataset, name, EPOCHS)
    return root


def run_stages(root: Path) -> None:
    common = ["--runs", str(root / "runs"), "--paper-tables", str(REPO / "reference/paper_tables.yaml")]
    params = ["--params", str(root / "params.yaml")]
    results = ["--out", str(root / "runs/ttest/results.json")]
    _invoke(["ttest", *common, *results, *params])
    outputs = ["--reports", str(root / "reports"), "--metrics-file", str(root / "metrics.json")]
    _invoke(["tables", *common, "--ttest-results", str(root / "runs/ttest/results.json"), *outputs, *params])


def _invoke(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    if result.exception is not None:
        raise result.exception


def outputs(root: Path) -> dict[str, str]:
    files = sorted((root / "reports").glob("*.md")) + [root / "metrics.json"]
    return {f.name: f.read_text() for f in files}


def _eval_metrics(root: Path, variant: str, seed: int) -> dict[str, float]:
    return json.loads((root / f"runs/eval/ml-100k/{variant}/seed{seed}/metrics.json").read_text())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path, ["ml-100k", "amazon-beauty"], ["baseline", "v1", "v2", "control"], [0, 1, 2])


def test_reports_hold_measured_means_and_paper_values(project: Path) -> None:
    run_stages(project)
    table3 = (project / "reports/table3_performance.md").read_text()
    ours = [_eval_metrics(project, "v2", seed) for seed in (0, 1, 2)]
    ndcg10 = [r["NDCG@10"] for r in ours]
    expected = f"{statistics.fmean(ndcg10):.4f} ± {statistics.stdev(ndcg10):.4f}"
    ml100k = table3.split("## Amazon")[0]
    v2_row = next(line for line in ml100k.splitlines() if line.startswith("| V2") and "mean" in line)
    assert v2_row.split(" | ")[2 + METRICS.index("NDCG@10")] == expected
    paper = yaml.safe_load((REPO / "reference/paper_tables.yaml").read_text())
    beauty = table3.split("## Amazon Beauty")[1]
    paper_v1 = next(line for line in beauty.splitlines() if line.startswith("| V1") and "| paper |" in line)
    hr5 = paper["table3_mean"]["amazon-beauty"]["v1"][0], paper["table3_std"]["amazon-beauty"]["v1"][0]
    assert f"| {hr5[0]:.4f} ± {hr5[1]:.4f} |" in paper_v1
    assert "| paper |" not in ml100k, "ml-100k is not a paper dataset"

    summary = json.loads((project / "metrics.json").read_text())
    assert summary["ml-100k/v2/mean/NDCG@10"] == pytest.approx(statistics.fmean(ndcg10), rel=1e-5)
    baseline = [_eval_metrics(project, "baseline", seed) for seed in (0, 1, 2)]
    test = paired_ttest(
        [statistics.fmean(r[m] for r in ours) for m in METRICS],
        [statistics.fmean(r[m] for r in baseline) for m in METRICS],
    )
    assert summary["ml-100k/v2/ttest_metric_means/t"] == pytest.approx(test.t, rel=1e-5)
    assert not any("/baseline/ttest" in key for key in summary)

    table2 = (project / "reports/table2_convergence.md").read_text()
    beauty_baseline = next(line for line in table2.splitlines() if line.startswith("| Amazon Beauty | DiffuRec"))
    assert beauty_baseline.endswith(f"| {paper['table2_convergence_seconds']['baseline']['amazon-beauty']:.2f} |")


def test_output_is_deterministic_and_a_v2_change_touches_only_v2_lines(project: Path) -> None:
    run_stages(project)
    before = outputs(project)
    run_stages(project)
    assert outputs(project) == before

    for seed in (0, 1, 2):
        write_run(project / "runs", "ml-100k", "v2", seed, shift=2)
    write_ensemble(project / "runs", "ml-100k", "v2", shift=2)
    run_stages(project)
    after = outputs(project)
    changed_files = 0
    holm_changed = False
    for name, text in before.items():
        # Table 4's p (Holm) cells are adjusted over every row's p: those alone may change on other lines.
        old, new = _without_holm(text), _without_holm(after[name])
        assert len(old) == len(new), name
        changed = [a for a, b in zip(old, new, strict=True) if a != b]
        changed_files += bool(changed)
        for line in changed:
            assert "V2 (" in line or '"ml-100k/v2/' in line, f"{name}: a line not about v2 changed: {line}"
        holm_changed |= [a for a in text.splitlines() if "V2 (" not in a] != [
            b for b in after[name].splitlines() if "V2 (" not in b
        ]
    assert changed_files == 4 and holm_changed


def _without_holm(text: str) -> list[str]:
    """The lines of `text`, each table's p (Holm) cells blanked (the column its header names so)."""
    lines, column = [], None
    for line in text.splitlines():
        cells = line.split(" | ")
        if not line.startswith("|"):
            column = None
        elif column is None:
            column = cells.index("p (Holm)") if "p (Holm)" in cells else -1
        elif column >= 0:
            cells[column] = "<holm>"
        lines.append(" | ".join(cells))
    return lines


def test_single_seed_renders_na_with_a_note(tmp_path: Path) -> None:
    root = make_project(tmp_path, ["ml-100k"], ["baseline", "v1"], [3])
    run_stages(root)
    text = "".join(outputs(root).values())
    assert "nan" not in text.lower()
    assert "± n/a" in outputs(root)["table3_performance.md"]
    assert "lists one seed" in outputs(root)["table3_performance.md"]
    per_metric = outputs(root)["table4_ttest.md"].split("## 4b")[1].split("## 4c")[0]
    assert "Left out: with 1 seed, a t-test across seeds has 0 degrees of freedom" in per_metric
    assert "|" not in per_metric
    summary = json.loads((root / "metrics.json").read_text())
    assert "ml-100k/v1/mean/HR@10" in summary and not any("/std/" in key for key in summary)


def test_no_baseline_says_table4_is_not_computed(tmp_path: Path) -> None:
    root = make_project(tmp_path, ["ml-100k"], ["v1", "v2"], [0, 1])
    run_stages(root)
    table4 = outputs(root)["table4_ttest.md"]
    assert "Not computed" in table4 and "## 4a" not in table4
    assert "## 4d" in table4


def test_stale_runs_on_disk_stay_out_of_the_reports(project: Path) -> None:
    run_stages(project)
    before = outputs(project)
    write_run(project / "runs", "ml-100k", "v2", 7, shift=5)
    write_run(project / "runs", "ml-1m", "v2", 0)
    run_stages(project)
    assert outputs(project) == before


def test_missing_run_names_the_file_and_the_stage(project: Path) -> None:
    (project / "runs/eval/amazon-beauty/v1/seed2/metrics.json").unlink()
    with pytest.raises(DataError, match=r"seed2/metrics.json: not found.*dvc repro evaluate"):
        run_stages(project)
    assert not (project / "runs/ttest/results.json").exists()


def test_tables_refuses_ttest_results_for_other_params(project: Path) -> None:
    run_stages(project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["seeds"] = [0, 1]
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(DataError, match=r"results.json: computed for .*dvc repro ttest"):
        _invoke(
            ["tables", "--runs", str(project / "runs"), "--ttest-results", str(project / "runs/ttest/results.json"),
             "--reports", str(project / "reports"), "--metrics-file", str(project / "metrics.json"),
             "--params", str(project / "params.yaml"), "--paper-tables", str(REPO / "reference/paper_tables.yaml")]
        )


def test_markdown_table_is_unpadded() -> None:
    text = markdown_table(["a", "long header"], "lr", [["x", "1"], ["longer cell", "22"]])
    assert text == "| a | long header |\n| --- | ---: |\n| x | 1 |\n| longer cell | 22 |\n"


def test_a_column_with_no_value_in_any_row_is_left_out() -> None:
    rows = [["a", "—", "1", ""], ["b", "—", "—", ""]]
    header, align, kept = without_empty_columns(["Name", "Paper", "Ours", "Note"], "lrrl", rows)
    # "Paper" is "—" and "Note" blank in every row; "Ours" has one value, so it stays, its "—" with it.
    assert (header, align, kept) == (["Name", "Ours"], "lr", [["a", "1"], ["b", "—"]])
    assert without_empty_columns(["Name", "Paper"], "lr", []) == (["Name", "Paper"], "lr", [])


def test_render_table3_on_a_known_fixture() -> None:
    runs = {
        ("amazon-beauty", "v1"): VariantRuns(
            seeds=(0, 1),
            metrics={"HR@10": (0.1, 0.2), "NDCG@10": (0.05, 0.07)},
            ensemble={"HR@10": 0.25, "NDCG@10": 0.08},
            time_to_best_s=(1.0, 3.0),
            total_time_s=(2.0, 4.0),
            best_epoch=(1, 2),
            devices=("cpu", "cpu"),
        )
    }
    paper = PaperTables(
        metrics=("HR@10", "NDCG@10"),
        convergence_s={},
        means={"amazon-beauty": {"v1": (0.0974, 0.0556)}},
        stds={"amazon-beauty": {"v1": (0.0021, 0.0012)}},
        printed_table4={},
        reported={},
    )
    text = render_table3(["amazon-beauty"], ["v1"], ["HR@10", "NDCG@10"], runs, paper)
    assert "| V1 (+cross-attention) | mean ± std over 2 seeds | 0.1500 ± 0.0707 | 0.0600 ± 0.0141 |" in text
    assert "| V1 (+cross-attention) | ensemble of 2 seeds (Algorithm 3) | 0.2500 | 0.0800 |" in text
    assert "| V1 (+cross-attention) | paper | 0.0974 ± 0.0021 | 0.0556 ± 0.0012 |" in text
    printed = render_table3(["amazon-beauty"], ["v1"], ["HR@10", "NDCG@10"], runs, paper, ensemble="inference")
    assert ("| V1 (+cross-attention) | first seed's model, ensemble over 2 seeds as inference seeds (Algorithm 3) | "
            "0.2500 | 0.0800 |") in printed
    assert "Algorithm 3 as printed (eval.ensemble = inference)" in printed and "every seed's model" not in printed


def test_render_table4_formats_tiny_p_and_undefined_tests() -> None:
    tiny = PairedTTest(n=6, mean_diff=0.0123, t=25.0, p=1.5e-6)
    def undefined(n: int) -> PairedTTest:
        return PairedTTest(n=n, mean_diff=0.0, t=None, p=None, undefined="no variance to test against")

    comparisons = {
        ("ml-100k", "v1"): VariantComparison(
            "ml-100k", "v1", undefined(6), {"HR@5": undefined(3)}, SignedRankTest(10, 8, -0.002, 5.0, -1.2, 0.2301)
        ),
        ("ml-100k", "v2"): VariantComparison(
            "ml-100k", "v2", tiny, {"HR@5": PairedTTest(3, 0.01, 2.0, 0.2)},
            SignedRankTest(10, 8, 0.002, 30.0, 1.2, 0.2301),
        ),
    }
    # Keyed as benchmarks/device/grid_report.py keys them: only the values are read.
    text = render_table4(["ml-100k"], ["baseline", "v1", "v2"], ["HR@5"], comparisons, [])
    v1_vs_diffurec = "| MovieLens-100K | V1 (+cross-attention) | DiffuRec (baseline) |"
    v2_vs_diffurec = "| MovieLens-100K | V2 (+cross-attention +offset noise) | DiffuRec (baseline) |"
    # Mean diff. in percentage points: 0.0123 is +1.230 pp.
    assert f"{v2_vs_diffurec} 6 | 25.0000 | 1.50e-06 | yes, better | +1.230 |  |" in text
    assert f"{v1_vs_diffurec} 6 | n/a | n/a | n/a | +0.000 | no variance to test against |" in text
    # 4b and 4c: the Holm-adjusted p after the p; the undefined test is left out of 4b's family.
    assert f"{v1_vs_diffurec} HR@5 | 3 | n/a | n/a | n/a | n/a | +0.000 | no variance to test against |" in text
    assert f"{v2_vs_diffurec} HR@5 | 3 | 2.0000 | 0.2000 | 0.2000 | no | +1.000 |  |" in text
    # 4c has no undefined test: no Note column.
    assert f"{v2_vs_diffurec} 10 | 8 | 30.0 | 1.2000 | 0.2301 | 0.4602 | no | +0.200 |" in text.splitlines()
    assert "this table's 1 test with a p-value" in text and "this table's 2 tests with a p-value" in text


def test_table4_adjusts_each_tables_p_by_holm_over_its_rows() -> None:
    # 4c's two p-values 0.01 and 0.04: Holm multiplies the smaller by 2 and keeps the larger (x 1).
    def comparison(variant: str, p: float) -> VariantComparison:
        undefined = PairedTTest(n=1, mean_diff=0.01, t=None, p=None, undefined="one pair")
        return VariantComparison("ml-100k", variant, undefined, {"HR@5": PairedTTest(3, 0.01, 2.0, 3 * p)},
                                 SignedRankTest(10, 8, 0.002, 30.0, 1.2, p))
    text = render_table4(["ml-100k"], ["baseline", "v1", "v2"], ["HR@5"],
                         {"a": comparison("v1", 0.01), "b": comparison("v2", 0.04)}, [])
    table_4b, table_4c = text.split("## 4b")[1].split("## 4c")
    assert "| 2.0000 | 0.0300 | 0.0600 | yes, better |" in table_4b and "| 2.0000 | 0.1200 | 0.1200 | no |" in table_4b
    assert "| 1.2000 | 0.0100 | 0.0200 | yes, better |" in table_4c
    assert "| 1.2000 | 0.0400 | 0.0400 | yes, better |" in table_4c
    assert "this table's 2 tests with a p-value" in table_4c


def _per_metric_comparison(variant: str, seeds: int, t: float, p: float) -> VariantComparison:
    """`variant` vs DiffuRec with every test's statistic `t` (z in 4c) and p `p`, over `seeds` seeds."""
    mean_diff = 0.01 if t > 0 else -0.01
    return VariantComparison(
        "ml-100k", variant, PairedTTest(6, mean_diff, t, p), {"HR@5": PairedTTest(seeds, mean_diff, t, p)},
        SignedRankTest(50, 40, mean_diff, 100.0, t, p),
    )


def test_table4b_is_shown_from_three_seeds_on() -> None:
    def render(seeds: int) -> str:
        comparison = _per_metric_comparison("v1", seeds, 2.0, 0.2)
        return render_table4(["ml-100k"], ["baseline", "v1"], ["HR@5"], {0: comparison}, [])

    two = render(2)
    section_4b = two.split("## 4b")[1].split("## 4c")[0]
    assert "Left out: with 2 seeds, a t-test across seeds has 1 degree of freedom" in section_4b
    assert "| HR@5 |" not in two
    # Without 4b, 4a points to 4c alone and the notes name 4c's Holm p alone.
    assert "4c is the test to rely on" in two and "4c also gives p (Holm)" in two
    three = render(3)
    (row,) = _lines(three.split("## 4b")[1], "| MovieLens-100K | V1 (+cross-attention) | DiffuRec (baseline) | HR@5 |")
    assert row.endswith("| HR@5 | 3 | 2.0000 | 0.2000 | 0.2000 | no | +1.000 |")
    assert "Left out" not in three and "4b and 4c are the tests to rely on" in three


def test_table4_says_which_way_a_significant_difference_goes() -> None:
    def render(v2_t: float, v2_p: float) -> str:
        comparisons = {0: _per_metric_comparison("v1", 3, -4.0, 0.01), 1: _per_metric_comparison("v2", 3, v2_t, v2_p)}
        return render_table4(["ml-100k"], ["baseline", "v1", "v2"], ["HR@5"], comparisons, [])

    def significance(text: str, model: str) -> list[str]:
        """The p < 0.05 cell of `model`'s row in 4a, 4b and 4c."""
        cells = []
        for section in text.split("\n## ")[1:4]:
            header = next(line for line in section.splitlines() if line.startswith("| Dataset |")).split(" | ")
            (row,) = _lines(section, f"| MovieLens-100K | {model} |")
            cells.append(row.split(" | ")[header.index("p < 0.05")])
        return cells

    text = render(4.0, 0.01)
    # The same test read three times (4c off z): a negative statistic is worse, a positive one better.
    assert significance(text, "V1 (+cross-attention)") == ["yes, worse"] * 3
    assert significance(text, "V2 (+cross-attention +offset noise)") == ["yes, better"] * 3
    assert significance(render(4.0, 0.30), "V2 (+cross-attention +offset noise)") == ["no"] * 3


def test_table4a_notes_the_papers_swapped_labels_and_links_the_check() -> None:
    paper = load_paper_tables(REPO / "reference/paper_tables.yaml")
    checks = check_paper_table4(paper.means, paper.printed_table4, PAPER_HALF_UNIT)
    comparisons = {0: _per_metric_comparison("v1", 3, 2.0, 0.2)}
    text = render_table4(["ml-100k"], ["baseline", "v1"], ["HR@5"], comparisons, checks)
    section_4a = text.split("## 4a")[1].split("## 4b")[0]
    assert 'the paper swaps its "Modified V1" and "Modified V2" labels there relative to its Table 3' in section_4a
    # The link's target is 4d's heading as GitHub names it.
    assert "([4d](#4d-the-papers-table-4-recomputed-from-the-papers-table-3) recomputes" in section_4a
    assert "\n## 4d. The paper's Table 4 recomputed from the paper's Table 3\n" in text
    # Printed rows reproduced under their own labels: nothing to warn of.
    as_labelled = [replace(c, printed_label=c.matched[0]) for c in checks]
    plain = render_table4(["ml-100k"], ["baseline", "v1"], ["HR@5"], comparisons, as_labelled)
    assert "swaps" not in plain.split("## 4b")[0]


def _lines(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


def test_table2_shows_best_and_last_epochs_and_the_seeds_still_improving(project: Path) -> None:
    run_stages(project)
    table2 = outputs(project)["table2_convergence.md"]
    assert "| Dataset | Model | Best epoch, per seed | Last epoch, per seed | Still improving (seeds) |" in table2
    # STOPS: seed 0 stopped early at 5 (best 3); seed 1 ran out at 6 past its best 5; seed 2 was best at its last.
    (row,) = _lines(table2, "| MovieLens-100K | V1 (+cross-attention) |")
    assert row.startswith("| MovieLens-100K | V1 (+cross-attention) | 3, 5, 6 | 5, 6, 6 | seed 2 | ")
    assert "these runs: 2." in table2 and "Still improving: the seeds whose run trained all" in table2
    # The control is not in the paper: no paper seconds.
    (control,) = _lines(table2, "| Amazon Beauty | Transformer, no diffusion |")
    assert control.endswith("| cpu | — |")
    summary = json.loads((project / "metrics.json").read_text())
    assert summary["ml-100k/v1/best_epoch"] == pytest.approx(14 / 3, rel=1e-5)
    assert summary["ml-100k/v1/last_epoch"] == pytest.approx(17 / 3, rel=1e-5)


def test_table2_reads_a_train_json_from_before_early_stopping_was_recorded(tmp_path: Path) -> None:
    root = make_project(tmp_path, ["ml-100k"], ["baseline", "v1"], [0, 2], recorded=False)
    run_stages(root)
    table2 = outputs(root)["table2_convergence.md"]
    # Old files trained every epoch and never stopped early: last epoch = epochs, seed 2 best at 6.
    (row,) = _lines(table2, "| MovieLens-100K | DiffuRec (baseline) |")
    assert row.startswith("| MovieLens-100K | DiffuRec (baseline) | 3, 6 | 6, 6 | seed 2 | ")
    assert "these runs: not recorded (train.json written before it was)." in table2


def test_render_table2_leaves_out_the_columns_no_run_fills() -> None:
    run = VariantRuns((0,), {}, None, (1.0,), (2.0,), (4,), ("cpu",))
    paper = PaperTables((), {"v1": {"ml-100k": 9.0}}, {}, {}, {}, {})
    text = render_table2(["ml-100k"], ["v1"], {("ml-100k", "v1"): run}, paper)
    # No last epoch recorded, so no seed known to be still improving: both columns are left out.
    assert "| MovieLens-100K | V1 (+cross-attention) | 4 | 1.00 ± n/a | 2.00 | cpu | 9.00 |" in text
    assert "Last epoch, per seed |" not in text and "Still improving (seeds) |" not in text
    # A dataset the paper does not time: no Paper (s) column, and a note says why.
    untimed = render_table2(["ml-100k"], ["v1"], {("ml-100k", "v1"): run}, PaperTables((), {}, {}, {}, {}, {}))
    assert untimed.splitlines()[2].endswith("| Device |")
    assert "No Paper (s) column: the paper times none of these models on these datasets." in untimed
    stopped = VariantRuns((0, 1), {}, None, (1.0, 1.0), (2.0, 2.0), (4, 4), ("cpu",) * 2, (4, 4), (True, False), (0, 0))
    text = render_table2(["ml-100k"], ["v1"], {("ml-100k", "v1"): stopped}, paper)
    assert "| 4, 4 | 4, 4 | seed 1 |" in text and "these runs: 0 (no early stopping)." in text


def test_every_model_is_tested_against_diffurec_and_the_control(project: Path) -> None:
    run_stages(project)
    results = json.loads((project / "runs/ttest/results.json").read_text())
    pairs = [(c["dataset"], c["variant"], c["reference"]) for c in results["comparisons"]]
    per_dataset = [("v1", "baseline"), ("v2", "baseline"), ("baseline", "control"), ("v1", "control"), ("v2", "control")]
    assert pairs == [(d, *pair) for d in ("ml-100k", "amazon-beauty") for pair in per_dataset]

    table4 = outputs(project)["table4_ttest.md"]
    assert table4.startswith("# Table 4: paired significance tests, each model vs its reference\n")
    assert "| Dataset | Compared model | Reference | n | t | p |" in table4
    section_4a = table4.split("## 4a")[1].split("## 4b")[0]
    assert len(_lines(section_4a, "| MovieLens-100K |")) == 5
    assert len(_lines(section_4a, "| MovieLens-100K | DiffuRec (baseline) | Transformer, no diffusion |")) == 1
    assert not _lines(section_4a, "| MovieLens-100K | Transformer, no diffusion |"), "control vs DiffuRec twice"
    # The per-metric test against the control equals one computed by hand from the eval files.
    v2 = [_eval_metrics(project, "v2", seed)["HR@10"] for seed in (0, 1, 2)]
    control = [_eval_metrics(project, "control", seed)["HR@10"] for seed in (0, 1, 2)]
    expected = paired_ttest(v2, control)
    (row,) = _lines(table4, "| MovieLens-100K | V2 (+cross-attention +offset noise) | Transformer, no diffusion | HR@10 |")
    assert f"| 3 | {expected.t:.4f} | {expected.p:.4f} |" in row
    summary = json.loads((project / "metrics.json").read_text())
    assert summary["ml-100k/v2/vs_control/ttest_metric_means/avg_diff_pp"] == pytest.approx(
        100 * (statistics.fmean(statistics.fmean(_eval_metrics(project, "v2", s)[m] for s in (0, 1, 2)) for m in METRICS)
               - statistics.fmean(statistics.fmean(_eval_metrics(project, "control", s)[m] for s in (0, 1, 2))
                                  for m in METRICS)), rel=1e-4)
    assert "ml-100k/baseline/vs_control/wilcoxon_NDCG@10/z" in summary
    assert not any(key.startswith("ml-100k/control/") and "test" in key for key in summary)
    # 4d recomputes the paper's table from the paper's models only.
    section_4d = table4.split("## 4d")[1].split("Notes:")[0]
    assert "Transformer" not in section_4d and "control" not in section_4d.lower()


def test_diffurec_and_the_control_alone_are_still_compared(tmp_path: Path) -> None:
    root = make_project(tmp_path, ["ml-100k"], ["control", "baseline"], [0, 1, 2])
    run_stages(root)
    table4 = outputs(root)["table4_ttest.md"]
    assert "Not computed" not in table4
    assert len(_lines(table4, "| MovieLens-100K | DiffuRec (baseline) | Transformer, no diffusion |")) == 1 + 6 + 1
    table3 = outputs(root)["table3_performance.md"]
    assert not _lines(table3, "| Transformer, no diffusion | paper |")


def test_a_single_model_is_not_tested(tmp_path: Path) -> None:
    root = make_project(tmp_path, ["ml-100k"], ["control"], [0, 1])
    run_stages(root)
    table4 = outputs(root)["table4_ttest.md"]
    assert "Not computed" in table4 and "(it lists control)" in table4


def test_tables_refuses_ttest_results_without_the_control_comparisons(project: Path) -> None:
    run_stages(project)
    path = project / "runs/ttest/results.json"
    results = json.loads(path.read_text())
    results["comparisons"] = [c for c in results["comparisons"] if c["reference"] != "control"]
    path.write_text(json.dumps(results))
    with pytest.raises(DataError, match=r"results.json: holds the comparisons .*dvc repro ttest"):
        _invoke(
            ["tables", "--runs", str(project / "runs"), "--ttest-results", str(path),
             "--reports", str(project / "reports"), "--metrics-file", str(project / "metrics.json"),
             "--params", str(project / "params.yaml"), "--paper-tables", str(REPO / "reference/paper_tables.yaml")]
        )


def test_the_tables_stage_draws_every_runs_learning_curve_and_links_it_from_table2(project: Path) -> None:
    run_stages(project)
    table2 = outputs(project)["table2_convergence.md"]
    (note,) = _lines(table2, "- Learning curves: [validation NDCG@10 after each epoch of every run](")
    link = note.split("](")[1].split(")")[0]
    figure = project / "reports" / link
    assert link == "figures/learning_curves.png" and figure.read_bytes().startswith(b"\x89PNG")
    assert "the re-run baselines (one run each) beside our models" in note
    first = figure.read_bytes()
    run_stages(project)
    assert figure.read_bytes() == first


def test_the_learning_curves_hold_each_re_run_baselines_validations(tmp_path: Path) -> None:
    root = make_project(tmp_path, ["ml-100k"], ["baseline", "v1"], [0, 1])
    curve = read_baseline_curve(root / "runs", "ml-100k", "GRU4Rec", 0)
    assert curve.epochs == (1, 2, 3) and curve.scores == pytest.approx((0.02, 0.04, 0.03))
    assert (curve.last_epoch, curve.cap, curve.reached_cap) == (3, EPOCHS, False)
    run_stages(root)
    assert (root / "reports/figures/learning_curves.png").is_file()
    (root / "runs/baselines/ml-100k/GRU4Rec/history.tsv").unlink()
    with pytest.raises(DataError, match=r"GRU4Rec/history.tsv: not found; rerun the baselines stage"):
        run_stages(root)


def test_a_runs_curve_holds_its_validated_epochs_and_its_epoch_cap(project: Path) -> None:
    runs = project / "runs"
    # STOPS: seed 0 stopped early at epoch 5 (best 3), seed 1 ran out at 6, the cap.
    stopped, capped = (read_curve(runs, "ml-100k", "v1", seed) for seed in (0, 1))
    assert stopped.epochs == (1, 2, 3, 4, 5) and stopped.scores == pytest.approx((0.01, 0.02, 0.03, 0.025, 0.02))
    assert (stopped.last_epoch, stopped.cap, stopped.reached_cap) == (5, EPOCHS, False)
    assert (capped.last_epoch, capped.reached_cap) == (6, True)
    # An epoch without a validation after it (train.eval_every > 1) has no point on the curve.
    path = runs / "train/ml-100k/v1/seed1/history.tsv"
    history = pd.read_csv(path, sep="\t")
    history.loc[history["epoch"] == 2, "valid_NDCG@10"] = np.nan
    history.to_csv(path, sep="\t", index=False)
    assert read_curve(runs, "ml-100k", "v1", 1).epochs == (1, 3, 4, 5, 6)
    path.unlink()
    with pytest.raises(DataError, match=r"seed1/history.tsv: not found; rerun the train-v1 stage"):
        read_curve(runs, "ml-100k", "v1", 1)


def test_the_curves_show_the_metric_that_early_stopping_watches() -> None:
    assert CURVE_METRIC == SELECTION_METRIC
