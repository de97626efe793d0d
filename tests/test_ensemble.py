"""Algorithm 3's members under both readings (diffurec.ensemble)."""

from __future__ import annotations

import pytest

from diffurec.ensemble import ensemble_members


def test_our_reading_takes_every_seeds_run_with_its_own_seed():
    assert ensemble_members([3, 1, 4], "runs") == [(3, 3), (1, 1), (4, 4)]


def test_the_printed_loop_runs_the_first_seeds_model_once_per_seed():
    assert ensemble_members([3, 1, 4], "inference") == [(3, 3), (3, 1), (3, 4)]


def test_one_seed_is_that_run_alone_under_either_reading():
    assert ensemble_members([7], "runs") == ensemble_members([7], "inference") == [(7, 7)]


@pytest.mark.parametrize(("seeds", "reading"), [([], "runs"), ([0], "models")])
def test_no_seed_or_an_unknown_reading_is_refused(seeds, reading):
    with pytest.raises(ValueError):
        ensemble_members(seeds, reading)
