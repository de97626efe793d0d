"""Our splits against the DiffuRec authors' published ones (dataset.pkl), and per-dataset filters.

The real-data tests build our split with the pipeline's stages from the shared mirror and
compare it user by user with the authors' pickles in ../shared/anchors.
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import pandas as pd
import pytest

from data_stage_support import MIRROR, assert_refused, run_cli, write_params
from diffurec.errors import DataError
from published import compare_with_published, read_published

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PUBLISHED = SHARED / "anchors" / "diffurec-official" / "datasets" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data folder {SHARED} absent")
HEADER = "user_id:token\titem_id:token\ttimestamp:float\n"


def split_frame(rows: dict[str, tuple[list[str], str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(user, train, valid, test) for user, (train, valid, test) in rows.items()],
        columns=["user_id", "train", "valid", "test"],
    )


# Published ids: users 7 -> 0, 8 -> 1, 9 -> 2, 5 -> 3; items 10 -> 1, ..., 14 -> 5.
TINY_PUBLISHED = {
    "umap": {7: 0, 8: 1, 9: 2, 5: 3},
    "smap": {10: 1, 11: 2, 12: 3, 13: 4, 14: 5},
    "train": {0: [1, 2], 1: [2, 3, 1], 2: [1], 3: [5]},
    "val": {0: [3], 1: [4], 2: [2], 3: [1]},
    "test": {0: [4], 1: [2], 2: [3], 3: [2]},
}


def test_comparison_counts_a_hand_made_split():
    # User 7 matches; 8's training sequence is reordered; 9's valid and test are swapped; 6 is
    # ours alone (with item 99, unknown to smap) and 5 published alone (with item 14, nobody else's).
    ours = split_frame({
        "7": (["10", "11"], "12", "13"),
        "8": (["11", "10", "12"], "13", "11"),
        "9": (["10"], "12", "11"),
        "6": (["99", "10"], "11", "12"),
    })
    result = compare_with_published(ours, TINY_PUBLISHED)
    assert (result.users_both, result.users_only_ours, result.users_only_published) == (3, 1, 1)
    assert (result.items_both, result.items_only_ours, result.items_only_published) == (4, 1, 1)
    assert (result.same_train, result.same_valid, result.same_test, result.identical) == (2, 2, 2, 1)
    assert not result.equal and not result.same_user_order
    assert result.examples == (
        "user 8: train differs at position 1 (ours 10, published 12; lengths 3 and 3)",
        "user 9: valid item 12 (published 11)",
        "user 6: only in ours",
        "user 5: only in the published split",
    )
    assert compare_with_published(ours, TINY_PUBLISHED, examples=1).examples == result.examples[:1]


def test_the_same_split_is_equal_and_its_order_is_the_published_sorted_one():
    same = {"7": (["10", "11"], "12", "13"), "8": (["11", "12", "10"], "13", "11"), "9": (["10"], "11", "12"),
            "5": (["14"], "10", "11")}  # fmt: skip
    result = compare_with_published(split_frame(same), TINY_PUBLISHED)
    assert result.equal and result.same_user_order and result.examples == ()
    # Sorted by published id (7, 8, 9, 5), not by token: another row order is still equal.
    shuffled = compare_with_published(split_frame(dict(sorted(same.items()))), TINY_PUBLISHED)
    assert shuffled.equal and not shuffled.same_user_order


def test_a_published_split_with_two_validation_items_is_refused():
    broken = {**TINY_PUBLISHED, "val": {**TINY_PUBLISHED["val"], 1: [4, 2]}}
    with pytest.raises(DataError, match="user 1 has 2 val items, expected a list of 1"):
        compare_with_published(split_frame({"7": (["10"], "11", "12")}), broken)


def test_read_published_refuses_what_is_not_a_published_split(tmp_path):
    text = tmp_path / "text.pkl"
    text.write_text("user_id\titem_id\n")
    with pytest.raises(DataError, match="not a readable pickle"):
        read_published(text)
    listed = tmp_path / "list.pkl"
    listed.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(DataError, match=r"expected a dict of dicts .*found list"):
        read_published(listed)
    with pytest.raises(DataError, match="not found"):
        read_published(tmp_path / "absent.pkl")


def preprocess_tiny(tmp_path: Path, **data: object) -> tuple[int, str, Path]:
    # Items a and b occur twice, c and d once; user 1 has four interactions, user 2 two.
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    (raw / "ml-100k.inter").write_text(HEADER + "1\ta\t1\n1\tb\t2\n1\tc\t3\n1\td\t4\n2\ta\t5\n2\tb\t6\n")
    out = tmp_path / "pre.parquet"
    params = write_params(tmp_path, **data)
    code, stderr = run_cli("preprocess", "ml-100k", "--raw", raw, "--out", out, "--params", params)
    return code, stderr, out


def test_preprocess_applies_the_dataset_override_of_a_filter(tmp_path):
    code, stderr, out = preprocess_tiny(tmp_path, min_user_inter=2, min_item_inter=2)
    assert code == 0, stderr
    assert sorted(pd.read_parquet(out)["item_id"].unique()) == ["a", "b"]
    code, stderr, out = preprocess_tiny(
        tmp_path, min_user_inter=2, min_item_inter=2, filters={"ml-100k": {"min_item_inter": 1}}
    )
    assert code == 0, stderr
    assert sorted(pd.read_parquet(out)["item_id"].unique()) == ["a", "b", "c", "d"]
    # An override of another dataset leaves this one at data.min_item_inter.
    code, stderr, out = preprocess_tiny(
        tmp_path, min_user_inter=2, min_item_inter=2, filters={"ml-1m": {"min_item_inter": 1}}
    )
    assert code == 0, stderr
    assert sorted(pd.read_parquet(out)["item_id"].unique()) == ["a", "b"]


def test_an_empty_result_names_the_override_in_force(tmp_path):
    code, stderr, out = preprocess_tiny(tmp_path, min_item_inter=1, filters={"ml-100k": {"min_user_inter": 9}})
    assert_refused(code, stderr, "no interaction survives", "data.filters.ml-100k.min_user_inter = 9",
                   "data.min_item_inter = 1")
    assert not out.exists()


def our_split(folder: Path, dataset: str, raw: Path, **data: object) -> pd.DataFrame:
    """Our split of `dataset` by the preprocess and split stages, from `raw` (downloaded once if absent)."""
    folder.mkdir(parents=True, exist_ok=True)
    preprocessed, split = folder / "pre.parquet", folder / "split.parquet"
    params = write_params(folder, mirror=str(MIRROR), **data)
    stages = [
        ("preprocess", dataset, "--raw", raw, "--out", preprocessed, "--params", params),
        ("split", dataset, "--preprocessed", preprocessed, "--out", split),
    ]
    if not raw.exists():
        stages.insert(0, ("download", dataset, "--out", raw, "--params", params))
    for args in stages:
        code, stderr = run_cli(*args)
        assert code == 0, stderr
    return pd.read_parquet(split)


@needs_shared
def test_beauty_is_the_published_split_user_by_user(tmp_path):
    published = read_published(PUBLISHED / "amazon_beauty" / "dataset.pkl")
    result = compare_with_published(our_split(tmp_path, "amazon-beauty", tmp_path / "raw"), published)
    assert result.equal and result.same_user_order
    assert (result.users_both, result.items_both, result.identical) == (22_363, 12_101, 22_363)


@needs_shared
def test_ml1m_with_every_item_kept_is_the_published_split_and_the_5_core_is_not(tmp_path):
    published = read_published(PUBLISHED / "ml-1m" / "dataset.pkl")
    every_item = compare_with_published(
        our_split(tmp_path / "all", "ml-1m", tmp_path / "raw", filters={"ml-1m": {"min_item_inter": 1}}), published
    )
    assert every_item.equal and every_item.same_user_order
    assert (every_item.users_both, every_item.items_both, every_item.identical) == (6_040, 3_706, 6_040)
    five_core = compare_with_published(our_split(tmp_path / "core", "ml-1m", tmp_path / "raw"), published)
    assert not five_core.equal
    assert (five_core.users_both, five_core.items_both, five_core.items_only_published) == (6_040, 3_416, 290)
    # Users who never rated one of the 290 rare films keep the published sequence.
    assert five_core.identical == 5_665


@needs_shared
def test_the_benchmark_script_prints_the_beauty_comparison(capsys):
    # In-process: a subprocess would spend most of its time importing torch and the stages.
    spec = importlib.util.spec_from_file_location("published_splits", ROOT / "benchmarks" / "published_splits.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.main(dataset=["amazon-beauty"], mirror=MIRROR, published=PUBLISHED, examples=5)
    out = capsys.readouterr().out
    assert "amazon-beauty (default filters) vs" in out
    assert "  users: 22,363 in both, 0 only ours, 0 only published" in out
    assert "  items: 12,101 in both, 0 only ours, 0 only published" in out
    assert "  user order = published sorted(users): True" in out
    assert "  split equal: True" in out
