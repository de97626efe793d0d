"""The CLI wrapper every stage runs under: user errors and termination."""

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SLOW_WRITER = """
import sys, time
from pathlib import Path
import typer
from pipeline.app import main
from pipeline.files.atomic_write import atomic_path
cli = typer.Typer()
@cli.command()
def slow(out: Path) -> None:
    with atomic_path(out) as tmp:
        tmp.write_text("half of it")
        print("writing", flush=True)
        time.sleep(60)
main(cli)
"""


def test_a_terminated_stage_leaves_no_temporary_file_behind(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(tmp_path / "out.txt")],
                               stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline().strip() == "writing"
    assert len(list(tmp_path.iterdir())) == 1  # the temporary file, mid-write
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []
