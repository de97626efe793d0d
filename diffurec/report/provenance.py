"""The line that heads every report: at what scale this run was made, so that no table is read as
the paper's when it comes from a small CPU profile. It names only what the params decide (no date,
no machine: those would change the bytes between two runs of the same models; reports/cost.md names
the machine)."""

from __future__ import annotations

from importlib import metadata

from diffurec.config import Config
from diffurec.datasets import DATASET_NAMES
from diffurec.report.paper_setup import setup_differences

PACKAGE = "diffurec-repro"


def package_version() -> str:
    """This package's installed version, or "not installed" when run from a bare source tree."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "not installed"


def scale(config: Config) -> str:
    """Whether the run is at the paper's configuration (section 6.2) on every dataset, in words."""
    differing = {difference.key for dataset in config.datasets for difference in setup_differences(config, dataset)}
    if not differing:
        return "the paper's configuration (section 6.2)"
    return f"not the paper's configuration: {len(differing)} settings of its section 6.2 differ (reports/verdict.md)"


# The params `provenance` reads (through `scale`, every setting of the paper's section 6.2): each
# stage whose report it heads tracks them in dvc.yaml.
PARAMS = (
    "datasets", "seeds", "model.hidden", "model.dropout", "model.emb_dropout", "model.lambda_delta", "model.steps",
    "model.schedule", "model.max_len", "model.blocks", "train.batch_size", "train.lr", "train.weight_decay",
    "train.lr_decay_epoch", "train.epochs", "train.patience", "data.min_user_inter", "data.min_item_inter",
    "data.filters", "tune.enabled",
)


def tuning(config: Config) -> str:
    """"every model tuned, ...; " when tune.enabled, else nothing (the paper's protocol)."""
    return "every model at its tuned setting (reports/tuning.md); " if config.tune.enabled else ""


def provenance(config: Config) -> str:
    """One italic Markdown line: datasets, model size, training budget, seeds, tuning, scale and version."""
    model, train = config.model, config.train
    datasets = ", ".join(DATASET_NAMES.get(d, d) for d in config.datasets)
    return (
        f"*This run: {datasets}; hidden {model.hidden}, {model.blocks} blocks, max_len {model.max_len}, "
        f"{model.steps} diffusion steps; at most {train.epochs} epochs, patience {train.patience}; seeds "
        f"{', '.join(map(str, config.seeds))}; {tuning(config)}{scale(config)}; {PACKAGE} {package_version()}. "
        "Overview: reports/summary.md.*\n"
    )


def headed(page: str, line: str) -> str:
    """`page` (a Markdown report whose first line is its title) with `line` under the title."""
    title, _, rest = page.partition("\n")
    return f"{title}\n\n{line}{rest}"
