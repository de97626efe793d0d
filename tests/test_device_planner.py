"""benchmarks/device/planner.py: the workloads of the real queue, read from its profiles, and the
predictions and decisions a call makes from the ledger's timings, worked out by hand."""

from __future__ import annotations

from device import experiments, planner
from diffurec.config import Config


def test_workloads_of_the_real_queue_follow_its_recipes():
    dataset = "amazon-beauty"
    ids = [e.id for e in experiments.QUEUE]
    assert ids == ["E2", "E1", "E3", "E4", "G-amazon-beauty", "B-amazon-beauty", "G-amazon-toys-games",
                   "B-amazon-toys-games", "G-ml-1m", "B-ml-1m"]
    for experiment in experiments.QUEUE:
        for run in experiment.runs:
            if run.kind == "ours":
                Config.from_dict(planner.raw_config(run, dataset, []))  # every override names a real switch
    # By id, and the grid part after the fidelity experiments: an experiment added to FIDELITY
    # changes only the list of ids above.
    by_id = {e.id: e for e in experiments.QUEUE}
    e2, e1, e3, e4 = (by_id[key] for key in ("E2", "E1", "E3", "E4"))
    grid_part = experiments.QUEUE[len(experiments.FIDELITY):]
    assert planner.workload(e2.runs[0], dataset, []) == planner.Workload(11, 1, 1, settling_epochs=11, planned_epochs=11)
    assert planner.workload(e2.runs[1], dataset, []) == planner.Workload(11, 1, 1, settling_epochs=11, planned_epochs=11)
    # 120 epochs validated every 10, tested at each validation and once more by the evaluate stage.
    assert planner.workload(e1.runs[0], dataset, []) == planner.Workload(120, 12, 13, settling_epochs=120, planned_epochs=120)
    # The official recipe validates after 21, 41, ...; the first validation improves, 5 more
    # without improvement end it at the earliest after epoch 121.
    official = Config.from_dict(planner.raw_config(e3.runs[0], dataset, [])).train
    assert planner.validation_epochs(official)[:6] == [21, 41, 61, 81, 101, 121]
    assert planner.validation_epochs(official)[-2:] == [481, 500]
    assert planner.workload(e3.runs[0], dataset, []) == planner.Workload(121, 6, 1, settling_epochs=121, planned_epochs=500)
    # E3 asks whether the official recipe reaches the published numbers: the paper's three only.
    assert [r.variant for r in e3.runs] == ["baseline", "v1", "v2"]
    assert [r.name for r in e4.runs] == ["paper-recipe", "weight-decay-0", "batch-512", "shuffled-batches", "official-network"]
    # The grid: every model of a seed, the control included, before the next; Beauty's new seeds
    # first. E4/paper-recipe (DiffuRec, unchanged recipe) computes what the grid's Beauty seed-0
    # DiffuRec run computes, so either settles the other.
    beauty = grid_part[0]
    assert [(r.variant, r.seed) for r in beauty.runs[:5]] == [
        ("baseline", 2), ("v1", 2), ("v2", 2), ("control", 2), ("baseline", 3)]
    assert [r.seed for r in beauty.runs][-4:] == [1, 1, 1, 1] and len(beauty.runs) == 20
    grids, rebaselines = grid_part[::2], grid_part[1::2]
    for experiment in grids:
        assert [r.variant for r in experiment.runs[:4]] == ["baseline", "v1", "v2", "control"]
        assert len(experiment.runs) == 20
    assert {r.dataset for e in grid_part[2:] for r in e.runs} == {"amazon-toys-games", "ml-1m"}
    # Each dataset's grid is followed by the paper profile's RecBole baselines on it, RecBole's
    # defaults: up to 300 epochs, validated every epoch.
    for grid, experiment in zip(grids, rebaselines):
        assert {r.dataset for r in experiment.runs} == {grid.runs[0].dataset}
        assert [(r.kind, r.variant, r.seed) for r in experiment.runs] == [
            ("recbole", name, 0) for name in ("GRU4Rec", "SASRec", "SASRec-CE", "BERT4Rec")]
        assert planner.workload(experiment.runs[0], dataset, []) == planner.Workload(300, 0, 1, settling_epochs=300,
                                                                                     planned_epochs=300)
    paper_recipe = planner.spec(e4, e4.runs[0], dataset, [])
    (seed0,) = [r for r in beauty.runs if (r.variant, r.seed) == ("baseline", 0)]
    grid_spec = planner.spec(beauty, seed0, dataset, [])
    assert grid_spec != paper_recipe and planner.same_run(grid_spec, paper_recipe)
    assert planner.workload(seed0, dataset, []) == planner.Workload(41, 9, 1, settling_epochs=41, planned_epochs=41)


