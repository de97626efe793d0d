"""What a real atomic `.inter` file can carry, met through the preprocess stage: each is either
read as intended (the written table is checked) or refused in one line with file, line and fix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data_stage_support import assert_refused, run_cli, write_params
from pipeline.files.recbole_inter import header_names, read_inter

HEADER = "user_id:token\titem_id:token\ttimestamp:float\n"
ROWS = "u1\ta\t3\nu1\tb\t1\nu2\ta\t2\n"
# ROWS as preprocess writes them (thresholds 1): u1 ordered by time, ids by first appearance.
ROWS_TABLE = [("u1", "b", 1.0, 1, 1), ("u1", "a", 3.0, 1, 2), ("u2", "a", 2.0, 2, 2)]


def preprocess_file(tmp_path: Path, content: bytes, **thresholds: int) -> tuple[int, str, Path, Path]:
    """Run the stage on `content` as RAW/ml-100k.inter; (exit code, stderr, inter file, out file)."""
    inter = tmp_path / "raw" / "ml-100k.inter"
    inter.parent.mkdir()
    inter.write_bytes(content)
    out = tmp_path / "out" / "ml-100k.parquet"
    params = write_params(tmp_path, **({"min_user_inter": 1, "min_item_inter": 1} | thresholds))
    code, stderr = run_cli("preprocess", "ml-100k", "--raw", inter.parent, "--out", out, "--params", params)
    return code, stderr, inter, out


def written(out: Path) -> list[tuple]:
    return list(pd.read_parquet(out).itertuples(index=False, name=None))


def assert_refused_without_output(tmp_path: Path, content: bytes, *fragments: str) -> None:
    code, stderr, inter, out = preprocess_file(tmp_path, content)
    assert_refused(code, stderr, str(inter), *fragments)
    assert not out.parent.exists()


def test_the_plain_file_these_variants_are_compared_with(tmp_path):
    code, stderr, _, out = preprocess_file(tmp_path, (HEADER + ROWS).encode())
    assert code == 0, stderr
    assert written(out) == ROWS_TABLE


# 1. A last line without its newline: the file was most likely cut, and a cut timestamp
# ("8" of "881250949") still parses, so even a complete-looking last row is refused.
@pytest.mark.parametrize(
    "tail",
    ["u3\tc\t5", "u3\tc\t8", "u3\tc", "u3"],
    ids=["whole row", "cut timestamp", "fewer fields", "one field"],
)
def test_last_line_without_newline_is_refused_as_cut_short(tmp_path, tail):
    assert_refused_without_output(
        tmp_path, (HEADER + ROWS + tail).encode(), "line 5 (the last) does not end with a newline", "re-download"
    )


# 2. A byte-order mark (Windows editors write one) is dropped, not glued to `user_id`.
def test_byte_order_mark_before_the_header_is_ignored(tmp_path):
    code, stderr, inter, out = preprocess_file(tmp_path, b"\xef\xbb\xbf" + (HEADER + ROWS).encode())
    assert code == 0, stderr
    assert written(out) == ROWS_TABLE
    # The download stage checks the header with the same function.
    assert header_names(inter) == ["user_id", "item_id", "timestamp"]


# 3. CRLF endings, blank lines included, read as LF; a carriage return alone is refused.
def test_crlf_line_endings_read_like_lf(tmp_path):
    content = (HEADER + ROWS + "\n").replace("\n", "\r\n").encode()
    code, stderr, _, out = preprocess_file(tmp_path, content)
    assert code == 0, stderr
    assert written(out) == ROWS_TABLE


def test_carriage_return_inside_a_line_is_refused(tmp_path):
    assert_refused_without_output(
        tmp_path, (HEADER + ROWS + "u3\tc\r\t5\n").encode(), "line 5 has a carriage return", "LF or CRLF"
    )


# 4. Repeated rows stay separate interactions (RecBole's rm_dup_inter: ~) and each counts in
# the k-core: u1 and a reach 2 only through the repeat; u2 and b (once each) are filtered out.
def test_repeated_rows_are_kept_and_counted(tmp_path):
    content = (HEADER + "u1\ta\t1\nu2\tb\t2\nu1\ta\t1\n").encode()
    code, stderr, _, out = preprocess_file(tmp_path, content, min_user_inter=2, min_item_inter=2)
    assert code == 0, stderr
    assert written(out) == [("u1", "a", 1.0, 1, 1), ("u1", "a", 1.0, 1, 1)]


# 5. Tokens are verbatim: spaces inside or around them, Unicode, and "NA" are distinct ids.
def test_tokens_with_spaces_and_unicode_are_kept_verbatim(tmp_path):
    content = (HEADER + "Zoë K\tthé vert\t1\n Zoë K\tNA\t2\nZoë K\tthé vert \t3\n").encode()
    code, stderr, _, out = preprocess_file(tmp_path, content)
    assert code == 0, stderr
    assert written(out) == [
        ("Zoë K", "thé vert", 1.0, 1, 1), ("Zoë K", "thé vert ", 3.0, 1, 2), (" Zoë K", "NA", 2.0, 2, 3),
    ]  # fmt: skip


def test_text_that_is_not_utf8_is_refused_at_its_line(tmp_path):
    content = HEADER.encode() + "u1\tthé\t1\n".encode("latin-1")
    assert_refused_without_output(tmp_path, content, "line 2 is not UTF-8 text (byte 0xe9)", "save the file as UTF-8")


# 6. Timestamps only order a user's rows: negative and fractional ones are fine, up to the
# largest magnitude at which float64 still holds every integer (2**53 - 1).
def test_negative_fractional_and_largest_exact_timestamps_order_rows(tmp_path):
    content = (HEADER + "u1\ta\t9007199254740991\nu1\tb\t-5\nu1\tc\t-5.5\nu1\td\t0.25\n").encode()
    code, stderr, _, out = preprocess_file(tmp_path, content)
    assert code == 0, stderr
    assert [(item, time) for _, item, time, _, _ in written(out)] == [
        ("c", -5.5), ("b", -5.0), ("d", 0.25), ("a", 9007199254740991.0),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("timestamp", "problem"),
    [
        ("1e30", "has magnitude 2**53 or more"),
        ("-1e30", "has magnitude 2**53 or more"),
        # 2**53 + 1 reads as 2**53: it would tie with 2**53 itself.
        ("9007199254740993", "has magnitude 2**53 or more"),
        ("NaN", "is not a finite number"),
        ("inf", "is not a finite number"),
        ("-Infinity", "is not a finite number"),
        ("2024-01-05", "is not a finite number"),
    ],
)
def test_timestamp_that_cannot_order_rows_is_refused(tmp_path, timestamp, problem):
    content = (HEADER + ROWS + f"u3\tc\t{timestamp}\n").encode()
    assert_refused_without_output(tmp_path, content, f"line 5: timestamp {timestamp!r} {problem}")


# 7. Other columns only need to be present: a label does not filter rows (RecBole's
# threshold: ~), and a review may hold spaces or be empty.
def test_extra_label_and_review_columns_are_ignored(tmp_path):
    header = "user_id:token\titem_id:token\tlabel:float\ttimestamp:float\treview:token_seq\n"
    rows = "u1\ta\t1\t3\tgood value\nu1\tb\t0\t1\t\nu2\ta\t0\t2\tmeh\n"
    code, stderr, _, out = preprocess_file(tmp_path, (header + rows).encode())
    assert code == 0, stderr
    assert written(out) == ROWS_TABLE


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("u3\tc\t1\t5\tgood\tvalue\n", "line 5 has 6 fields but the header names 5 (a tab inside a value)"),
        # A row without its (even empty) last field is as likely cut as abbreviated.
        ("u3\tc\t1\t5\n", "line 5 has 4 fields but the header names 5 (cut short or a value missing)"),
    ],
    ids=["tab in review", "review field absent"],
)
def test_row_without_the_header_field_count_is_refused(tmp_path, row, problem):
    header = "user_id:token\titem_id:token\tlabel:float\ttimestamp:float\treview:token_seq\n"
    rows = "u1\ta\t1\t3\tgood\nu1\tb\t0\t1\t\nu2\ta\t0\t2\tmeh\n"
    assert_refused_without_output(tmp_path, (header + rows + row).encode(), problem, "fix the file")


# 8. A header with no rows, whether or not blank lines or a newline follow it.
@pytest.mark.parametrize("after", ["", "\n", "\n\n\r\n"], ids=["no newline", "newline", "blank lines"])
def test_header_only_is_refused(tmp_path, after):
    content = (HEADER.rstrip("\n") + after).encode()
    assert_refused_without_output(tmp_path, content, "line 1: header only, no interactions", "re-download")


def test_line_numbers_count_blank_lines(tmp_path):
    # Blank lines are skipped, but an error further down still names the line in the file.
    inter = tmp_path / "x.inter"
    inter.write_bytes((HEADER + "u1\ta\t1\n\n\nu1\tb\tsoon\n").encode())
    with pytest.raises(ValueError, match=r"line 5: timestamp 'soon'"):
        read_inter(inter)
