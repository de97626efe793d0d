import math

import numpy as np
import pandas as pd
import pytest
import torch

from diffurec.errors import ConfigError
from diffurec.metrics import batch_mean, check_cutoffs, hit_rate, ndcg, summarize, target_ranks
from diffurec.report.popularity import popularity_ranks, popularity_scores
from diffurec.sequences import encode, evaluation_windows

INF = float("inf")


def brute_force_rank(scores: list[float], target: int, removed: set[int] = frozenset()) -> int:
    """1 + number of other real items scoring at least as much as the target."""
    return 1 + sum(
        1 for item in range(1, len(scores)) if item != target and item not in removed and scores[item] >= scores[target]
    )


def test_target_loses_ties_and_padding_is_never_counted():
    scores = torch.tensor(
        [
            [INF, 1.0, 2.0, 2.0, 0.5],  # target 2 ties with item 3
            [INF, 3.0, 3.0, 3.0, 3.0],  # all equal: the target is last
            [-INF, 9.0, 1.0, 1.0, 1.0],  # target 1 strictly best
        ]
    )
    ranks = target_ranks(scores, torch.tensor([2, 4, 1]))
    assert ranks.tolist() == [2, 4, 1]


def test_nan_target_score_ranks_last():
    scores = torch.tensor([[-INF, float("nan"), 1.0, 2.0], [-INF, 1.0, float("nan"), 0.0]])
    assert target_ranks(scores, torch.tensor([1, 1])).tolist() == [3, 1]


def test_history_mask_removes_seen_items_but_not_the_target():
    scores = torch.tensor([[-INF, 5.0, 4.0, 3.0, 2.0, 1.0]])
    seen = torch.tensor([[0, 0, 1, 4, 2]])
    assert target_ranks(scores, torch.tensor([4])).tolist() == [4]
    # Items 1 and 2 are removed; 4 is the target (seen before, e.g. a repeat) and stays.
    assert target_ranks(scores, torch.tensor([4]), seen).tolist() == [2]
    assert target_ranks(scores, torch.tensor([4]), torch.zeros(1, 3, dtype=torch.int64)).tolist() == [4]


def test_target_ranks_match_brute_force_on_random_cases_with_many_ties():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n_items = int(rng.integers(1, 12))
        scores = [-INF] + rng.integers(-3, 4, size=n_items).astype(float).tolist()
        target = int(rng.integers(1, n_items + 1))
        seen = rng.integers(0, n_items + 1, size=int(rng.integers(1, 6))).tolist()
        got = target_ranks(torch.tensor([scores]), torch.tensor([target]), torch.tensor([seen]))
        assert got.item() == brute_force_rank(scores, target, set(seen) - {target})
        assert target_ranks(torch.tensor([scores]), torch.tensor([target])).item() == brute_force_rank(scores, target)


def test_hit_rate_and_ndcg_by_hand():
    ranks = np.array([1, 3, 10, 11])
    assert hit_rate(ranks, 10).tolist() == [1.0, 1.0, 1.0, 0.0]
    assert ndcg(ranks, 10).tolist() == pytest.approx([1.0, 0.5, 1 / math.log2(11), 0.0])
    assert ndcg(ranks, 2).tolist() == [1.0, 0.0, 0.0, 0.0]


def test_summarize_averages_over_users_in_ks_order():
    ranks = np.array([1, 2, 7, 30])
    summary = summarize(ranks, (5, 20))
    assert list(summary) == ["HR@5", "NDCG@5", "HR@20", "NDCG@20"]
    assert summary["HR@5"] == 0.5
    assert summary["HR@20"] == 0.75
    assert summary["NDCG@5"] == pytest.approx((1 + 1 / math.log2(3)) / 4)
    assert summary["NDCG@20"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(8)) / 4)


def test_popularity_ranks_items_by_training_counts():
    split = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3"],
            "train": [["a", "b", "a"], ["b", "a", "c"], ["c", "d"]],
            "valid": ["b", "d", "a"],
            "test": ["a", "c", "e"],
        }
    )
    data = encode(split)
    scores = popularity_scores(data.train, data.n_items)
    # ids: a=1, b=2, c=3, d=4, e=5; counts a=3, b=2, c=2, d=1, e=0.
    assert scores.tolist() == [-INF, 3.0, 2.0, 2.0, 1.0, 0.0]
    windows = evaluation_windows(data, "valid", 50)
    # b ties with c and loses the tie; d is 4th; a is 1st.
    assert popularity_ranks(scores, windows, batch_size=2).tolist() == [3, 4, 1]
    # Masked: u1 saw a and b (b, the target, stays and still loses its tie with c);
    # u2 saw b, a, c, leaving d and e; u3 saw c and d.
    assert popularity_ranks(scores, windows, batch_size=2, mask_history=True).tolist() == [2, 1, 1]


def test_padding_competes_like_an_item_when_asked_for():
    scores = torch.tensor([[5.0, 1.0, 3.0, 2.0], [0.0, 1.0, 3.0, 2.0]])
    targets = torch.tensor([2, 2])
    assert target_ranks(scores, targets).tolist() == [1, 1]
    assert target_ranks(scores, targets, padding=True).tolist() == [2, 1]
    # Masking the history removes padding from the ranking too.
    seen = torch.tensor([[0, 1], [0, 1]])
    assert target_ranks(scores, targets, seen, padding=True).tolist() == [1, 1]


def test_batch_mean_is_the_mean_of_consecutive_batch_means():
    values = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    # Batches of 2: [1, 0], [0, 1], [1] -> means 0.5, 0.5, 1.0 -> 2/3, against 3/5 over users.
    assert batch_mean(values, 2) == pytest.approx(2 / 3)
    assert batch_mean(values, 5) == pytest.approx(0.6)
    assert batch_mean(values, 1) == pytest.approx(0.6)
    ranks = np.array([1, 30, 30, 1, 1])
    assert summarize(ranks, [10], batch_size=2)["HR@10"] == pytest.approx(2 / 3)
    assert summarize(ranks, [10])["HR@10"] == pytest.approx(0.6)
    with pytest.raises(ValueError):
        batch_mean(values, 0)


def test_cut_offs_up_to_the_number_of_items_pass_and_beyond_it_are_refused():
    check_cutoffs((5, 10, 40), 40, "ml-100k")
    refusal = r"eval.ks lists 41, but ml-100k has only 40 items .* at most 40 \(it is \[5, 41\]\)"
    with pytest.raises(ConfigError, match=refusal):
        check_cutoffs((5, 41), 40, "ml-100k")