def test_planning_predicts_from_the_run_itself_else_from_its_recipe():
    run_spec = {"experiment": "E", "run": "r", "kind": "ours", "dataset": "d", "variant": "baseline", "seed": 0,
                "recipe": "p.yaml", "overrides": [], "args": []}
    work = planner.Workload(epochs=10, validations=2, tests=3, settling_epochs=10, planned_epochs=10)
    # Same recipe, other overrides (a record differing only in its names would be the run itself).
    sibling = {"spec": {**run_spec, "run": "other", "overrides": ["train.lr=0.002"]}, "timing": {"setup_s": 1.0, "epoch_s": 2.0, "valid_s": 3.0, "test_s": 4.0}}
    own_cut = {"spec": run_spec, "settled": False, "timing": {"setup_s": 5.0, "epoch_s": 1.0, "valid_s": None, "test_s": None}}
    elsewhere = {"spec": {**run_spec, "recipe": "q.yaml"}, "timing": {"setup_s": 0, "epoch_s": 0, "valid_s": 0, "test_s": 0}}
    older = {"spec": {**run_spec, "run": "older", "overrides": ["train.lr=0.003"]}, "timing": {"setup_s": 9.0, "epoch_s": 9.0, "valid_s": 9.0, "test_s": 9.0}}
    assert planner.predict_s(run_spec, work, [elsewhere]) is None
    # A CPU call's timing predicts nothing of a GPU's, nor a GPU's of a CPU's; an unrecorded card counts.
    on_cpu = {**sibling, "card": "cpu"}
    assert planner.predict_s(run_spec, work, [on_cpu], "NVIDIA H200") is None
    assert planner.predict_s(run_spec, work, [{**sibling, "card": "NVIDIA H100 80GB HBM3"}], "cpu") is None
    assert planner.predict_s(run_spec, work, [on_cpu], "cpu") == planner.predict_s(run_spec, work, [sibling], "NVIDIA H200")
    assert planner.predict_s(run_spec, work, [{**sibling, "card": "NVIDIA H100 80GB HBM3"}], "NVIDIA H200") is not None
    # The latest run of the same recipe, not a mix of its runs with other overrides.
    assert planner.predict_s(run_spec, work, [older, sibling, elsewhere]) == 1 + 10 * 2 + 2 * 3 + 3 * 4
    # Its own record's parts first; the parts it lacks from its recipe's other runs.
    assert planner.predict_s(run_spec, work, [sibling, own_cut]) == 5 + 10 * 1 + 2 * 3 + 3 * 4
    assert planner.decide(run_spec, work, [sibling], left_s=38.9, first=False).start is False
    assert planner.decide(run_spec, work, [sibling], left_s=39.0, first=False).start is True
    assert planner.decide(run_spec, work, [sibling], left_s=1.0, first=True).start is True
    assert planner.decide(run_spec, work, [], left_s=1.0, first=False).reason == "no timing to predict it from"
    settled = {"spec": run_spec, "settled": True, "ledger": "x.json", "timing": None}
    assert planner.decide(run_spec, work, [settled], left_s=1e9, first=True) == planner.Decision(False, "settled in x.json")
    renamed = {"spec": {**run_spec, "experiment": "G", "run": "grid-name"}, "settled": True, "ledger": "y.json", "timing": None}
    assert planner.decide(run_spec, work, [renamed], left_s=1e9, first=True) == planner.Decision(False, "settled in y.json")

