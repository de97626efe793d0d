"""The YAML files people edit are refused, with the file and the fix, when missing, unreadable or broken."""

from __future__ import annotations

import pytest

from diffurec.errors import ConfigError, DataError
from pipeline.files.paper_tables import load_paper_tables
from pipeline.files.yaml_file import read_yaml
from pipeline.params import load_config


def test_a_readable_file_is_parsed(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("seeds: [0, 1]\n")
    assert read_yaml(path, DataError, "make it", "fix it") == {"seeds": [0, 1]}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"x\.yaml: not found; make it$"),
        (b"seeds: [0,\n", r"(?s)x\.yaml: not valid YAML \(.*\); fix it$"),
        (b"seeds: caf\xe9\n", r"x\.yaml: cannot be read as UTF-8 text \(.*\); fix it$"),
    ],
)
def test_a_missing_broken_or_non_utf8_file_is_the_callers_error(tmp_path, content, message):
    path = tmp_path / "x.yaml"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_yaml(path, DataError, "make it", "fix it")


def test_params_and_the_paper_tables_name_their_own_fix(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=r"broken\.yaml: cannot be read as UTF-8 text .*; fix the file$"):
        load_config(broken)
    with pytest.raises(DataError, match=r"broken\.yaml: cannot be read as UTF-8 text .*; restore it from git$"):
        load_paper_tables(broken)
    with pytest.raises(ConfigError, match=r"absent\.yaml: not found; check the --params path$"):
        load_config(tmp_path / "absent.yaml")
