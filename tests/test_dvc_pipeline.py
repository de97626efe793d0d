"""The real dvc.yaml tracks exactly the params each stage reads.

Running the pipeline takes minutes, so these tests record a state without running anything:
every output is a placeholder file and `dvc commit` writes dvc.lock from the current params.
`dvc status` then names the stages a params change would rerun.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("dvc")


def _dvc(repo: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _set_params(repo: Path, **sections: dict) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for section, values in sections.items():
        if isinstance(values, dict):
            params[section].update(values)
        else:
            params[section] = values
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def _changed_stages(repo: Path) -> set[str]:
    return set(json.loads(_dvc(repo, "status", "--json")))


@pytest.fixture(scope="module")
def committed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project whose every stage is recorded as up to date with params.yaml (built
    once: committing every placeholder takes DVC most of a test's time)."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    repo = tmp_path_factory.mktemp("committed") / "repo"
    for name in files:
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "dvc.lock").unlink(missing_ok=True)
    # Placeholder outputs: a folder output gets one file, a file output some bytes. So does a
    # dependency that no stage writes as an output (runs/cost: every stage's cost record).
    listing = subprocess.run(
        [sys.executable, "-c", "import os\nfrom dvc.repo import Repo\n"
         "stages = Repo('.').index.stages\n"
         "outs = [out.def_path for stage in stages for out in stage.outs]\n"
         "near = lambda a, b: a == b or a.startswith(b + '/') or b.startswith(a + '/')\n"
         "deps = {dep.def_path for stage in stages for dep in stage.deps if not os.path.exists(dep.def_path)}\n"
         "print(*outs, *sorted(d for d in deps if not any(near(d, out) for out in outs)))"],
        cwd=repo, capture_output=True, text=True, check=True,
    ).stdout.split()
    for name in listing:
        path = repo / name
        if path.suffix == ".yaml":
            # A study's outcome, which training stages read as a params file (its `best` setting).
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump({"placeholder": name, "best": {}}))
        elif path.suffix:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(name)
        else:
            path.mkdir(parents=True, exist_ok=True)
            (path / "placeholder").write_text(name)
    _dvc(repo, "commit", "--force", "--quiet")
    assert _changed_stages(repo) == set()
    return repo


@pytest.fixture
def committed_repo(committed_template: Path, tmp_path: Path) -> Path:
    """The committed template's own copy, for a test that changes its params."""
    repo = tmp_path / "repo"
    shutil.copytree(committed_template, repo, symlinks=True)
    return repo


def test_offset_change_reruns_only_the_v2_training_runs(committed_repo: Path) -> None:
    _set_params(committed_repo, model={"offset": 0.2})
    changed = _changed_stages(committed_repo)
    params = yaml.safe_load((committed_repo / "params.yaml").read_text())
    expected = {f"train-v2@{dataset}-{seed}" for dataset in params["datasets"] for seed in params["seeds"]}
    # The studies of our variants track the model section whole (one matrix for four variants);
    # each reruns in seconds and keeps its study unless its own variant reads the changed key.
    studies = {f"tune@{dataset}-{variant}" for dataset in params["datasets"] for variant in params["variants"]}
    assert changed == expected | studies


def test_an_ablation_param_reruns_only_the_ablation_and_its_report(committed_repo: Path) -> None:
    # `dvc exp run -S 'ablation.steps=[1,32]'`: new inference settings, the same trained models.
    _set_params(committed_repo, ablation={"steps": [1, 32]})
    changed = _changed_stages(committed_repo)
    params = yaml.safe_load((committed_repo / "params.yaml").read_text())
    runs = {
        f"ablation@{dataset}-{variant}-{seed}"
        for dataset in params["datasets"] for variant in params["variants"] for seed in params["seeds"]
    }
    # The verdict reads the 1-step and x_t = 0 settings (claim C8b).
    assert changed == runs | {"ablation-report", "verdict"}


def test_shared_model_change_reruns_every_variant_but_not_the_data(committed_repo: Path) -> None:
    _set_params(committed_repo, model={"hidden": 48})
    changed = _changed_stages(committed_repo)
    # And the verdict, which compares the paper's printed numbers only with runs at its configuration
    # (C9), and every report, whose provenance line names the model's size.
    assert {name.split("@")[0] for name in changed} == {
        "train-baseline", "train-v1", "train-v2", "train-control", "verdict",
        "dataset_report", "tables", "table5", "case-study", "ablation-report", "cost",
        "tune", "tuning-report",
    }


def test_more_seeds_add_runs_and_refresh_the_reports(committed_repo: Path) -> None:
    params = yaml.safe_load((committed_repo / "params.yaml").read_text())
    new_seed = max(params["seeds"]) + 1
    _set_params(committed_repo, seeds=[*params["seeds"], new_seed])
    changed = _changed_stages(committed_repo)
    dataset = params["datasets"][0]
    assert f"train-v1@{dataset}-{new_seed}" in changed
    assert f"evaluate@{dataset}-v2-{new_seed}" in changed
    assert {"ttest", "tables", "verdict"} <= changed
    assert not any(name.startswith("train-") and name.endswith(f"-{params['seeds'][0]}") for name in changed)


def test_a_verdict_param_reruns_only_the_verdict(committed_repo: Path) -> None:
    # `dvc exp run -S verdict.alpha=0.01`: the same runs judged at another level.
    _set_params(committed_repo, verdict={"alpha": 0.01})
    assert _changed_stages(committed_repo) == {"verdict"}


