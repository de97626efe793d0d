from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import recbole
import torch

from diffurec.errors import DataError
from diffurec.preprocess import preprocess
from diffurec.sequences import SequenceData, encode, evaluation_windows, plan_batches, training_windows
from diffurec.split import leave_one_out

ML100K = Path(recbole.__file__).parent / "dataset_example/ml-100k/ml-100k.inter"


def ml100k_split() -> pd.DataFrame:
    raw = pd.read_csv(ML100K, sep="\t", dtype={"user_id:token": str, "item_id:token": str})
    raw.columns = [column.split(":")[0] for column in raw.columns]
    return leave_one_out(preprocess(raw, 5, 5))


def small_split() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3"],
            "train": [["a", "b", "c", "d", "e"], ["c", "x"], ["y"]],
            "valid": ["f", "a", "z"],
            "test": ["g", "b", "a"],
        }
    )


def rows_of(histories: torch.Tensor) -> list[list[int]]:
    """Each left-padded history as its list of real items."""
    return [[item for item in row if item != 0] for row in histories.tolist()]


def test_encode_numbers_items_by_first_appearance_train_then_valid_then_test():
    data = encode(small_split())
    assert data.users == ["u1", "u2", "u3"]
    assert data.items == ["a", "b", "c", "d", "e", "f", "g", "x", "y", "z"]
    assert data.n_items == 10
    assert [t.tolist() for t in data.train] == [[1, 2, 3, 4, 5], [3, 8], [9]]
    assert data.valid.tolist() == [6, 1, 10]
    assert data.test.tolist() == [7, 2, 1]


@pytest.mark.parametrize(
    "frame, message",
    [
        (small_split().drop(columns="valid"), "lacks column"),
        (small_split().iloc[:0], "no users"),
        (small_split().assign(train=[["a"], [], ["b"]]), "no training items"),
    ],
)
def test_encode_rejects_bad_frames(frame, message):
    with pytest.raises(DataError, match=message):
        encode(frame)


def every_window(windows, batch_size, rng=None):
    pairs = []
    for batch in windows.batches(batch_size, rng):
        pairs += list(zip(map(tuple, rows_of(batch.histories)), batch.targets.tolist()))
    return pairs


def expected_prefixes(data: SequenceData, max_len: int) -> list[tuple[tuple[int, ...], int]]:
    pairs = []
    for train in data.train:
        items = train.tolist()
        pairs += [(tuple(items[max(0, j - max_len) : j]), items[j]) for j in range(1, len(items))]
    return pairs


@pytest.mark.parametrize("max_len", [1, 3, 50])
def test_training_windows_are_every_prefix_truncated_to_max_len(max_len):
    data = encode(small_split())
    windows = training_windows(data, max_len)
    assert len(windows) == 4 + 1
    assert sorted(every_window(windows, 2, np.random.default_rng(0))) == sorted(expected_prefixes(data, max_len))


def test_evaluation_windows_end_at_valid_and_test_items():
    data = encode(small_split())
    valid = evaluation_windows(data, "valid", 3)
    test = evaluation_windows(data, "test", 3)
    rows = torch.arange(3)
    assert rows_of(valid.histories(rows, 3)) == [[3, 4, 5], [3, 8], [9]]
    assert valid.targets().tolist() == [6, 1, 10]
    assert rows_of(test.histories(rows, 3)) == [[4, 5, 6], [3, 8, 1], [9, 10]]
    assert test.targets().tolist() == [7, 2, 1]


def test_seen_items_cover_the_whole_prior_sequence_beyond_max_len():
    data = encode(small_split())
    test = evaluation_windows(data, "test", 2)
    batch = next(test.batches(3))
    seen = dict(zip(batch.host_rows.tolist(), rows_of(test.seen_items(batch))))
    assert seen == {0: [1, 2, 3, 4, 5, 6], 1: [3, 8, 1], 2: [9, 10]}
    histories = dict(zip(batch.host_rows.tolist(), rows_of(batch.histories)))
    assert histories == {0: [5, 6], 1: [8, 1], 2: [9, 10]}


