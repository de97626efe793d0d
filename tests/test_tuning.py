"""Hyperparameter studies: the search (diffurec.tuning) on objectives whose scores are known, and
the `tune` stage on a tiny split: the better setting chosen, no test item read, the same budget
for every model, a killed study resumed, the tuned setting used by training."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from diffurec.config import Config, SearchRange
from diffurec.errors import ConfigError, TrainingError
from diffurec.sequences import encode
from diffurec.train import SELECTION_METRIC, build_model, fit
from diffurec.tuning import Budget, run_study, summary, trial_table, without_test
from tests.synthetic import cycle_split

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {"x": SearchRange(low=0.0, high=1.0), "k": SearchRange(choices=(1.0, 2.0, 3.0))}
DEFAULT = {"x": 0.1, "k": 1.0}


def known_score(setting: dict[str, float]) -> float:
    """A validation score with its best at x = 0.7, k = 2."""
    return 1.0 - (setting["x"] - 0.7) ** 2 - 0.1 * abs(setting["k"] - 2.0)


def scored(setting: dict[str, float], report) -> float:
    # Three "epochs" that approach the known score, as a training's validations would.
    for epoch in (1, 2, 3):
        report(epoch, known_score(setting) * epoch / 3)
    return known_score(setting)


def journal(path: Path) -> optuna.storages.JournalStorage:
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def test_the_default_is_the_first_trial_and_the_best_known_score_is_chosen(tmp_path: Path) -> None:
    budget = Budget(trials=8, random_starts=2, seed=0, prune_after=2)
    study = run_study(journal(tmp_path / "j"), "s", SPACE, DEFAULT, scored, budget)
    trials = trial_table(study)
    assert len(trials) == 8
    assert trials.loc[0, "x"] == DEFAULT["x"] and trials.loc[0, "k"] == DEFAULT["k"]
    completed = trials[trials["state"] == "complete"]
    # Every completed trial's value is its setting's known score, and the best of them is chosen.
    for _, row in completed.iterrows():
        assert row["valid_NDCG@10"] == pytest.approx(known_score({"x": row["x"], "k": row["k"]}))
    outcome = summary(study)
    best = completed.loc[completed["valid_NDCG@10"].idxmax()]
    assert outcome["best"] == {"x": best["x"], "k": best["k"]}
    assert outcome["best_valid_NDCG@10"] >= outcome["default_valid_NDCG@10"] == pytest.approx(known_score(DEFAULT))
    assert outcome["trials"] == 8 and outcome["completed"] + outcome["pruned"] == 8


def test_a_trial_below_the_median_after_the_warmup_epoch_is_pruned(tmp_path: Path) -> None:
    # Trial 0 (the default) scores 1 at every epoch; every later one scores 0: pruned at epoch 2.
    def objective(setting, report):
        value = 1.0 if setting == DEFAULT else 0.0
        for epoch in (1, 2, 3):
            report(epoch, value)
        return value

    study = run_study(journal(tmp_path / "j"), "s", SPACE, DEFAULT, objective, Budget(4, 1, 0, prune_after=2))
    trials = trial_table(study)
    assert list(trials["state"]) == ["complete", "pruned", "pruned", "pruned"]
    assert list(trials["epochs"]) == [3, 2, 2, 2]


def test_the_same_seed_draws_the_same_trials_and_another_seed_others(tmp_path: Path) -> None:
    def drawn(seed: int, name: str) -> pd.DataFrame:
        study = run_study(journal(tmp_path / name), name, SPACE, DEFAULT, scored, Budget(6, 2, seed, 2))
        return trial_table(study)[["x", "k", "valid_NDCG@10"]]

    first = drawn(0, "a")
    pd.testing.assert_frame_equal(first, drawn(0, "b"))
    assert not first.equals(drawn(1, "c"))


def test_a_killed_study_resumes_with_its_finished_trials_and_draws_what_an_unbroken_one_does(tmp_path: Path) -> None:
    budget = Budget(trials=6, random_starts=2, seed=0, prune_after=2)
    unbroken = trial_table(run_study(journal(tmp_path / "unbroken"), "s", SPACE, DEFAULT, scored, budget))
    calls = []

    def killed_in_the_fourth_trial(setting, report):
        calls.append(setting)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return scored(setting, report)

    path = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        run_study(journal(path), "s", SPACE, DEFAULT, killed_in_the_fourth_trial, budget)
    resumed_calls = []

    def counting(setting, report):
        resumed_calls.append(setting)
        return scored(setting, report)

    resumed = trial_table(run_study(journal(path), "s", SPACE, DEFAULT, counting, budget))
    assert len(resumed_calls) == 3  # the three finished trials were not run again
    pd.testing.assert_frame_equal(resumed.drop(columns="seconds"), unbroken.drop(columns="seconds"))


def test_a_trial_left_running_by_a_killed_process_is_closed_and_not_counted(tmp_path: Path) -> None:
    # SIGKILL leaves the journal with a trial that never finished: Optuna still calls it running.
    budget = Budget(trials=4, random_starts=1, seed=0, prune_after=2)
    unbroken = trial_table(run_study(journal(tmp_path / "unbroken"), "s", SPACE, DEFAULT, scored, budget))
    storage = journal(tmp_path / "killed")
    optuna.create_study(storage=storage, study_name="s", direction="maximize").ask()
    resumed = run_study(storage, "s", SPACE, DEFAULT, scored, budget)
    states = [t.state for t in resumed.get_trials()]
    assert states[0] == optuna.trial.TrialState.FAIL and states.count(optuna.trial.TrialState.RUNNING) == 0
    pd.testing.assert_frame_equal(trial_table(resumed).drop(columns="seconds"), unbroken.drop(columns="seconds"))


def test_a_diverged_trial_fails_and_spends_its_budget(tmp_path: Path) -> None:
    def diverges_above_half(setting, report):
        if setting["x"] > 0.5:
            raise TrainingError("training diverged")
        return scored(setting, report)

    study = run_study(journal(tmp_path / "j"), "s", SPACE, DEFAULT, diverges_above_half, Budget(8, 3, 0, 2),
                      catch=(TrainingError,))
    trials = trial_table(study)
    assert len(trials) == 8
    assert (trials["state"] == "fail").sum() == (trials["x"] > 0.5).sum() > 0
    assert summary(study)["failed"] == (trials["state"] == "fail").sum()


# ---- the stage, on a tiny split --------------------------------------------------------------

EPOCHS = 3
PARAMS = {
    "variants": ["control"],
    "baselines": ["GRU4Rec"],
    "seeds": [0],
    "model": {"hidden": 16, "blocks": 1, "heads": 2, "max_len": 10},
    "train": {"epochs": EPOCHS, "batch_size": 64, "lr": 0.005, "device": "cpu", "patience": 0},
    "eval": {"batch_size": 128, "device": "cpu"},
    "recbole": {"models": {"GRU4Rec": {"model": "GRU4Rec", "epochs": EPOCHS, "stopping_step": 10,
                                       "train_batch_size": 256, "embedding_size": 16, "hidden_size": 16}}},
    "tune": {
        # Seed 3: the random second trial draws the other setting (seeds 0-2 draw the default again).
        "trials": 2, "random_starts": 1, "seed": 3, "prune_after": EPOCHS, "enabled": True,
        # Two settings each: the default first, then the other one.
        "spaces": {"control": {"train.lr": {"choices": [0.005, 0.05]}},
                   "GRU4Rec": {"learning_rate": {"choices": [0.001, 0.01]}}},
    },
}


def _project(tmp_path: Path, split: pd.DataFrame, **tune) -> Path:
    params = {**PARAMS, "tune": {**PARAMS["tune"], **tune}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    path = tmp_path / "data" / "split" / "ml-100k.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    split.to_parquet(path, index=False)
    return tmp_path


def _tune(workdir: Path, model: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "pipeline", "tune", "ml-100k", model], cwd=workdir,
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done


def _study(workdir: Path, model: str) -> tuple[dict, pd.DataFrame]:
    folder = workdir / "studies" / "ml-100k" / model
    return yaml.safe_load((folder / "best.yaml").read_text()), pd.read_csv(folder / "trials.tsv", sep="\t")


@pytest.fixture(scope="module")
def split() -> pd.DataFrame:
    return cycle_split(n_users=120, n_items=30, seed=5)


@pytest.fixture(scope="module")
def control_study(tmp_path_factory: pytest.TempPathFactory, split: pd.DataFrame) -> Path:
    workdir = _project(tmp_path_factory.mktemp("control"), split)
    _tune(workdir, "control")
    return workdir


def test_a_two_trial_study_picks_the_better_of_two_settings_whose_scores_are_known(control_study, split) -> None:
    outcome, trials = _study(control_study, "control")
    assert sorted(trials["train.lr"]) == [0.005, 0.05]  # both settings tried, the default first
    assert trials.loc[0, "train.lr"] == 0.005
    # Each setting's validation NDCG@10, trained here directly as the stage's trial does.
    config = Config.from_dict(PARAMS)
    data = encode(without_test(split))
    known = {}
    for lr in (0.005, 0.05):
        tuned = config.with_setting("control", {"train.lr": lr})
        model = build_model(data.n_items, tuned.model, "control", 0)
        known[lr] = fit(model, data, tuned, 0, progress=False).best_metrics[SELECTION_METRIC]
    assert known[0.005] != known[0.05]
    for lr, value in zip(trials["train.lr"], trials["valid_NDCG@10"]):
        assert value == pytest.approx(known[lr], abs=1e-6)
    better = max(known, key=known.get)
    assert outcome["searched"] and outcome["best"] == {"train.lr": better}
    assert outcome["best_valid_NDCG@10"] == pytest.approx(known[better])


def test_no_trial_reads_the_test_items(control_study, split, tmp_path) -> None:
    # Test items that no model could score (tokens outside the catalogue) change nothing.
    unreadable = split.assign(test=[f"unreadable-{user}" for user in split["user_id"]])
    workdir = _project(tmp_path, unreadable)
    _tune(workdir, "control")
    clean, blind = _study(control_study, "control")[1], _study(workdir, "control")[1]
    pd.testing.assert_frame_equal(clean.drop(columns="seconds"), blind.drop(columns="seconds"))


def test_every_model_gets_the_same_number_of_trials(control_study, split, tmp_path) -> None:
    workdir = _project(tmp_path, split)
    _tune(workdir, "GRU4Rec")
    ours, theirs = _study(control_study, "control"), _study(workdir, "GRU4Rec")
    assert ours[0]["trials"] == theirs[0]["trials"] == len(ours[1]) == len(theirs[1]) == PARAMS["tune"]["trials"]
    assert theirs[1].loc[0, "learning_rate"] == 0.001 and (theirs[1]["epochs"] >= 1).all()
    # A baseline's study never ranks test items: RecBole's validation scores are its values.
    assert theirs[0]["best_valid_NDCG@10"] == pytest.approx(theirs[1]["valid_NDCG@10"].max())


def test_a_study_done_for_these_params_is_kept_and_a_changed_one_is_not(control_study, split, tmp_path) -> None:
    done = _tune(control_study, "control")
    assert "delete the folder to search again" in done.stderr
    # Tuning switched off, with another budget: the default recorded without a search.
    workdir = _project(tmp_path, split, enabled=False, trials=3)
    _tune(workdir, "control")
    outcome, trials = _study(workdir, "control")
    assert not outcome["searched"] and outcome["trials"] == 0 and trials.empty
    assert outcome["best"] == outcome["default"] == {"train.lr": 0.005}


def test_training_takes_the_tuned_setting_only_when_tuning_is_enabled(control_study, monkeypatch) -> None:
    from pipeline.files.studies import training_config

    monkeypatch.chdir(control_study)
    outcome, _ = _study(control_study, "control")
    enabled = Config.from_dict(PARAMS)
    assert training_config(enabled, "ml-100k", "control").train.lr == outcome["best"]["train.lr"]
    disabled = Config.from_dict({**PARAMS, "tune": {**PARAMS["tune"], "enabled": False}})
    assert training_config(disabled, "ml-100k", "control").train.lr == 0.005
    # A model without a study cannot train tuned: the error names the command that makes one.
    with pytest.raises(ConfigError, match="python -m pipeline tune ml-100k GRU4Rec"):
        training_config(enabled, "ml-100k", "GRU4Rec")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"spaces": {"control": {"train.lr": {"choices": [0.005]}}}}, "no search space for \\['GRU4Rec'\\]"),
        ({"enabled": False, "spaces": {"control": {"train.epochs": {"choices": [3, 30]}}}},
         "not a setting a study can tune"),
        ({"spaces": {**PARAMS["tune"]["spaces"], "control": {"train.lr": {"low": 0.01, "high": 0.1}}}},
         "the default 0.005 is outside the range"),
        ({"spaces": {**PARAMS["tune"]["spaces"], "control": {"train.epochs": {"choices": [3, 30]}}}},
         "not a setting a study can tune"),
        ({"spaces": {**PARAMS["tune"]["spaces"], "GRU4Rec": {"stopping_step": {"choices": [1, 10]}}}},
         "not a setting a study can tune"),
        ({"random_starts": 2}, "tune.random_starts must be in \\[0, tune.trials\\)"),
    ],
)
def test_a_search_space_that_breaks_the_protocol_is_refused(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config.from_dict({**PARAMS, "tune": {**PARAMS["tune"], **change}})


def test_a_config_without_tuning_needs_no_search_space() -> None:
    # What a checkpoint rebuilds its network from: the model's settings alone.
    assert Config.from_dict({"model": {"hidden": 16, "heads": 2}}).tune.spaces == {}


def test_the_committed_params_give_every_model_a_space_and_the_same_budget() -> None:
    root = Path(__file__).resolve().parents[1]
    config = Config.from_dict(yaml.safe_load((root / "params.yaml").read_text()))
    assert set(config.models()) <= set(config.tune.spaces)
    assert not config.tune.enabled  # the default stays the paper's protocol
    assert config.tune.trials > config.tune.random_starts


def test_the_tuning_report_shows_each_study_and_names_the_command_for_a_missing_one(control_study) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-m", "pipeline", "tuning-report", "--out", "tuning.md"],
                          cwd=control_study, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    page = (control_study / "tuning.md").read_text()
    outcome, trials = _study(control_study, "control")
    row = next(line for line in page.splitlines() if line.startswith("| Transformer, no diffusion | 2 |"))
    assert f"{outcome['best_valid_NDCG@10']:.4f}" in row and f"{outcome['default_valid_NDCG@10']:.4f}" in row
    assert "not run: `python -m pipeline tune ml-100k GRU4Rec`" in page
    assert "| Transformer, no diffusion | `train.lr` | 0.005 |" in page
    assert "**in use**" in page  # tune.enabled is true in this project
