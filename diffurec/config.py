"""The project's configuration: one typed object, built from the params dict and validated.

`Config.from_dict(yaml.safe_load(open("params.yaml")))` is the only way in. Unknown keys,
wrong types and out-of-range values raise `ConfigError` with the dotted key and the fix, so
a typo in `params.yaml` or in `dvc exp run -S` fails loudly instead of being ignored.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from diffurec.datasets import DATASETS
from diffurec.errors import ConfigError
from diffurec.variants import VARIANTS


@dataclass(frozen=True)
class FilterConfig:
    """One dataset's k-core thresholds; None keeps data.min_user_inter / data.min_item_inter."""

    min_user_inter: int | None = None
    min_item_inter: int | None = None


@dataclass(frozen=True)
class DataConfig:
    # A local directory or URL laid out like RecBole's dataset bucket; null = RecBole's URLs.
    mirror: str | None = None
    # dataset key -> expected sha256 of its downloaded archive; unpinned datasets are recorded only.
    sha256: dict[str, str] = field(default_factory=dict)
    min_user_inter: int = 5
    min_item_inter: int = 5
    # Per-dataset overrides of the two filters above, e.g. {ml-1m: {min_item_inter: 1}}: the
    # published DiffuRec ML-1M keeps every item although the paper's text says 5-core.
    filters: dict[str, FilterConfig] = field(default_factory=dict)

    def threshold_settings(self, dataset: str) -> list[tuple[str, int]]:
        """[(params key, value)] of min_user_inter and min_item_inter in force for `dataset`: its
        data.filters override where it has one, else the global key (errors name the key to change)."""
        override = self.filters.get(dataset, FilterConfig())
        settings = []
        for name in ("min_user_inter", "min_item_inter"):
            value = getattr(override, name)
            if value is None:
                settings.append((f"data.{name}", getattr(self, name)))
            else:
                settings.append((f"data.filters.{dataset}.{name}", value))
        return settings

    def thresholds(self, dataset: str) -> tuple[int, int]:
        """(min_user_inter, min_item_inter) in force for `dataset`."""
        (_, user), (_, item) = self.threshold_settings(dataset)
        return user, item