def test_histories_are_left_padded_and_batches_cut_to_their_longest():
    data = encode(small_split())
    for batch in training_windows(data, 50).batches(2, np.random.default_rng(1)):
        lengths = (batch.histories != 0).sum(dim=1)
        assert batch.histories.shape[1] == lengths.max()
        for row, length in zip(batch.histories.tolist(), lengths.tolist()):
            assert row[: len(row) - length] == [0] * (len(row) - length)
            assert 0 not in row[len(row) - length :]


def test_n_batches_counts_what_batches_yields():
    windows = training_windows(encode(small_split()), 50)
    assert len(windows) == 5  # 4 prefixes of u1's five training items, 1 of u2's two
    for batch_size, expected in ((1, 5), (2, 3), (5, 1), (64, 1)):
        assert windows.n_batches(batch_size) == expected == len(list(windows.batches(batch_size)))


def test_plan_batches_groups_lengths_shuffles_with_seed_and_covers_everything():
    lengths = np.random.default_rng(5).integers(1, 40, size=1000)
    order, cuts = plan_batches(lengths, 64, np.random.default_rng(7))
    assert sorted(order.tolist()) == list(range(1000))
    batches = [order[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
    assert [len(b) for b in batches].count(64) == 15
    spans = sorted((lengths[b].min(), lengths[b].max()) for b in batches)
    # Batches are consecutive slices of the length order: their length ranges do not interleave.
    assert all(hi <= next_lo for (_, hi), (next_lo, _) in zip(spans, spans[1:]))
    assert all(lengths[b[-1]] == lengths[b].max() for b in batches)
    again, _ = plan_batches(lengths, 64, np.random.default_rng(7))
    other, _ = plan_batches(lengths, 64, np.random.default_rng(8))
    assert np.array_equal(order, again)
    assert not np.array_equal(order, other)
    in_order, _ = plan_batches(lengths, 64, None)
    assert np.array_equal(in_order, np.argsort(lengths, kind="stable"))


def test_ml100k_windows_match_the_split():
    split = ml100k_split()
    data = encode(split)
    n_interactions = sum(len(train) for train in split["train"]) + 2 * len(split)
    windows = training_windows(data, 50)
    assert len(windows) == n_interactions - 3 * len(split)
    assert windows.host_lengths.max() == 50
    assert data.items[data.valid[0] - 1] == split["valid"].iloc[0]
    test = evaluation_windows(data, "test", 50)
    assert np.array_equal(test.targets(), data.test)
    first = test.histories(torch.tensor([0]), 50)[0]
    expected = np.concatenate([data.train[0], [data.valid[0]]])[-50:]
    assert first[-len(expected) :].tolist() == expected.tolist()


def test_shuffled_batches_are_a_uniform_permutation_each_cut_to_its_own_longest_history():
    lengths = np.random.default_rng(5).integers(1, 40, size=1000)
    order, cuts = plan_batches(lengths, 64, np.random.default_rng(7), "shuffled")
    assert np.array_equal(order, np.random.default_rng(7).permutation(1000))
    assert cuts == [*range(0, 1000, 64), 1000]
    # Unlike grouped batches, a shuffled one mixes short and long histories.
    spans = [np.ptp(lengths[order[a:b]]) for a, b in zip(cuts[:-1], cuts[1:])]
    assert min(spans) > 20
    with pytest.raises(ValueError, match="need an rng"):
        plan_batches(lengths, 64, None, "shuffled")
    with pytest.raises(ValueError, match="unknown batching"):
        plan_batches(lengths, 64, np.random.default_rng(7), "sorted")


def test_a_shuffled_batch_is_as_wide_as_its_longest_history():
    windows = training_windows(encode(small_split()), max_len=3)
    shapes = set()
    for batch in windows.batches(2, np.random.default_rng(0), "shuffled"):
        shapes.add(batch.histories.shape[1])
        longest = int(windows.host_lengths[batch.host_rows].max())
        assert batch.histories.shape == (len(batch.host_rows), longest)
        assert torch.equal(batch.histories, windows.histories(batch.rows, longest))
    assert len(shapes) > 1
