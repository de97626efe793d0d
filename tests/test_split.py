"""Split and dataset report: leave-one-out invariants, the published Beauty split, statistics."""

from __future__ import annotations

import json
from itertools import chain

import pandas as pd
import pytest

from data_stage_support import ML100K_INTER, MIRROR, assert_refused, needs_mirror, run_cli, write_params
from diffurec.report.dataset_stats import dataset_statistics
from diffurec.errors import DataError
from diffurec.preprocess import preprocess
from diffurec.split import leave_one_out
from pipeline.files.recbole_inter import read_inter


@pytest.fixture(scope="module")
def ml100k() -> pd.DataFrame:
    return preprocess(read_inter(ML100K_INTER), 5, 5)


def test_leave_one_out_invariants_on_ml100k(ml100k):
    split = leave_one_out(ml100k)
    sequences = ml100k.groupby("user", sort=True)["item_id"].agg(list)
    assert split["user_id"].tolist() == ml100k.groupby("user", sort=True)["user_id"].first().tolist()
    assert split["user_id"].is_unique
    for train, valid, test, sequence in zip(split["train"], split["valid"], split["test"], sequences):
        assert len(train) >= 1
        assert [*train, valid, test] == sequence
    assert dataset_statistics(split).interactions == len(ml100k)


def test_split_scan_order_reproduces_the_item_ids(ml100k):
    split = leave_one_out(ml100k)
    rows = split[["train", "valid", "test"]].itertuples(index=False)
    scanned = chain.from_iterable([*train, valid, test] for train, valid, test in rows)
    first_seen = list(dict.fromkeys(scanned))
    by_id = ml100k.drop_duplicates("item").sort_values("item")["item_id"].tolist()
    assert first_seen == by_id


def test_users_too_short_for_leave_one_out_are_refused():
    interactions = pd.DataFrame(
        {"user_id": ["a", "a", "a", "b", "b"], "item_id": ["x", "y", "z", "x", "y"], "timestamp": [1.0] * 5}
    )
    with pytest.raises(DataError, match=r"1 user\(s\) have fewer than 3 interactions \(e.g. user 'b' with 2\)"):
        leave_one_out(preprocess(interactions, 1, 1))


def test_an_empty_table_is_refused_rather_than_split_into_no_users():
    empty = pd.DataFrame({"user_id": [], "item_id": [], "timestamp": []})
    with pytest.raises(DataError, match="no interactions to split"):
        leave_one_out(preprocess(empty, 1, 1))


def pipeline_paths(tmp_path, dataset):
    raw = tmp_path / "raw" / dataset
    return raw, tmp_path / "pre" / f"{dataset}.parquet", tmp_path / "split" / f"{dataset}.parquet"


def run_data_stages(tmp_path, dataset, params) -> pd.DataFrame:
    raw, preprocessed, split = pipeline_paths(tmp_path, dataset)
    for args in (
        ("download", dataset, "--out", raw, "--params", params),
        ("preprocess", dataset, "--raw", raw, "--out", preprocessed, "--params", params),
        ("split", dataset, "--preprocessed", preprocessed, "--out", split),
    ):
        code, stderr = run_cli(*args)
        assert code == 0, stderr
    return pd.read_parquet(split)


def test_split_stage_writes_token_columns_for_ml100k(tmp_path, ml100k):
    split = run_data_stages(tmp_path, "ml-100k", write_params(tmp_path))
    assert list(split.columns) == ["user_id", "train", "valid", "test"]
    assert split["user_id"].map(type).eq(str).all()
    assert split["valid"].map(type).eq(str).all() and split["test"].map(type).eq(str).all()
    pd.testing.assert_frame_equal(split.assign(train=split["train"].map(list)), leave_one_out(ml100k))


@needs_mirror
def test_beauty_split_is_the_published_one(tmp_path):
    split = run_data_stages(tmp_path, "amazon-beauty", write_params(tmp_path, mirror=str(MIRROR)))
    stats = dataset_statistics(split)
    assert (stats.users, stats.items, stats.interactions) == (22_363, 12_101, 198_502)
    raw = read_inter(pipeline_paths(tmp_path, "amazon-beauty")[0] / "amazon-beauty.inter")
    per_user = raw.groupby("user_id", sort=False)["item_id"]
    published = pd.DataFrame({"valid": per_user.nth(-2).to_numpy(), "test": per_user.last().to_numpy()})
    published.index = per_user.last().index
    ours = split.set_index("user_id")[["valid", "test"]]
    pd.testing.assert_frame_equal(ours.sort_index(), published.sort_index(), check_names=False)


@needs_mirror
def test_ml1m_five_core_has_the_published_size(tmp_path):
    split = run_data_stages(tmp_path, "ml-1m", write_params(tmp_path, mirror=str(MIRROR)))
    stats = dataset_statistics(split)
    assert (stats.users, stats.items, stats.interactions) == (6_040, 3_416, 999_611)


def test_split_of_a_too_short_user_is_refused_without_output(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "ml-100k.inter").write_text("user_id:token\titem_id:token\ttimestamp:float\n1\t2\t3\n1\t4\t5\n")
    preprocessed, out = tmp_path / "ml-100k.parquet", tmp_path / "split" / "ml-100k.parquet"
    params = write_params(tmp_path, min_user_inter=1, min_item_inter=1)
    assert run_cli("preprocess", "ml-100k", "--raw", raw, "--out", preprocessed, "--params", params)[0] == 0
    code, stderr = run_cli("split", "ml-100k", "--preprocessed", preprocessed, "--out", out)
    assert_refused(code, stderr, str(preprocessed), "fewer than 3 interactions", "data.min_user_inter >= 3")
    assert not out.parent.exists()


def test_split_refuses_a_missing_or_foreign_table(tmp_path):
    out = tmp_path / "split" / "ml-100k.parquet"
    code, stderr = run_cli("split", "ml-100k", "--preprocessed", tmp_path / "none.parquet", "--out", out)
    assert_refused(code, stderr, "none.parquet: not found", "dvc repro preprocess")
    foreign = tmp_path / "foreign.parquet"
    pd.DataFrame({"user_id": ["1"], "item": [1]}).to_parquet(foreign)
    code, stderr = run_cli("split", "ml-100k", "--preprocessed", foreign, "--out", out)
    assert_refused(code, stderr, "foreign.parquet: missing column(s) ['item_id', 'timestamp', 'user']")
    assert not out.parent.exists()


def test_dataset_report_tabulates_every_configured_dataset(tmp_path, monkeypatch, ml100k):
    monkeypatch.chdir(tmp_path)
    split_file = tmp_path / "data" / "split" / "ml-100k.parquet"
    split_file.parent.mkdir(parents=True)
    leave_one_out(ml100k).to_parquet(split_file)
    params = write_params(tmp_path)
    assert run_cli("dataset-report", "--params", params)[0] == 0
    report = (tmp_path / "reports" / "datasets.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| ml-100k")]
    assert [cell.strip() for cell in rows[0].strip("|").split("|")] == [
        "ml-100k", "943", "1,349", "99,287", f"{99_287 / 943:.2f}", f"{100 * 99_287 / (943 * 1349):.4f}%",
    ]  # fmt: skip
    assert run_cli("dataset-report", "--params", params)[0] == 0
    assert (tmp_path / "reports" / "datasets.md").read_text() == report


def test_dataset_report_refuses_a_missing_split(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text(json.dumps({"datasets": ["ml-100k"]}))
    code, stderr = run_cli("dataset-report", "--params", params)
    assert_refused(code, stderr, "data/split/ml-100k.parquet: not found", "dvc repro split")
    assert not (tmp_path / "reports").exists()
