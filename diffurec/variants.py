"""The three models the paper compares, and our control: each key, how our reports and the paper
name it, and which of the paper's changes it carries. The one list of them: params validation,
the model, the stages and the reports all read it.

The control is not in the paper. It is DiffuRec's approximator, embeddings, training samples,
loss and recipe with the diffusion taken out (no x_t, no lambda, no reverse process): one pass
over the history, scores = output . item embeddings. What DiffuRec gains over it is what the
diffusion adds.
"""

from __future__ import annotations

from dataclasses import dataclass

from diffurec.errors import ConfigError


@dataclass(frozen=True)
class Variant:
    key: str
    # As our reports name it.
    name: str
    # As the paper prints it in Tables 2-4; None: not in the paper.
    paper_label: str | None
    # Conditioning by cross-attention (eq. 16) instead of addition (eq. 15).
    cross_attention: bool
    # Offset noise (eq. 17) in the training forward process.
    offset_noise: bool
    # Trained and evaluated as a diffusion model (Algorithms 1-2); False: the control.
    diffusion: bool = True


CATALOGUE = (
    Variant("baseline", "DiffuRec (baseline)", "DiffuRec", cross_attention=False, offset_noise=False),
    Variant("v1", "V1 (+cross-attention)", "Modified V1", cross_attention=True, offset_noise=False),
    Variant("v2", "V2 (+cross-attention +offset noise)", "Modified V2", cross_attention=True, offset_noise=True),
    Variant("control", "Transformer, no diffusion", None, cross_attention=False, offset_noise=False, diffusion=False),
)
VARIANTS = tuple(variant.key for variant in CATALOGUE)
# DiffuRec, which every t-test compares the modified versions with.
BASELINE = CATALOGUE[0].key
# The model without diffusion, which Table 4 also tests every variant against.
CONTROL = CATALOGUE[3].key
# The paper's three models, in its order.
PAPER_VARIANTS = tuple(variant.key for variant in CATALOGUE if variant.paper_label is not None)
VARIANT_NAMES = {variant.key: variant.name for variant in CATALOGUE}
PAPER_LABELS = {variant.key: variant.paper_label for variant in CATALOGUE if variant.paper_label is not None}


def find_variant(key: str) -> Variant:
    """The variant of a key given on the command line or in params; unknown keys are refused."""
    for variant in CATALOGUE:
        if variant.key == key:
            return variant
    raise ConfigError(f"unknown variant {key!r}; choose from {list(VARIANTS)}")
