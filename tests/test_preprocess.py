"""Preprocess: reading atomic files, the k-core filter, stable chronological order and ids."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_stage_support import ML100K_INTER, MIRROR, assert_refused, needs_mirror, run_cli, write_params
from diffurec.preprocess import k_core, preprocess
from pipeline.files.recbole_inter import read_inter


def frame(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def test_ml100k_five_core_has_the_published_size():
    result = preprocess(read_inter(ML100K_INTER), 5, 5)
    assert result["user_id"].nunique() == 943
    assert result["item_id"].nunique() == 1349
    assert len(result) == 99_287
    assert sorted(result["user"].unique()) == list(range(1, 944))
    assert sorted(result["item"].unique()) == list(range(1, 1350))


def test_k_core_iterates_to_a_fixed_point_on_ml100k():
    interactions = read_inter(ML100K_INTER)
    result = k_core(interactions, 40, 40)
    assert result["user_id"].value_counts().min() >= 40
    assert result["item_id"].value_counts().min() >= 40
    pd.testing.assert_frame_equal(k_core(result, 40, 40), result)
    # One pass is not enough here: dropping sparse items pushes users below 40 and vice versa.
    user_counts = interactions.groupby("user_id")["user_id"].transform("size")
    item_counts = interactions.groupby("item_id")["item_id"].transform("size")
    assert ((user_counts >= 40) & (item_counts >= 40)).sum() > len(result)


def test_k_core_cascade_removes_what_a_removal_uncovers():
    # Items z and t occur once: dropping them leaves users b and e with one interaction each;
    # dropping b and e leaves items y and v with one each, and dropping those empties user c.
    # A repeated pair counts twice, so user f and item u (f-u twice) survive.
    rows = [
        ("a", "w", 1), ("a", "x", 2), ("d", "w", 3), ("d", "x", 4), ("b", "y", 5), ("b", "z", 6),
        ("c", "y", 7), ("c", "v", 8), ("e", "v", 9), ("e", "t", 10), ("f", "u", 11), ("f", "u", 12),
    ]  # fmt: skip
    result = k_core(frame(rows), 2, 2)
    assert list(zip(result["user_id"], result["item_id"])) == [
        ("a", "w"), ("a", "x"), ("d", "w"), ("d", "x"), ("f", "u"), ("f", "u"),
    ]  # fmt: skip


@pytest.mark.parametrize("seed", range(40))
def test_k_core_is_a_fixed_point_independent_of_row_order(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(0, 60))
    interactions = frame(
        list(zip(rng.choice(list("abcdefg"), size), rng.choice(list("pqrstuv"), size), rng.integers(0, 4, size) * 1.0))
    )
    min_user, min_item = (int(k) for k in rng.integers(1, 5, 2))
    result = k_core(interactions, min_user, min_item)
    if len(result):
        assert result["user_id"].value_counts().min() >= min_user
        assert result["item_id"].value_counts().min() >= min_item
    pd.testing.assert_frame_equal(k_core(result, min_user, min_item), result)
    shuffled = k_core(interactions.sample(frac=1.0, random_state=seed), min_user, min_item)
    assert sorted(shuffled.itertuples(index=False)) == sorted(result.itertuples(index=False))


def test_ties_keep_file_order_and_ids_follow_first_appearance():
    rows = [
        ("u2", "c", 5.0), ("u1", "a", 9.0), ("u2", "b", 1.0), ("u1", "d", 9.0),
        ("u2", "e", 5.0), ("u1", "c", 2.0), ("u2", "a", 1.0),
    ]  # fmt: skip
    result = preprocess(frame(rows), 1, 1)
    assert result["user_id"].tolist() == ["u2"] * 4 + ["u1"] * 3
    assert result["item_id"].tolist() == ["b", "a", "c", "e", "c", "a", "d"]
    assert result["user"].tolist() == [1] * 4 + [2] * 3
    assert result["item"].tolist() == [1, 2, 3, 4, 3, 2, 5]


@needs_mirror
def test_beauty_tied_timestamps_keep_the_published_order(tmp_path):
    with zipfile.ZipFile(MIRROR / "Amazon_ratings" / "Amazon_Beauty.zip") as zipped:
        raw = read_inter(Path(zipped.extract("Amazon_Beauty.inter", path=tmp_path)))
    assert raw.duplicated(["user_id", "timestamp"]).sum() == 77_402
    result = preprocess(raw, 5, 5)
    published = raw.groupby("user_id", sort=False)["item_id"].agg(list)
    ours = result.groupby("user_id", sort=False)["item_id"].agg(list)
    assert ours.index.tolist() == published.index.tolist()
    assert ours.tolist() == published.tolist()


HEADER = "user_id:token\titem_id:token\ttimestamp:float\n"
BAD_FILES = {
    "empty": ("", "file is empty"),
    "header only": (HEADER, "header only, no interactions"),
    "no item_id column": ("user_id:token\ttimestamp:float\n1\t5\n", "no 'item_id' column"),
    "untyped header": ("user_id\titem_id\ttimestamp\n1\t2\t3\n", "header field 'user_id' is not 'name:type'"),
    "non-numeric timestamp": (HEADER + "1\t2\t3\n1\t4\tyesterday\n", "line 3: timestamp 'yesterday' is not"),
    "extra field": (HEADER + "1\t2\t3\n1\t4\t5\t6\n", "line 3 has 4 fields"),
    "missing field": (HEADER + "1\t2\t3\n1\t4\n", "line 3 has 2 fields but the header names 3"),
    "empty token": (HEADER + "\t2\t3\n", "line 2: no value for 'user_id'"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_inter_file_is_refused_without_output(tmp_path, name):
    text, problem = BAD_FILES[name]
    inter = tmp_path / "raw" / "ml-100k.inter"
    inter.parent.mkdir()
    inter.write_text(text)
    out = tmp_path / "out" / "ml-100k.parquet"
    params = write_params(tmp_path)
    code, stderr = run_cli("preprocess", "ml-100k", "--raw", inter.parent, "--out", out, "--params", params)
    assert_refused(code, stderr, str(inter), problem)
    assert not out.parent.exists()


def test_filter_that_leaves_nothing_is_refused(tmp_path):
    inter = tmp_path / "raw" / "ml-100k.inter"
    inter.parent.mkdir()
    inter.write_text(HEADER + "1\t2\t3\n1\t4\t5\n")
    out = tmp_path / "out" / "ml-100k.parquet"
    params = write_params(tmp_path, min_user_inter=5)
    code, stderr = run_cli("preprocess", "ml-100k", "--raw", inter.parent, "--out", out, "--params", params)
    assert_refused(code, stderr, str(inter), "no interaction survives the k-core filter", "data.min_user_inter")
    assert not out.parent.exists()


def test_unknown_dataset_key_is_refused(tmp_path):
    code, stderr = run_cli("preprocess", "amazon-beuaty", "--params", write_params(tmp_path))
    assert_refused(code, stderr, "unknown dataset 'amazon-beuaty'", "amazon-beauty", "ml-100k")
