"""The ledger's runs as Markdown, for docs/fidelity.md: the ledger files with their calls, then
one table per experiment (queue order, then any other), a row per recorded run with the ledger
file it comes from, and the curve of every run validated more than once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from device.experiments import Experiment
from device.ledger import code_sha256


def _cell(metrics: dict[str, float] | None, key: str) -> str:
    return "-" if not metrics or metrics.get(key) is None else f"{metrics[key]:.4f}"


def _gap(test: dict[str, float] | None, valid: dict[str, float] | None) -> str:
    if not test or not valid or not valid.get("NDCG@10"):
        return "-"
    return f"{test['NDCG@10'] / valid['NDCG@10'] - 1:+.1%}"


def render(records: list[dict[str, Any]], queue: Sequence[Experiment], link_base: str) -> str:
    """The tables of `records` (from read_ledger), the experiments of `queue` first and in its order."""
    order = [e.id for e in queue]
    by_experiment: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_experiment.setdefault(record["spec"]["experiment"], []).append(record)
    questions = {e.id: e.question for e in queue}
    lines: list[str] = ["Ledger files:", ""]
    calls = {record["ledger"]: record["call"] for record in records}
    current = code_sha256()
    for name, call in calls.items():
        code = call.get("code_sha256")
        same = "the code as now" if code == current else f"older code ({(code or 'unknown')[:12]})"
        lines.append(f"- [{name}]({link_base}{name}): {call.get('card')}, torch {call.get('torch')}, started "
                     f"{call.get('started_utc')}, budget {call.get('budget_s')} s, ran {call.get('wall_s')} s; {same}; "
                     f"raw log [{call.get('log')}]({link_base}{call.get('log')}).")
    lines.append("")
    for key in sorted(by_experiment, key=lambda k: (order.index(k) if k in order else len(order), k)):
        rows = by_experiment[key]
        lines += [f"### {key}: {questions.get(key, '')}".rstrip(": "), "",
                  "| Run | Recipe | Overrides / arguments | Status | Epochs | Best epoch | Valid NDCG@10 | "
                  "Test HR@10 | Test NDCG@10 | Test vs valid | Wall (s) | Card | Ledger |",
                  "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
        for r in rows:
            s = r["spec"]
            options = " ".join(s["overrides"] or s["args"]) or "-"
            status = "cut by the budget" if r["cut"] else r["status"]
            status += " (early stop)" if r.get("stopped_early") else ""
            status += ", settled" if r["settled"] and r["status"] != "done" else ""
            lines.append(
                f"| {s['run']} ({s['variant']}, seed {s['seed']}) | {s['recipe']} | `{options}` | {status} | "
                f"{r['epochs_finished']} of {r['planned_epochs']} | {r['best_epoch'] or '-'} | "
                f"{_cell(r['best_valid'], 'NDCG@10')} | {_cell(r['test'], 'HR@10')} | {_cell(r['test'], 'NDCG@10')} | "
                f"{_gap(r['test'], r['best_valid'])} | {r['wall_s'] if r['wall_s'] is not None else '-'} | "
                f"{r['card']}, torch {r['torch']} | [{r['ledger']}]({link_base}{r['ledger']}) |")
        lines.append("")
        if any(r["spec"]["kind"] == "official" for r in rows):
            lines += ["Official code: valid = its \"Best Eval\" (each metric's best validation), test = the "
                      "checkpoint of its last validation where any metric improved; its epochs counted from 1.", ""]
        for r in rows:
            # A RecBole baseline validates every epoch, NDCG@10 only: its curve stays in the ledger.
            if len(r["validations"]) > 1 and r["spec"]["kind"] != "recbole":
                lines += [f"Curve of {r['spec']['run']} ([{r['ledger']}]({link_base}{r['ledger']})):", "",
                          "| Epoch | Valid HR@10 | Valid NDCG@10 | Test HR@10 | Test NDCG@10 |",
                          "| ---: | ---: | ---: | ---: | ---: |"]
                for point in r["validations"]:
                    valid = point.get("valid") or point.get("best_so_far")
                    lines.append(f"| {point['epoch']} | {_cell(valid, 'HR@10')} | {_cell(valid, 'NDCG@10')} | "
                                 f"{_cell(point.get('test'), 'HR@10')} | {_cell(point.get('test'), 'NDCG@10')} |")
                lines.append("")
        if any(r.get("error") for r in rows):
            lines += [f"- {r['spec']['run']}: {r['error']}" for r in rows if r.get("error")] + [""]
    return "\n".join(lines)