@dataclass(frozen=True)
class ModelConfig:
    hidden: int = 128
    blocks: int = 4
    heads: int = 4
    dropout: float = 0.1
    emb_dropout: float = 0.3
    max_len: int = 100
    steps: int = 32
    schedule: Literal["trunc_lin", "linear", "cosine", "sqrt"] = "trunc_lin"
    # lambda ~ N(delta, delta): mean and standard deviation of the conditioning weight.
    lambda_delta: float = 0.001
    # Offset noise (V2 only): forward noise eps ~ N(offset * delta_c, I) during training.
    offset: float = 0.1
    delta_c: float = 1.0
    # "constant": the paper's eq. 17 (same shift on every sample and dimension);
    # "per_sample": the image-diffusion variant, offset * N(0, 1) drawn once per sample;
    # "per_element": the DiffuRecSys code while its offset was on, offset * N(0, 1) per element.
    offset_mode: Literal["constant", "per_sample", "per_element"] = "constant"
    # Paper: the standard Transformer of Vaswani et al. (ReLU FFN, LayerNorm after each residual
    # sum, positional embedding), keys masked. Official DiffuRec code: GELU, pre-LayerNorm blocks
    # with a final dropout + LayerNorm, no positional embedding, padding masked on query rows.
    norm: Literal["post", "pre"] = "post"
    # "gelu" is the exact GELU; "gelu_tanh" its tanh approximation, which the official code computes.
    activation: Literal["relu", "gelu", "gelu_tanh"] = "relu"
    # The official blocks' extra dropout sites (docs/fidelity.md): inside the feed-forward layer
    # (after its activation) and on each block's output.
    ffn_dropout: bool = False
    block_dropout: bool = False
    # "xavier": Xavier-normal weights and zero biases on every linear layer. "official": Xavier
    # only on the attention-output and feed-forward weights, PyTorch's defaults elsewhere (non-zero
    # biases). Embeddings are N(0, 1) in both.
    init: Literal["xavier", "official"] = "xavier"
    # LayerNorm epsilon: PyTorch's 1e-5, or the official code's 1e-12.
    norm_eps: float = 1e-5
    # The official code keeps the padding row 0 as a class of the loss and scores it at evaluation,
    # where it can take a top-k slot. Off: padding is never a class and never ranked.
    padding_class: bool = False
    positional: bool = True
    # "keys": padding is masked as attention keys, so it never reaches a real position.
    # "queries": the official code's mask on query rows: every position attends to padding too,
    # and padded rows average all values uniformly.
    mask: Literal["keys", "queries"] = "keys"
    # Paper eq. 19: x0 is a one-step diffusion of the target embedding; official code uses e directly.
    x0: Literal["one_step", "embedding"] = "one_step"
    # Reverse-step noise scale: eq. 22 as printed (beta_tilde * eps), the DDPM posterior
    # (sqrt(beta_tilde) * eps), or the official code's "fixed large" sqrt(beta_t).
    reverse_noise: Literal["paper", "posterior", "official"] = "paper"


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 41
    batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 1e-4
    # Epochs 1..lr_decay_epoch run at lr, later ones at lr * lr_decay_gamma: PyTorch's StepLR, as
    # the official code uses it, whose epochs count from 0, so the paper's "starting at epoch 30"
    # is read as StepLR(30), first felt in epoch 31.
    lr_decay_epoch: int = 30
    lr_decay_gamma: float = 0.1
    # Validation after epoch e when e > eval_offset and (e - eval_offset) % eval_every == 0, and
    # always after the last epoch. The official code validates after epochs 21, 41, ... (every 20,
    # offset 1: its epochs count from 0 and it skips epoch 0).
    eval_every: int = 1
    eval_offset: int = 0
    # Early stopping: stop after this many validations in a row without improvement; 0 = never.
    patience: int = 0
    # What counts as an improvement, and so which checkpoint is kept: "ndcg10", a higher validation
    # NDCG@10 (the best epoch); "any", any of the validation metrics above its own best so far
    # (the official rule: the kept checkpoint is the last one at which any metric improved).
    selection: Literal["ndcg10", "any"] = "ndcg10"
    # "grouped": batches of similar history lengths (each cut to its longest history, few padded
    # positions); "shuffled": a uniform shuffle of all samples, as the official DataLoader does,
    # each batch still cut to its own longest history.
    batching: Literal["grouped", "shuffled"] = "grouped"
    # Users drawn (fixed sample) for the per-epoch validation; 0 = all users.
    valid_users: int = 0
    device: str = "auto"
    # "auto": bf16 autocast on CUDA (tensor cores), float32 on the CPU; "fp32" everywhere (the
    # paper's and the official code's numerics); "bf16" everywhere. docs/benchmarks.md compares them.
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    # torch.compile of the training step (diffurec/compiled.py): "eager", none; "compiled", always
    # (CUDA graphs on CUDA); "auto", on CUDA only, where operator launches bound the step. The
    # compiled step draws the same random numbers and gives eager's numbers to float rounding.
    compile: Literal["auto", "eager", "compiled"] = "eager"


@dataclass(frozen=True)
class EvalConfig:
    batch_size: int = 256
    ks: tuple[int, ...] = (5, 10, 20)
    mask_history: bool = False
    device: str = "auto"
    # The reverse process's precision (scores are float32 either way); see train.precision.
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    # torch.compile of the reverse process's denoiser, as train.compile (validation in training too).
    compile: Literal["auto", "eager", "compiled"] = "eager"
    # Algorithm 3's members: "runs", every seed's trained model with its own inference seed (our
    # reading, diffurec/ensemble.py); "inference", the first seed's model once per seed in `seeds`
    # as inference seed (the printed loop over random seeds around one model).
    ensemble: Literal["runs", "inference"] = "runs"
    # How metrics average over users: "users", the plain mean; "batches", the official code's mean
    # of per-batch means over consecutive users in batches of eval.batch_size (the last, short
    # batch weighs as much as a full one).
    averaging: Literal["users", "batches"] = "users"

    def averaging_batch(self) -> int | None:
        """The batch of the official mean of per-batch means, or None for the plain mean over users."""
        return self.batch_size if self.averaging == "batches" else None