def test_the_verdict_writes_the_metrics_that_dvc_metrics_diff_reads() -> None:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    owners = [name for name, stage in stages.items() if "metrics.json" in _names(stage.get("metrics", []))]
    assert owners == ["verdict"]
    assert "runs/tables/metrics.json" in _names(stages["tables"]["outs"])
    assert "runs/tables/metrics.json" in stages["verdict"]["deps"]


def _names(outs: list) -> list[str]:
    return [next(iter(out)) if isinstance(out, dict) else out for out in outs]


def test_tsne_reruns_for_the_first_seeds_model_alone(committed_repo: Path) -> None:
    params = yaml.safe_load((committed_repo / "params.yaml").read_text())
    dataset, first = params["datasets"][0], params["seeds"][0]
    run = committed_repo / "runs" / "train" / dataset / "v1" / f"seed{first}"
    # A rerun whose model.pt came out the same: only its curve and timings differ.
    (run / "history.tsv").write_text("epoch\tloss\n1\t0.5\n")
    changed = _changed_stages(committed_repo)
    assert f"ensemble@{dataset}-v1" in changed and f"tsne@{dataset}-v1" not in changed
    _set_params(committed_repo, seeds=[*params["seeds"], max(params["seeds"]) + 1])
    assert f"tsne@{dataset}-v1" not in _changed_stages(committed_repo)
    (run / "model.pt").write_text("other weights")
    assert f"tsne@{dataset}-v1" in _changed_stages(committed_repo)


def test_dvc_accepts_the_official_profile(committed_repo: Path) -> None:
    shutil.copy2(ROOT / "profiles" / "official.yaml", committed_repo / "params.yaml")
    # DVC resolves every stage of dvc.yaml with the profile's params: each new run is due.
    changed = _changed_stages(committed_repo)
    assert {"preprocess@ml-1m", "train-baseline@amazon-beauty-0", "train-v2@ml-1m-4", "evaluate@ml-1m-v1-0"} <= changed


def test_every_model_key_is_tracked_by_the_training_runs_that_read_it() -> None:
    from dataclasses import fields

    from diffurec.config import ModelConfig

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    model_keys = {f"model.{field.name}" for field in fields(ModelConfig)}
    offset_keys = {"model.offset", "model.delta_c", "model.offset_mode"}
    for variant in ("baseline", "v1", "v2"):
        tracked = {key for key in stages[f"train-{variant}"]["params"] if isinstance(key, str) and key.startswith("model.")}
        assert tracked == (model_keys if variant == "v2" else model_keys - offset_keys), variant


def _diffurec_closure(*modules: str) -> set[str]:
    """The diffurec files `modules` import, directly or not (read from their source, not run).
    config.py and errors.py, and what only they import, are left out: params are tracked by
    value (config.py's lists of valid values with them), errors compute nothing."""
    import ast

    left_out = {"diffurec/config.py", "diffurec/errors.py"}
    seen: set[str] = set()
    todo = [f"diffurec/{name}.py" for name in modules]
    while todo:
        path = todo.pop()
        if path in seen or path in left_out:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse((ROOT / path).read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("diffurec."):
                todo.append(node.module.replace(".", "/") + ".py")
    return seen


def test_stages_that_run_a_model_depend_on_all_of_its_code() -> None:
    # A byte-stable model.pt does not change when only the reverse process's code does, so the
    # stages that run the model must list that code themselves, or they would keep stale results.
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    running = _diffurec_closure("model", "inference") | {"pipeline/files/checkpoint.py"}
    expected = {
        "train-baseline": running | _diffurec_closure("train"),
        "evaluate": running,
        "ensemble": running,
        "ablation": running,
        "tsne": running,
    }
    for name, needed in expected.items():
        deps = set(stages[name]["deps"])
        assert needed <= deps, f"{name} lacks {sorted(needed - deps)}"
    assert stages["train-v1"]["deps"] == stages["train-v2"]["deps"] == stages["train-baseline"]["deps"]


def test_switching_tuning_on_retrains_every_model_from_the_same_data(committed_repo: Path) -> None:
    # `dvc exp run -S tune.enabled=true`: the studies rerun (each keeps its committed study), every
    # model trains again with its tuned setting, and the reports follow; the data stays.
    _set_params(committed_repo, tune={"enabled": True})
    changed = _changed_stages(committed_repo)
    kinds = {name.split("@")[0] for name in changed}
    assert {"tune", "tune-baselines", "train-baseline", "train-v1", "train-v2", "train-control", "baselines",
            "tuning-report", "verdict"} <= kinds
    assert not kinds & {"download", "preprocess", "split", "evaluate", "ensemble", "ablation"}


def test_a_tuning_budget_change_reruns_only_the_studies_and_their_report(committed_repo: Path) -> None:
    _set_params(committed_repo, tune={"trials": 9})
    assert {name.split("@")[0] for name in _changed_stages(committed_repo)} == {"tune", "tune-baselines", "tuning-report"}


def test_a_new_tuned_setting_retrains_its_model_alone(committed_repo: Path) -> None:
    params = yaml.safe_load((committed_repo / "params.yaml").read_text())
    dataset = params["datasets"][0]
    study = committed_repo / "studies" / dataset / "SASRec" / "best.yaml"
    study.write_text(yaml.safe_dump({"best": {"learning_rate": 0.001}}))
    # (Its own stage sees its output modified: a study is committed by `dvc commit` after a re-tune.)
    assert _changed_stages(committed_repo) == {f"baselines@{dataset}-SASRec", "tuning-report",
                                               f"tune-baselines@{dataset}-SASRec"}
