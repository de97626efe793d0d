"""The Typer application every stage module registers its command on."""

from __future__ import annotations

import signal
import sys

import typer

from diffurec.errors import ReproError
from pipeline import STARTED
from pipeline.files.cost_records import record_stage

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: rewraps docstring paragraphs instead of keeping their line breaks.
    rich_markup_mode=None,
)


@app.callback()
def stages() -> None:
    """diffurec-repro stages. DVC calls these; each reads params.yaml through one validated config."""
    # A callback keeps the app a group of commands when a single stage is registered
    # (`python -m pipeline train ...` imports only that one); Typer would otherwise make the lone
    # command the whole app, and "train" would be read as its first argument.


def _terminate(signum: int, frame: object) -> None:
    # Python dies on SIGTERM without unwinding; as an exception, every `finally` removes its
    # half-written temporary file or staging folder first, as on Ctrl-C.
    sys.exit(128 + signum)


def main(cli: typer.Typer = app) -> None:
    """Run a CLI (the stages' by default); a user error becomes one line on stderr and exit status 2.
    SIGTERM (`kill`, a queue worker stopped) exits with status 143 after the same clean-up as Ctrl-C.
    A stage that DVC started and that succeeded records its cost (`pipeline.files.cost_records`)."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        cli()
    except SystemExit as exit:
        # Click ends every command, successful or not, with SystemExit; 0 (or None) is success.
        if exit.code in (0, None):
            try:
                record_stage(STARTED)
            except OSError as error:
                # The stage's own outputs are written; only the cost page will miss it.
                print(f"warning: this stage's cost record was not written ({error}); "
                      "reports/cost.md will not list it", file=sys.stderr)
        raise
    except ReproError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    finally:
        signal.signal(signal.SIGTERM, previous)