# RecBole models the baselines stage can run, and the settings of each that params.yaml may set
# (RecBole's own names; tests/test_recbole_compat.py checks them against RecBole's model files).
RECBOLE_MODEL_SETTINGS = {
    "GRU4Rec": ("embedding_size", "hidden_size", "num_layers", "dropout_prob", "loss_type"),
    "SASRec": (
        "n_layers", "n_heads", "hidden_size", "inner_size", "hidden_dropout_prob", "attn_dropout_prob", "loss_type",
    ),
    "BERT4Rec": (
        "n_layers", "n_heads", "hidden_size", "inner_size", "hidden_dropout_prob", "attn_dropout_prob", "loss_type",
        "mask_ratio",
    ),
}

RECBOLE_MODEL_SETTINGS_ALL = tuple(sorted({name for names in RECBOLE_MODEL_SETTINGS.values() for name in names}))
_INT_SETTINGS = ("embedding_size", "hidden_size", "inner_size", "n_layers", "num_layers", "n_heads")


@dataclass(frozen=True)
class RecBoleModelConfig:
    """One baseline run through RecBole. Every None means RecBole's default for that model."""

    model: Literal["GRU4Rec", "SASRec", "BERT4Rec"] | None = None
    epochs: int | None = None
    train_batch_size: int | None = None
    learning_rate: float | None = None
    weight_decay: float | None = None
    # Early stopping: evaluations without a better validation NDCG@10 before training stops.
    stopping_step: int | None = None
    # History length (RecBole's MAX_ITEM_LIST_LENGTH); None = model.max_len, DiffuRec's.
    max_len: int | None = None
    # "BPR" is RecBole's pairwise loss with one uniform negative, the nearest it has to SASRec's BCE.
    loss_type: Literal["CE", "BPR"] | None = None
    embedding_size: int | None = None
    hidden_size: int | None = None
    inner_size: int | None = None
    n_layers: int | None = None
    num_layers: int | None = None
    n_heads: int | None = None
    dropout_prob: float | None = None
    hidden_dropout_prob: float | None = None
    attn_dropout_prob: float | None = None
    mask_ratio: float | None = None

    def model_settings(self) -> dict[str, Any]:
        """The model settings given here (not None), by RecBole name."""
        return {
            name: getattr(self, name)
            for name in RECBOLE_MODEL_SETTINGS.get(self.model, ())
            if getattr(self, name) is not None
        }


def _default_baselines() -> dict[str, RecBoleModelConfig]:
    # The paper names its baselines only; it trains them fully with RecBole's settings. SASRec as
    # DiffuRec compared it (pairwise loss), and with cross-entropy, the stronger literature setting.
    return {
        "GRU4Rec": RecBoleModelConfig(model="GRU4Rec"),
        "SASRec": RecBoleModelConfig(model="SASRec", loss_type="BPR"),
        "SASRec-CE": RecBoleModelConfig(model="SASRec", loss_type="CE"),
        "BERT4Rec": RecBoleModelConfig(model="BERT4Rec"),
    }


@dataclass(frozen=True)
class RecBoleConfig:
    seed: int = 0
    # torch CPU threads while a baseline trains; 0 = torch's default. On a busy machine one thread
    # can be many times faster than two that wait on each other.
    threads: int = 0
    # Baseline name (as listed in `baselines`) -> its RecBole run.
    models: dict[str, RecBoleModelConfig] = field(default_factory=_default_baselines)


