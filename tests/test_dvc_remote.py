"""Two machines split the seed grid through a shared DVC remote and DVC's run-cache.

Three copies of the project on a tiny configuration, all on the CPU:
- A trains and evaluates seed 0 and runs `dvc push --run-cache` to a local-directory remote;
- B, a `git clone` of A, asks for seeds [0, 1] and reproduces Tables 2-4 with `dvc repro --pull`:
  seed 0's runs must come from the run-cache, seed 1's must be trained;
- C reproduces the same tables for seeds [0, 1] from scratch on its own: the one-machine run.
B's tables and metrics.json must equal C's, except the measured seconds. Every stage costs seconds
of imports, so the test reproduces the `tables` stage, which gathers every seed's runs, rather
than every report, and leaves out the baselines; the restored runs are compared with A's file by
file. C runs alongside A and B, since it shares nothing with them, so the test takes the time of
the longer of the two. The other stages that hold results worth restoring are checked on
dvc.yaml: DVC restores a stage under the same rule.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("dvc", reason="the two-clone test drives DVC, which the 'pipeline' extra installs")

# Floats depend on the thread count, so every copy must train with the same one; the stages run
# the `python` of this interpreter's environment, which has the project installed.
ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
}
GIT_USER = ["-c", "user.name=test", "-c", "user.email=test@example.invalid"]
# The stages a seed adds that train or run a model, named as `dvc repro` prints them.
SEED0_RUNS = ["train-baseline@ml-100k-0", "train-v1@ml-100k-0", "train-v2@ml-100k-0", "evaluate@ml-100k-baseline-0"]
SEED1_RUNS = ["train-baseline@ml-100k-1", "train-v1@ml-100k-1", "train-v2@ml-100k-1", "evaluate@ml-100k-baseline-1"]


def _run(repo: Path, *args: str) -> str:
    done = subprocess.run(args, cwd=repo, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(args)} in {repo.name}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _dvc(repo: Path, *args: str) -> str:
    return _run(repo, sys.executable, "-m", "dvc", *args)


def _set_seeds(repo: Path, seeds: list[int]) -> None:
    path = repo / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["seeds"] = seeds
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def _tiny_project(repo: Path, seeds: list[int]) -> None:
    """The working tree's tracked and untracked files, on ml-100k's 54 heaviest users, one variant
    evaluated and a 1-block model trained for one epoch."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    # The committed dvc.lock records the default configuration's runs, not this one's.
    (repo / "dvc.lock").unlink(missing_ok=True)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["datasets"] = ["ml-100k"]
    params["variants"] = ["baseline"]
    params["seeds"] = seeds
    params["data"].update(min_user_inter=300)
    params["model"].update(hidden=16, blocks=1, heads=2, max_len=10)
    params["train"].update(epochs=1, device="cpu")
    params["eval"].update(device="cpu")
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run(repo, "git", "init", "-q")


def _commit(repo: Path) -> None:
    _run(repo, "git", "add", "-A")
    _run(repo, "git", *GIT_USER, "commit", "-q", "-m", "tiny project")


def _without_seconds(path: Path) -> bytes:
    """The file's bytes, with the measured wall-clock seconds blanked: those differ between any two
    runs, even on one machine. Markdown: every table column headed "(s)" except the paper's own
    figures ("Paper (s)"); metrics.json: every key ending in `_s`."""
    if path.name == "metrics.json":
        metrics = json.loads(path.read_text())
        return json.dumps({key: value for key, value in metrics.items() if not key.endswith("_s")}).encode()
    if path.suffix != ".md":
        return path.read_bytes()
    lines, masked = path.read_text().splitlines(), []
    timed: list[int] = []
    for number, line in enumerate(lines):
        if not line.startswith("|"):
            timed = []
        elif number == 0 or not lines[number - 1].startswith("|"):
            # A table's header row decides which of its columns are measured seconds.
            headers = [cell.strip() for cell in line.split("|")]
            timed = [i for i, cell in enumerate(headers) if "(s)" in cell and not cell.startswith("Paper")]
        elif timed:
            cells = line.split("|")
            line = "|".join("<seconds>" if i in timed else cell for i, cell in enumerate(cells))
        masked.append(line)
    return "\n".join(masked).encode()


