"""The published DiffuRec splits (the authors' `dataset.pkl`): read, and compared with our
leave-one-out split user by user (benchmarks/published_splits.py).

A published split is a dict: `train`, `val` and `test` map a user id to a list of item ids
(train oldest first; val and test hold one item each), and `umap` / `smap` map each original
user / item token to its id. Our split frame (columns user_id, train, valid, test) holds the
original tokens, so the published ids are translated back through the inverted maps and the two
are compared token by token. Tokens are compared as text: the pickles key them by int, our
frames hold str.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from diffurec.errors import DataError
from diffurec.split import SPLIT_COLUMNS

PUBLISHED_KEYS = ("train", "val", "test", "umap", "smap")


@dataclass(frozen=True)
class SplitComparison:
    """Counts of what our split and the published one share; `examples` shows the first differences."""

    users_both: int
    users_only_ours: int
    users_only_published: int
    items_both: int
    items_only_ours: int
    items_only_published: int
    # Among the users in both: whose training sequence (order included), validation item,
    # test item, and all three, are the same.
    same_train: int
    same_valid: int
    same_test: int
    identical: int
    # Our rows are the published users in ascending id order, the order in which the official
    # code batches its validation and test users (`sorted(u2seq.keys())`).
    same_user_order: bool
    examples: tuple[str, ...]

    @property
    def equal(self) -> bool:
        """The same users, with the same train, valid and test items each (row order aside)."""
        return self.users_only_ours == self.users_only_published == 0 and self.identical == self.users_both

    def lines(self) -> list[str]:
        """The comparison as a few readable lines."""
        return [
            f"users: {self.users_both:,} in both, {self.users_only_ours:,} only ours, "
            f"{self.users_only_published:,} only published",
            f"items: {self.items_both:,} in both, {self.items_only_ours:,} only ours, "
            f"{self.items_only_published:,} only published",
            f"same train {self.same_train:,}, valid {self.same_valid:,}, test {self.same_test:,}, "
            f"all three {self.identical:,} of {self.users_both:,} users in both",
            f"user order = published sorted(users): {self.same_user_order}",
            f"split equal: {self.equal}",
            *(f"  e.g. {example}" for example in self.examples),
        ]


def read_published(path: Path) -> dict[str, Any]:
    """A published DiffuRec split, `dataset.pkl`: a dict of five dicts, train, val, test (user id ->
    item ids) and umap, smap (original token -> id).

    Unpickling can run code: read only the authors' files (../shared/anchors holds them).
    """
    if not path.is_file():
        raise DataError(f"{path}: not found; pass the dataset.pkl of the DiffuRec authors' datasets/data/<name>/")
    # A damaged or foreign file fails in any of these ways, depending on where its bytes stop making sense.
    try:
        with path.open("rb") as file:
            published = pickle.load(file)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            ImportError) as error:
        raise DataError(f"{path}: not a readable pickle ({error}); pass the authors' dataset.pkl") from error
    if not isinstance(published, dict) or any(not isinstance(published.get(key), dict) for key in PUBLISHED_KEYS):
        found = list(published) if isinstance(published, dict) else type(published).__name__
        raise DataError(
            f"{path}: expected a dict of dicts {list(PUBLISHED_KEYS)}, found {found}; pass the authors' dataset.pkl"
        )
    return published


def compare_with_published(split: pd.DataFrame, published: Mapping[str, Any], examples: int = 5) -> SplitComparison:
    """Compare our split frame with a published split dict (see the module docstring).

    Raises `DataError` if the frame lacks a split column or the dict is not a published split
    (a key missing, a val/test entry that is not one item, an id its map does not invert).
    """
    missing = [column for column in SPLIT_COLUMNS if column not in split.columns]
    if missing:
        raise DataError(
            f"split frame lacks column(s) {missing}; expected {list(SPLIT_COLUMNS)} (rerun the split stage)"
        )
    theirs, id_order = _published_tokens(published)
    ours: dict[str, tuple[list[str], str, str]] = {}
    for user, train, valid, test in split.loc[:, list(SPLIT_COLUMNS)].itertuples(index=False):
        ours[str(user)] = ([str(item) for item in train], str(valid), str(test))
    both = [user for user in ours if user in theirs]
    same = [[a == b for a, b in zip(ours[user], theirs[user])] for user in both]
    our_items = _items(ours.values())
    their_items = _items(theirs.values())
    return SplitComparison(
        users_both=len(both),
        users_only_ours=len(ours) - len(both),
        users_only_published=len(theirs) - len(both),
        items_both=len(our_items & their_items),
        items_only_ours=len(our_items - their_items),
        items_only_published=len(their_items - our_items),
        same_train=sum(flags[0] for flags in same),
        same_valid=sum(flags[1] for flags in same),
        same_test=sum(flags[2] for flags in same),
        identical=sum(all(flags) for flags in same),
        same_user_order=list(ours) == id_order,
        examples=tuple(_differences(ours, theirs, examples)),
    )


def _published_tokens(published: Mapping[str, Any]) -> tuple[dict[str, tuple[list[str], str, str]], list[str]]:
    """The published split in tokens: user -> (train, valid, test), and the users in ascending id order."""
    absent = [key for key in PUBLISHED_KEYS if key not in published]
    if absent:
        raise DataError(f"published split lacks key(s) {absent}; a DiffuRec dataset.pkl has {list(PUBLISHED_KEYS)}")
    users = _inverse(published["umap"], "umap")
    items = _inverse(published["smap"], "smap")
    train, val, test = published["train"], published["val"], published["test"]
    if not set(train) == set(val) == set(test):
        raise DataError("published split: train, val and test hold different users; the file is not one split")

    def token(inverse: dict[Any, str], key: str, value: Any) -> str:
        if value not in inverse:
            raise DataError(f"published split: id {value!r} in {key} is not a value of the {key} map")
        return inverse[value]

    tokens: dict[str, tuple[list[str], str, str]] = {}
    ordered = sorted(train)
    for user in ordered:
        held_out = []
        for name, table in (("val", val), ("test", test)):
            entry = table[user]
            if not isinstance(entry, (list, tuple)) or len(entry) != 1:
                count = len(entry) if isinstance(entry, (list, tuple)) else repr(entry)
                raise DataError(f"published split: user {user!r} has {count} {name} items, expected a list of 1")
            held_out.append(token(items, "smap", entry[0]))
        tokens[token(users, "umap", user)] = ([token(items, "smap", item) for item in train[user]], *held_out)
    return tokens, list(tokens)


def _inverse(mapping: Mapping[Any, Any], name: str) -> dict[Any, str]:
    """id -> token (as text) of a token -> id map; two tokens on one id would make it ambiguous."""
    inverse = {value: str(key) for key, value in mapping.items()}
    if len(inverse) != len(mapping) or len(set(inverse.values())) != len(inverse):
        raise DataError(f"published split: the {name} map is not one-to-one between tokens (as text) and ids")
    return inverse


def _items(sequences: Any) -> set[str]:
    return {item for train, valid, test in sequences for item in (*train, valid, test)}


def _differences(
    ours: dict[str, tuple[list[str], str, str]], theirs: dict[str, tuple[list[str], str, str]], limit: int
) -> list[str]:
    """The first `limit` differences, users in our row order, then the published-only users."""
    found: list[str] = []
    for user, mine in ours.items():
        if len(found) == limit:
            return found
        if user not in theirs:
            found.append(f"user {user}: only in ours")
        elif mine != theirs[user]:
            found.append(f"user {user}: {_first_difference(mine, theirs[user])}")
    for user in theirs:
        if len(found) == limit:
            break
        if user not in ours:
            found.append(f"user {user}: only in the published split")
    return found


def _first_difference(mine: tuple[list[str], str, str], published: tuple[list[str], str, str]) -> str:
    (train, valid, test), (their_train, their_valid, their_test) = mine, published
    if train != their_train:
        position = next((i for i, (a, b) in enumerate(zip(train, their_train)) if a != b), None)
        if position is None:
            position = min(len(train), len(their_train))
        return (
            f"train differs at position {position} (ours {_at(train, position)}, published "
            f"{_at(their_train, position)}; lengths {len(train)} and {len(their_train)})"
        )
    if valid != their_valid:
        return f"valid item {valid} (published {their_valid})"
    return f"test item {test} (published {their_test})"


def _at(sequence: Sequence[str], position: int) -> str:
    return sequence[position] if position < len(sequence) else "end"
