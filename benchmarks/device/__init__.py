"""The device lab: our code, the official DiffuRec code and RecBole's baselines run on a borrowed
GPU within a budget, the numbers brought home into a ledger (docs/ledger/), and the documents
rendered from it. `benchmarks/device_queue.py` is its one command line; each module here has one role:

- experiments: the queue, what each experiment asks and which runs answer it
- planner: what identifies a run, what it must get through, and whether to start it now
- ledger: the ledger files (format, reading, the one file a call writes, settling, ingesting)
- lease: the budget's alarm and the machine's description, shared with benchmarks/speed.py
- prepare: what a device call carries (split tables, the official code, RecBole)
- runners: one run of ours, of the official code or of a RecBole baseline
- official_log: the official code's printout read into a ledger record
- call: one device call, the queue run within its budget into a new ledger file
- fidelity_tables, grid_report: the ledger rendered (docs/fidelity.md's tables, docs/reproduction.md)
- grid_verdict: the paper's claims judged on the ledger's grid by the verdict stage's code (docs/reproduction.md)

The modules import each other as `device.<module>`: `benchmarks/` is on the path when a benchmark
script runs, and tests/conftest.py puts it there for the tests.
"""

from pathlib import Path

# Profiles, the ledger and the code a call hashes are found from here, wherever a command runs.
ROOT = Path(__file__).resolve().parents[2]
