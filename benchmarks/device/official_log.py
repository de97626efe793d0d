"""The official DiffuRec code's printout (its trainer.model_train's print calls) read into the
fields of a ledger record: epochs, validations, test, best validation, and the timings the planner
predicts from. It prints percentages and counts epochs from 0; the record holds fractions and
counts from 1, as ours."""

from __future__ import annotations

import ast
import re
from typing import Any

from device.ledger import median_s

EPOCH = re.compile(r"^Epoch: (\d+)$")
EPOCH_LOSS = re.compile(r"^loss in epoch (\d+): (\S+)$")
NUMPY_SCALAR = re.compile(r"np\.(?:float|int)\d*\(([^()]*)\)")


def dict_line(text: str) -> dict[str, float] | None:
    """A dict the official code printed; NumPy 2 prints its scalars as np.float64(2.5)."""
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        value = ast.literal_eval(NUMPY_SCALAR.sub(r"\1", text))
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, dict) else None


def _fractions(percent: dict[str, float]) -> dict[str, float]:
    return {key: round(float(value) / 100, 6) for key, value in percent.items()}


def parse_official(lines: list[tuple[float, str]]) -> dict[str, Any]:
    """What the official code's printout says, from (seconds since start, line) pairs. Its epoch 10
    is our epoch 11.

    Per validation it prints only the best value so far of each metric, and only when one of them
    improved; `valid` holds this validation's own values where they are known (the metrics whose
    best epoch is this one). At the end: "Test---" and the test metrics of the checkpoint kept at
    the last improving validation, then "Best Eval---", each metric's best validation value and the
    epoch of it."""
    epochs: list[dict[str, Any]] = []
    validations: list[dict[str, Any]] = []
    result: dict[str, Any] = {"epochs": epochs, "validations": validations, "test": None, "best_valid": None,
                              "best_epochs": None}
    timing: dict[str, float | None] = {"setup_s": None, "epoch_s": None, "valid_s": None, "test_s": None}
    section, epoch_start, pending, previous = None, None, None, 0.0
    valid_s: list[float] = []
    for at, raw in lines:
        text = raw.strip()
        if pending is not None and "_valid_began" in pending:
            valid_s.append(at - pending.pop("_valid_began"))
        if match := EPOCH.match(text):
            epoch_start, pending = at, None
            if timing["setup_s"] is None:
                timing["setup_s"] = round(at, 3)
        elif match := EPOCH_LOSS.match(text):
            epochs.append({"epoch": int(match[1]) + 1, "loss": float(match[2]),
                           "train_s": None if epoch_start is None else round(at - epoch_start, 3)})
        elif text.startswith("start predicting:"):
            pending = {"epoch": epochs[-1]["epoch"] if epochs else None, "improved": False, "_valid_began": at}
            validations.append(pending)
        elif text.startswith("Test---"):
            section = "test"
            timing["test_s"] = round(at - previous, 3)
        elif text.startswith("Best Eval---"):
            section = "best"
        elif (values := dict_line(text)) is not None:
            is_epochs = all(key.startswith("Best_epoch_") for key in values)
            is_best = not is_epochs and all(key.startswith("Best_") for key in values)
            if section == "test" and not is_best and not is_epochs:
                result["test"] = _fractions(values)
            elif section == "best" and is_best:
                result["best_valid"] = _fractions({key.removeprefix("Best_"): v for key, v in values.items()})
            elif section == "best" and is_epochs:
                result["best_epochs"] = {key.removeprefix("Best_epoch_"): int(v) + 1 for key, v in values.items()}
            elif section is None and pending is not None and is_best:
                pending.update(improved=True, best_so_far=_fractions(
                    {key.removeprefix("Best_"): v for key, v in values.items()}))
            elif section is None and pending is not None and is_epochs:
                best_at = {key.removeprefix("Best_epoch_"): int(v) + 1 for key, v in values.items()}
                pending["valid"] = {key: value for key, value in pending.get("best_so_far", {}).items()
                                    if best_at.get(key) == pending["epoch"]}
        previous = at
    for point in validations:
        point.pop("_valid_began", None)
    timing["epoch_s"] = median_s([e["train_s"] for e in epochs if e["train_s"] is not None])
    timing["valid_s"] = median_s(valid_s)
    result["timing"] = timing
    result["epochs_finished"] = epochs[-1]["epoch"] if epochs else 0
    # The checkpoint it tests is the one kept at the last validation where any metric improved.
    improved = [p["epoch"] for p in validations if p["improved"]]
    result["best_epoch"] = improved[-1] if improved else None
    return result
