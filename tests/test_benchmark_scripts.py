"""benchmarks/quality.py --popularity-only on a split whose popularity ranks are worked out by hand, and
benchmarks/op_count.py and benchmarks/sensitivity.py on a small synthetic split."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from diffurec.sequences import encode
from diffurec.train import build_model
from pipeline.files.checkpoint import save_model
from pipeline.files.data_tables import read_split
from tests.synthetic import cycle_split, tiny_config

ROOT = Path(__file__).resolve().parents[1]


def test_popularity_is_scored_on_the_validation_and_the_test_items(tmp_path):
    # Training counts A 3, B 2, C 1: valid C ranks 3rd, valid B 2nd (twice).
    # Train + valid counts A 3, B 4, C 2: test A ranks 2nd (twice), test B 1st.
    split = pd.DataFrame({
        "user_id": ["u1", "u2", "u3"],
        "train": [["A", "B"], ["A", "C"], ["A", "B"]],
        "valid": ["C", "B", "B"],
        "test": ["A", "A", "B"],
    })
    split.to_parquet(tmp_path / "split.parquet", index=False)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["eval"]["ks"] = [1, 2]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "quality.py"), str(tmp_path / "split.parquet"),
         "--params", str(tmp_path / "params.yaml"), "--popularity-only", "--device", "cpu"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("popularity")]
    # NDCG@2: valid (0 + 2 / log2(3)) / 3 = 0.4206; test (2 / log2(3) + 1) / 3 = 0.7540.
    assert lines == [
        "popularity: valid HR@1 0.0000 NDCG@1 0.0000 HR@2 0.6667 NDCG@2 0.4206",
        "popularity: test HR@1 0.3333 NDCG@1 0.3333 HR@2 1.0000 NDCG@2 0.7540",
    ]


def test_op_count_counts_the_casts_bf16_autocast_adds(tmp_path):
    cycle = tmp_path / "split.parquet"
    cycle_split(n_users=40, n_items=12, seed=0).to_parquet(cycle, index=False)
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "op_count.py"), str(cycle), "--variant", "baseline",
         "--variant", "control", "--device", "cpu", "-S", "model.hidden=16", "-S", "model.blocks=1",
         "-S", "model.heads=2"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )
    for variant, unit in (("baseline", "reverse step"), ("control", "one pass")):
        counts = {
            precision: (int(training.replace(",", "")), int(inference.replace(",", "")))
            for precision, training, inference in re.findall(
                rf"{variant} (\w+): ([\d,]+) aten calls per training step, ([\d,]+) per {unit}", done.stdout)
        }
        assert set(counts) == {"fp32", "bf16"}, variant
        assert 0 < counts["fp32"][1] < counts["bf16"][1] and 0 < counts["fp32"][0] < counts["bf16"][0], variant


def test_sensitivity_reports_x_t_far_below_the_history_for_a_saved_run(tmp_path):
    split = tmp_path / "split.parquet"
    cycle_split(n_users=40, n_items=12, seed=0).to_parquet(split, index=False)
    data = encode(read_split(split))
    model = build_model(data.n_items, tiny_config().model, "v1", seed=0)
    save_model(tmp_path / "model.pt", model, data.items)
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "sensitivity.py"), str(split), str(tmp_path / "model.pt"),
         "--users", "16"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )
    (line,) = [line for line in done.stdout.splitlines() if line.startswith(str(tmp_path))]
    cells = re.findall(r"t=(\d+): x_t ([\d.e+-]+), history ([\d.e+-]+)", line)
    assert "(v1, 16 users)" in line and [int(t) for t, _, _ in cells] == [31, 16, 0]
    assert all(0 < float(x_t) < float(history) / 100 for _, x_t, history in cells)


TINY = ["-S", "model.hidden=16", "-S", "model.blocks=1", "-S", "model.heads=2", "-S", "model.max_len=8",
        "-S", "train.batch_size=32", "-S", "train.epochs=2", "-S", "train.device=cpu", "-S", "eval.device=cpu"]


def test_compare_trains_every_arm_for_the_same_epochs_and_writes_their_curves(tmp_path):
    cycle_split(40, 12, seed=1).to_parquet(tmp_path / "split.parquet", index=False)
    curves = tmp_path / "curves.tsv"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare.py"), str(tmp_path / "split.parquet"),
         "--arm", "grouped:train.batching=grouped", "--arm", "shuffled:train.batching=shuffled",
         "--seeds", "0", *TINY, "--curves", str(curves)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )
    table = pd.read_csv(curves, sep="\t")
    assert table.groupby("arm")["epoch"].apply(list).to_dict() == {"grouped": [1, 2], "shuffled": [1, 2]}
    assert table["valid_NDCG@10"].notna().all()
    first = table[table["epoch"] == 1].set_index("arm")["loss"]
    assert first["grouped"] != first["shuffled"]
    assert re.search(r"^\| grouped \| 1 \| ", done.stdout, re.M) and re.search(r"^\| shuffled \| 1 \| ", done.stdout, re.M)


def test_compare_refuses_an_arm_without_settings(tmp_path):
    cycle_split(10, 6, seed=1).to_parquet(tmp_path / "split.parquet", index=False)
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare.py"), str(tmp_path / "split.parquet"),
         "--arm", "grouped", "--arm", "shuffled:train.batching=shuffled"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert done.returncode != 0 and "expected NAME:KEY=VALUE" in done.stderr


def test_cpu_parity_prints_the_same_hashes_twice_for_a_variant_and_a_baseline(tmp_path):
    import hashlib

    import torch

    from diffurec.dropout import dropout

    cycle_split(40, 12, seed=1).to_parquet(tmp_path / "split.parquet", index=False)
    command = [sys.executable, str(ROOT / "benchmarks" / "cpu_parity.py"), str(tmp_path / "split.parquet"),
               "--variant", "v1", "--baseline", "SASRec-CE", *TINY]
    pinned = {**os.environ, "DIFFUREC_CPU_PINS": "on"}  # the tests run unpinned (conftest.py)
    first, second = (subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True, env=pinned).stdout
                     for _ in range(2))
    assert first == second and "CPU pins: ATEN_CPU_CAPABILITY=avx2" in first
    torch.manual_seed(0)
    mask = hashlib.md5(dropout(torch.ones(4096), 0.1).numpy().tobytes()).hexdigest()[:12]
    assert re.search(rf"^dropout {mask}  bernoulli [0-9a-f]{{12}}$", first, re.M)
    assert re.search(r"^v1: training [0-9a-f]{12}  ranks [0-9a-f]{12}$", first, re.M)
    assert re.search(r"^SASRec-CE: training [0-9a-f]{12}  ranks [0-9a-f]{12}$", first, re.M)


def test_tuned_comparison_sets_each_claim_beside_its_untuned_status_and_marks_a_move(tmp_path):
    def project(name: str, statuses: dict[str, str]) -> Path:
        folder = tmp_path / name
        (folder / "reports").mkdir(parents=True)
        rows = {key: {"status": status, "effect": 1.5, "ci_low": 0.5, "ci_high": 2.5} for key, status in statuses.items()}
        (folder / "metrics.json").write_text(json.dumps({"verdict": rows}))
        for page in ("tuning.md", "table3_performance.md", "table5_comparison.md"):
            (folder / "reports" / page).write_text(f"# {page}\n\n*This run: {name}.*\n\n## Section of {page}\n\nbody\n")
        return folder

    untuned = project("untuned", {"C1/ml-100k/v1": "inconclusive", "C10/ml-100k/v2": "supported"})
    tuned = project("tuned", {"C1/ml-100k/v1": "contradicted", "C10/ml-100k/v2": "supported"})
    out = tmp_path / "page.md"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "tuned_comparison.py"), "--untuned", str(untuned),
                    "--tuned", str(tuned), "--out", str(out), "--command", "dvc exp run", "--machine", "a CPU"],
                   capture_output=True, text=True, cwd=ROOT, check=True)
    page = out.read_text()
    rows = [line for line in page.splitlines() if line.startswith("| `C")]
    # Claims in their numeric order (C10 after C1), the moved status marked, each run's status shown.
    assert rows[0].startswith("| `C1/ml-100k/v1` |") and rows[0].endswith("| **contradicted** | moved |")
    assert "**inconclusive**" in rows[0]
    assert rows[1].startswith("| `C10/ml-100k/v2` |") and rows[1].endswith("| **supported** |  |")
    # The tuned run's reports under the page's headings, one level down, without their own titles.
    assert "### Section of table5_comparison.md" in page and "# table3_performance.md" not in page
    assert "The tuned run's own provenance line: *This run: tuned.*" in page
    assert "moved with tuning: 1 of 2 rows: `C1/ml-100k/v1` (inconclusive → contradicted)." in page