@dataclass(frozen=True)
class AnalysisConfig:
    # Paper section 6.5: the top 20% of items by training interactions are head items.
    head_fraction: float = 0.2
    # Users are split into len + 1 sequence-length groups at these percentiles of their lengths.
    length_percentiles: tuple[float, ...] = (20.0, 40.0, 60.0, 80.0)
    # t-SNE of the reconstructed x0 (Figures 3-6): a fixed sample of test users per dataset,
    # drawn and embedded with tsne_seed; the model is the first seed's run of each variant.
    tsne_users: int = 500
    tsne_perplexity: float = 30.0
    tsne_seed: int = 0


@dataclass(frozen=True)
class AblationConfig:
    """Inference ablations of the trained models (stage `ablation`), no retraining."""

    # One setting per entry: the reverse process with K of the model's model.steps steps, K in
    # 1..model.steps, over the respaced schedule (diffurec/schedule.py says which steps).
    steps: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    # One more setting: all model.steps steps with the approximator's input x_t replaced by zeros.
    zero_xt: bool = True

    def settings(self) -> dict[str, tuple[int | None, bool]]:
        """Setting name -> (reverse steps, None = all; x_t replaced by zeros), in the order the
        stage runs them and the report lists them."""
        settings: dict[str, tuple[int | None, bool]] = {f"steps={k}": (k, False) for k in self.steps}
        if self.zero_xt:
            settings["zero_xt"] = (None, True)
        return settings


@dataclass(frozen=True)
class VerdictConfig:
    """How the verdict (stage `verdict`) decides whether each of the paper's claims holds."""

    # Significance level of each claim's family of comparisons on one dataset (Bonferroni within it).
    alpha: float = 0.05
    # Bootstrap over users, used below 3 seeds: resamples, and the seed each comparison's generator
    # starts from, so that the same runs give the same page.
    bootstrap_resamples: int = 2000
    bootstrap_seed: int = 0
    # C9: our spread over seeds is stable when std / mean is below this. The paper's own Table 3
    # stays below 0.05 for every printed number (largest: 0.0080 / 0.1888 = 0.042).
    cv_threshold: float = 0.05
    # The smallest effect of interest, as a fraction of the reference's mean (of 1 for a time
    # ratio): an interval within ± this is "no effect", and C4b's "minimal" difference. 0.05 is well
    # under the smallest gain the paper prints for V1 or V2 over DiffuRec (8.5% of DiffuRec's
    # NDCG@10 on ML-1M, V2, Table 3), so an effect the paper would report is never called none.
    smallest_effect: float = 0.05