def _tables(repo: Path) -> dict[str, bytes]:
    """The outputs of the `tables` stage (Tables 2-4 and its metrics summary), as dvc.yaml lists them."""
    stage = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]["tables"]
    names = [next(iter(out)) if isinstance(out, dict) else out for out in stage["outs"] + stage.get("metrics", [])]
    return {name: _without_seconds(repo / name) for name in names}


def test_a_second_clone_restores_the_first_ones_seed_and_trains_only_its_own(tmp_path: Path) -> None:
    remote, a, b, c = (tmp_path / name for name in ("remote", "a", "b", "c"))
    for repo, seeds in ((a, [0]), (c, [0, 1])):
        repo.mkdir()
        _tiny_project(repo, seeds)
    _commit(c)
    # C, the one-machine run, in its own session so that a failure below can stop it and its stages.
    with (tmp_path / "c.log").open("w") as c_log:
        reference = subprocess.Popen(
            [sys.executable, "-m", "dvc", "repro", "tables"],
            cwd=c, env=ENV, stdout=c_log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        # The remote is part of the committed project, as it would be for every host.
        _dvc(a, "remote", "add", "--default", "shared", str(remote))
        _commit(a)
        a_log = _dvc(a, "repro", "train-baseline", "train-v1", "train-v2", "evaluate")
        for stage in SEED0_RUNS:
            assert f"Running stage '{stage}'" in a_log, a_log
        _dvc(a, "push", "--run-cache")

        _run(tmp_path, "git", "clone", "-q", str(a), str(b))
        _set_seeds(b, [0, 1])
        b_log = _dvc(b, "repro", "--pull", "tables")
        for stage in [*SEED0_RUNS, "split@ml-100k"]:
            assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in b_log, b_log
            assert f"Running stage '{stage}'" not in b_log, b_log
        for stage in SEED1_RUNS:
            assert f"Running stage '{stage}'" in b_log, b_log
        # The restored runs are A's own, every file (train.json carries the seconds A measured).
        restored = [Path("runs/train/ml-100k") / variant / "seed0" for variant in ("baseline", "v1", "v2")]
        restored.append(Path("runs/eval/ml-100k/baseline/seed0"))
        for run in restored:
            names = sorted(path.name for path in (a / run).iterdir())
            assert sorted(path.name for path in (b / run).iterdir()) == names, run
            for name in names:
                assert (b / run / name).read_bytes() == (a / run / name).read_bytes(), run / name

        assert reference.wait() == 0, (tmp_path / "c.log").read_text()
    finally:
        if reference.poll() is None:
            os.killpg(reference.pid, signal.SIGTERM)
            reference.wait()
    b_tables, c_tables = _tables(b), _tables(c)
    assert "reports/table3_performance.md" in c_tables
    for name, content in c_tables.items():
        assert b_tables[name] == content, name


def test_the_stages_worth_restoring_cache_every_output() -> None:
    # DVC saves no run-cache entry for a stage with an uncached plain output (dvc/stage/__init__.py,
    # Stage.run: `no_cache_outs`). It exempts metrics and plots, but `dvc push` sends no uncached
    # output, so another machine could not restore such a run either.
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name in ("train-baseline", "train-v1", "train-v2", "evaluate", "ensemble", "baselines"):
        entries = [entry for kind in ("outs", "metrics", "plots") for entry in stages[name].get(kind, [])]
        assert entries, name
        options = {next(iter(entry)): next(iter(entry.values())) or {} for entry in entries if isinstance(entry, dict)}
        uncached = [path for path, option in options.items() if option.get("cache", True) is False]
        assert not uncached, f"{name}: {uncached}"