@dataclass(frozen=True)
class SearchRange:
    """One tuned setting's range in an Optuna study: `choices`, or `low`..`high` (on a log scale
    with `log`; whole numbers with `integer`)."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[float, ...] = ()

    def contains(self, value: float) -> bool:
        if self.choices:
            return value in self.choices
        return self.low <= value <= self.high and (not self.integer or float(value).is_integer())


# What a study may tune: for our variants a `model.` or `train.` setting that takes a number; for a
# baseline one of RecBole's own settings; never those fixing the protocol and the budget, the same
# for every model (the epoch cap, early stopping, validation, the history length, the loss).
_TUNABLE_SECTIONS = ("model", "train")
_UNTUNABLE = ("model.max_len", "train.epochs", "train.patience", "train.eval_every", "train.eval_offset",
              "train.valid_users")
_UNTUNABLE_RECBOLE = ("model", "epochs", "stopping_step", "max_len", "loss_type")


@dataclass(frozen=True)
class TuneConfig:
    """Stage `tune`: one seeded Optuna study per dataset and model, with the same budget for all."""

    # Train every model with its study's best setting (studies/DATASET/MODEL/best.yaml) instead of
    # the settings above. False is the paper's protocol.
    enabled: bool = False
    # Trials per study, the default setting first; of the rest, the first `random_starts` are
    # drawn at random, the others by TPE.
    trials: int = 6
    random_starts: int = 2
    seed: int = 0
    # Median pruning: a trial whose validation NDCG@10 after an epoch is below the median of the
    # completed trials' after the same epoch stops there, but not before this epoch.
    prune_after: int = 3
    # Model (a variant or a baseline name) -> setting -> its range.
    spaces: dict[str, dict[str, SearchRange]] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    datasets: tuple[str, ...] = ("ml-100k",)
    variants: tuple[str, ...] = VARIANTS
    seeds: tuple[int, ...] = (0,)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    ablation: AblationConfig = field(default_factory=AblationConfig)
    baselines: tuple[str, ...] = ("GRU4Rec", "SASRec", "SASRec-CE", "BERT4Rec")
    recbole: RecBoleConfig = field(default_factory=RecBoleConfig)
    verdict: VerdictConfig = field(default_factory=VerdictConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Config:
        config = _build(cls, raw or {}, "")
        config.validate()
        return config

    def validate(self) -> None:
        _check_members("datasets", self.datasets, DATASETS)
        _check_members("variants", self.variants, VARIANTS)
        for name in ("datasets", "variants", "seeds"):
            values = getattr(self, name)
            if not values:
                raise ConfigError(f"params: '{name}' is empty; list at least one")
            if len(set(values)) != len(values):
                raise ConfigError(f"params: '{name}' has duplicates: {list(values)}")
        unknown_pins = sorted(set(self.data.sha256) - set(DATASETS))
        if unknown_pins:
            raise ConfigError(f"params: data.sha256 names unknown dataset(s) {unknown_pins}; known: {list(DATASETS)}")
        positive = {
            "data.min_user_inter": self.data.min_user_inter,
            "data.min_item_inter": self.data.min_item_inter,
            "model.hidden": self.model.hidden,
            "model.blocks": self.model.blocks,
            "model.heads": self.model.heads,
            "model.max_len": self.model.max_len,
            "model.steps": self.model.steps,
            "train.epochs": self.train.epochs,
            "train.batch_size": self.train.batch_size,
            "train.eval_every": self.train.eval_every,
            "train.lr_decay_epoch": self.train.lr_decay_epoch,
            "eval.batch_size": self.eval.batch_size,
        }
        for key, value in positive.items():
            if value < 1:
                raise ConfigError(f"params: {key} must be >= 1, got {value}")
        if self.model.hidden % self.model.heads:
            raise ConfigError(
                f"params: model.hidden ({self.model.hidden}) must be divisible by model.heads ({self.model.heads})"
            )
        for key in ("dropout", "emb_dropout"):
            value = getattr(self.model, key)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"params: model.{key} must be in [0, 1), got {value}")
        if not 0.0 < self.model.norm_eps < 1.0:
            raise ConfigError(f"params: model.norm_eps must be in (0, 1), got {self.model.norm_eps}")
        for key in ("eval_offset", "patience"):
            if getattr(self.train, key) < 0:
                raise ConfigError(f"params: train.{key} must be >= 0, got {getattr(self.train, key)}")
        _check_filters(self.data)
        if self.model.lambda_delta < 0:
            raise ConfigError(f"params: model.lambda_delta must be >= 0, got {self.model.lambda_delta}")
        if self.train.lr <= 0:
            raise ConfigError(f"params: train.lr must be > 0, got {self.train.lr}")
        if self.train.weight_decay < 0:
            raise ConfigError(f"params: train.weight_decay must be >= 0, got {self.train.weight_decay}")
        if not 0.0 < self.train.lr_decay_gamma <= 1.0:
            raise ConfigError(f"params: train.lr_decay_gamma must be in (0, 1], got {self.train.lr_decay_gamma}")
        if self.train.valid_users < 0:
            raise ConfigError(f"params: train.valid_users must be >= 0 (0 = all users), got {self.train.valid_users}")
        if not self.eval.ks or min(self.eval.ks) < 1:
            raise ConfigError(f"params: eval.ks must list cut-offs >= 1, got {list(self.eval.ks)}")
        for key in ("train.device", "eval.device"):
            device = getattr(self.train if key.startswith("train") else self.eval, "device")
            if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
                raise ConfigError(f"params: {key} must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
        _check_baselines(self.baselines, self.recbole)
        _check_analysis(self.analysis)
        _check_ablation(self.ablation, self.model.steps)
        _check_verdict(self.verdict)
        _check_tune(self)

    def models(self) -> tuple[str, ...]:
        """Every model of the comparison: our variants, then the baselines."""
        return (*self.variants, *self.baselines)

    def setting_in_params(self, model: str, key: str) -> float | None:
        """The value params give the setting `key` of `model` (None: a baseline's RecBole default)."""
        if model in self.variants:
            section, name = key.split(".")
            return getattr(getattr(self, section), name)
        return getattr(self.recbole.models[model], key)

    def with_setting(self, model: str, setting: dict[str, float]) -> Config:
        """This config with `model`'s settings replaced by `setting` (keys as in tune.spaces),
        validated again."""
        if model in self.variants:
            sections = {section: getattr(self, section) for section in _TUNABLE_SECTIONS}
            for key, value in setting.items():
                section, name = key.split(".")
                sections[section] = dataclasses.replace(sections[section], **{name: _typed(sections[section], name, value)})
            tuned = dataclasses.replace(self, **sections)
        else:
            run = self.recbole.models[model]
            run = dataclasses.replace(run, **{key: _typed(run, key, value) for key, value in setting.items()})
            tuned = dataclasses.replace(self, recbole=dataclasses.replace(self.recbole, models={**self.recbole.models, model: run}))
        tuned.validate()
        return tuned


def _check_filters(data: DataConfig) -> None:
    for dataset in data.filters:
        if dataset not in DATASETS:
            raise ConfigError(f"params: data.filters names unknown dataset {dataset!r}; choose from {list(DATASETS)}")
        for key, value in data.threshold_settings(dataset):
            if value < 1:
                raise ConfigError(f"params: {key} must be >= 1 (1 = no filter), got {value}")


def _check_baselines(baselines: tuple[str, ...], recbole: RecBoleConfig) -> None:
    if not baselines:
        raise ConfigError("params: 'baselines' is empty; list at least one name from recbole.models")
    if len(set(baselines)) != len(baselines):
        raise ConfigError(f"params: 'baselines' has duplicates: {list(baselines)}")
    for name in baselines:
        if name not in recbole.models:
            raise ConfigError(
                f"params: baseline {name!r} in 'baselines' has no entry in recbole.models "
                f"(it has {list(recbole.models)}); add recbole.models.{name} with at least `model:`"
            )
    if recbole.threads < 0:
        raise ConfigError(f"params: recbole.threads must be >= 0 (0 = torch's default), got {recbole.threads}")
    for name, run in recbole.models.items():
        _check_recbole_model(f"recbole.models.{name}", name, run)


def _check_recbole_model(key: str, name: str, run: RecBoleModelConfig) -> None:
    # The name becomes a folder and part of a DVC stage name.
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ConfigError(f"params: {key}: use only letters, digits, '-' and '_' in a baseline name")
    if run.model is None:
        raise ConfigError(f"params: {key}.model is missing; set it to one of {list(RECBOLE_MODEL_SETTINGS)}")
    allowed = RECBOLE_MODEL_SETTINGS[run.model]
    for setting in set(RECBOLE_MODEL_SETTINGS_ALL) - set(allowed):
        if getattr(run, setting) is not None:
            raise ConfigError(
                f"params: {key}.{setting}: RecBole's {run.model} has no such setting; remove it "
                f"({run.model} takes {list(allowed)})"
            )
    for setting in ("epochs", "train_batch_size", "stopping_step", "max_len", *_INT_SETTINGS):
        value = getattr(run, setting)
        if value is not None and value < 1:
            raise ConfigError(f"params: {key}.{setting} must be >= 1, got {value}")
    for setting in ("dropout_prob", "hidden_dropout_prob", "attn_dropout_prob", "mask_ratio"):
        value = getattr(run, setting)
        if value is not None and not 0.0 <= value < 1.0:
            raise ConfigError(f"params: {key}.{setting} must be in [0, 1), got {value}")
    if run.learning_rate is not None and run.learning_rate <= 0:
        raise ConfigError(f"params: {key}.learning_rate must be > 0, got {run.learning_rate}")
    if run.weight_decay is not None and run.weight_decay < 0:
        raise ConfigError(f"params: {key}.weight_decay must be >= 0, got {run.weight_decay}")


def _check_analysis(analysis: AnalysisConfig) -> None:
    if not 0.0 < analysis.head_fraction < 1.0:
        raise ConfigError(f"params: analysis.head_fraction must be in (0, 1), got {analysis.head_fraction}")
    percentiles = list(analysis.length_percentiles)
    if not percentiles or any(not 0.0 < p < 100.0 for p in percentiles) or percentiles != sorted(set(percentiles)):
        raise ConfigError(f"params: analysis.length_percentiles must be increasing values in (0, 100), got {percentiles}")
    if analysis.tsne_users < 2:
        raise ConfigError(f"params: analysis.tsne_users must be >= 2, got {analysis.tsne_users}")
    if not 0.0 < analysis.tsne_perplexity < analysis.tsne_users:
        raise ConfigError(
            f"params: analysis.tsne_perplexity must be in (0, analysis.tsne_users = {analysis.tsne_users}), "
            f"got {analysis.tsne_perplexity}"
        )


def _check_ablation(ablation: AblationConfig, model_steps: int) -> None:
    steps = list(ablation.steps)
    if not steps:
        raise ConfigError("params: ablation.steps is empty; list at least one number of reverse steps, e.g. [1, 32]")
    if len(set(steps)) != len(steps):
        raise ConfigError(f"params: ablation.steps has duplicates: {steps}")
    outside = [k for k in steps if not 1 <= k <= model_steps]
    if outside:
        raise ConfigError(
            f"params: ablation.steps lists {outside[0]}, but a model has model.steps = {model_steps} reverse steps; "
            f"use numbers in 1..{model_steps} (it is {steps})"
        )


def _check_verdict(verdict: VerdictConfig) -> None:
    if not 0.0 < verdict.alpha < 1.0:
        raise ConfigError(f"params: verdict.alpha must be in (0, 1), got {verdict.alpha}")
    # Below a few hundred resamples the 2.5% and 97.5% percentiles rest on a handful of draws.
    if verdict.bootstrap_resamples < 100:
        raise ConfigError(f"params: verdict.bootstrap_resamples must be >= 100, got {verdict.bootstrap_resamples}")
    if verdict.bootstrap_seed < 0:
        raise ConfigError(f"params: verdict.bootstrap_seed must be >= 0, got {verdict.bootstrap_seed}")
    for key in ("cv_threshold", "smallest_effect"):
        if not getattr(verdict, key) > 0.0:
            raise ConfigError(f"params: verdict.{key} must be > 0, got {getattr(verdict, key)}")


def _typed(holder: Any, name: str, value: float) -> Any:
    """`value` as the field `name` of `holder` takes it (an int field gets an int)."""
    hint = typing.get_type_hints(type(holder))[name]
    return int(value) if int in (hint, *typing.get_args(hint)) else float(value)


def _tunable(config: Config, model: str, key: str) -> bool:
    if model in config.variants:
        section, _, name = key.partition(".")
        if section not in _TUNABLE_SECTIONS or key in _UNTUNABLE:
            return False
        holder = getattr(config, section)
    else:
        if key in _UNTUNABLE_RECBOLE:
            return False
        holder = config.recbole.models[model]
        if key in RECBOLE_MODEL_SETTINGS_ALL and key not in RECBOLE_MODEL_SETTINGS[holder.model]:
            return False
        name = key
    if not hasattr(holder, name):
        return False
    hint = typing.get_type_hints(type(holder))[name]
    return bool({int, float} & {hint, *typing.get_args(hint)}) and hint is not bool


def _check_tune(config: Config) -> None:
    tune = config.tune
    if tune.trials < 1:
        raise ConfigError(f"params: tune.trials must be >= 1, got {tune.trials}")
    if not 0 <= tune.random_starts < tune.trials:
        raise ConfigError(f"params: tune.random_starts must be in [0, tune.trials), got {tune.random_starts}")
    if tune.prune_after < 1:
        raise ConfigError(f"params: tune.prune_after must be >= 1 (an epoch), got {tune.prune_after}")
    missing = [model for model in config.models() if model not in tune.spaces]
    # A config without tuning (a checkpoint's, a test's) needs no spaces; tuned, every model needs one.
    if missing and tune.enabled:
        raise ConfigError(f"params: tune.spaces has no search space for {missing}; every model of the "
                          "comparison gets one (the same budget for all)")
    for model, space in tune.spaces.items():
        if model not in config.models():
            continue  # a space kept for a model left out of this run
        if not space:
            raise ConfigError(f"params: tune.spaces.{model} is empty; give it at least one setting to tune")
        for key, search in space.items():
            where = f"tune.spaces.{model}.{key}"
            if not _tunable(config, model, key):
                allowed = ("model.NAME or train.NAME (a number), not " + ", ".join(_UNTUNABLE)
                           if model in config.variants else
                           "one of RecBole's numeric settings of this model, not " + ", ".join(_UNTUNABLE_RECBOLE))
                raise ConfigError(f"params: {where}: not a setting a study can tune; use {allowed}")
            if search.choices:
                if search.low is not None or search.high is not None:
                    raise ConfigError(f"params: {where}: give either choices or low/high, not both")
            elif search.low is None or search.high is None or not search.low < search.high:
                raise ConfigError(f"params: {where}: give choices, or low < high")
            elif search.log and search.low <= 0:
                raise ConfigError(f"params: {where}: a log range needs low > 0, got {search.low}")
            default = config.setting_in_params(model, key)
            if default is not None and not search.contains(default):
                raise ConfigError(f"params: {where}: the default {default} is outside the range; widen it, "
                                  "since the default is each study's first trial")


def _check_members(key: str, values: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    for value in values:
        if value not in allowed:
            raise ConfigError(f"params: unknown {key[:-1]} {value!r} in '{key}'; choose from {list(allowed)}")


def _build(cls: type, raw: Any, prefix: str) -> Any:
    where = prefix.rstrip(".") or "params.yaml"
    if not isinstance(raw, dict):
        raise ConfigError(f"params: '{where}' must be a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"params: unknown key(s) {[prefix + k for k in unknown]}; known: {[prefix + k for k in fields]}")
    hints = typing.get_type_hints(cls)
    values = {name: _coerce(hints[name], value, prefix + name) for name, value in raw.items()}
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, key)
    if origin is Literal:
        if isinstance(value, bool):
            # YAML reads an unquoted on/off/yes/no as a boolean.
            raise ConfigError(f"params: {key} must be one of {list(args)}, got the boolean {value!r}; "
                              f"write one of those words (quoted, if it is on/off/yes/no)")
        if value not in args:
            raise ConfigError(f"params: {key} must be one of {list(args)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"params: {key} must be a list, got {value!r}")
        return tuple(_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"params: {key} must be a mapping, got {value!r}")
        return {str(k): _coerce(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"params: {key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"params: {key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"params: {key} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"params: {key} must be a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"params: {key} must be a string, got {value!r}")
        return value
    raise TypeError(f"config field {key} has an unsupported type {hint!r}")
