"""The study reports' qualitative claims about GANs against VAEs, and the one way they are checked.

``keras-gen compare`` checks each claim over every GAN/VAE pair among the models it compares;
``benchmarks/results_report.py`` checks it over the reports' own pairs (:data:`REPORT_PAIRS`).
Both build :class:`Side` figures and call :func:`judge`, so a claim means the same on a
comparison report and on the results pages. No TensorFlow: it compares numbers.

A claim names the figures that must all favour one family. A pair *holds* when every figure it
has favours that family, *does not hold* when every one goes the other way, is *mixed* otherwise
and a *tie* when all are equal; the claim holds over a set of pairs when every pair holds.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

from keras_gen.evaluation.settings import METRIC

# The reports' own GAN/VAE pairs, as each report trained them (models_zoo cites each builder's section).
REPORT_PAIRS = {"Ali (001)": ("dcgan_32", "vae_mlp_2d"), "Ponnuru (000)": ("mlp_gan", "vae_mlp"),
                "Junnuthula (002)": ("dcgan", "vae_conv"), "Dietrich (003)": ("dcgan_upsample", "vae_deconv")}

# Figures that are not evaluation metrics but that a caller may measure for a claim.
EXTRA_FIGURES = {"fid_at_equal_time": ("FID after equal training time", "lower", ".3g")}


@dataclasses.dataclass(frozen=True)
class Claim:
    """A qualitative finding of the reports, as a comparison of figures between families."""

    text: str
    sources: str
    metrics: tuple[str, ...]  # figures that must all favour ``favours`` (those a pair lacks are skipped)
    favours: str  # "gan" or "vae"
    reports: tuple[str, ...]  # the REPORT_PAIRS the claim is made about
    direction: Mapping[str, str] = dataclasses.field(default_factory=dict)  # metric -> "higher"/"lower", if not METRIC
    relative: frozenset = frozenset()  # figures judged as a share of the real test set's (resolutions differ)


ALL_REPORTS = tuple(REPORT_PAIRS)
CLAIMS: tuple[Claim, ...] = (
    Claim("VAE samples are blurrier than GAN samples", "Ali §5; Ponnuru §6; Dietrich abstract, §V.A",
          ("sharpness",), "gan", ALL_REPORTS, {"sharpness": "higher"}, frozenset({"sharpness"})),
    Claim("GANs produce higher-fidelity images than VAEs", "Ali §5; Ponnuru §6",
          ("precision", "density"), "gan", ("Ali (001)", "Ponnuru (000)")),
    Claim("GAN samples vary less than VAE samples", "Ali §5 (\"the variety is a bit limited\")",
          ("recall", "coverage"), "vae", ("Ali (001)", "Ponnuru (000)")),
    Claim("The VAE outperforms the GAN on MNIST", "Junnuthula abstract", ("fid", "kid"), "vae", ("Junnuthula (002)",)),
    # Images/s, not seconds per epoch: a VAE's epoch also scores the test set, a GAN's does not. Where
    # the training curves are known (the results pages), FID after equal training time too.
    Claim("VAEs train faster than GANs", "Dietrich abstract", ("fid_at_equal_time", "images_per_sec"), "vae",
          ("Dietrich (003)",)),
)


@dataclasses.dataclass(frozen=True)
class Side:
    """One model's figures, and the real test set's at the model's resolution (for relative figures)."""

    name: str
    family: str  # "vae" or a GAN family
    values: Mapping[str, float | None]
    real: Mapping[str, float | None] = dataclasses.field(default_factory=dict)

    @property
    def is_vae(self) -> bool:
        return self.family == "vae"


def label(key: str) -> str:
    return METRIC[key].label if key in METRIC else EXTRA_FIGURES[key][0]


def _better(claim: Claim, key: str) -> str:
    return claim.direction.get(key) or (METRIC[key].better if key in METRIC else EXTRA_FIGURES[key][1])


def _fmt(key: str, value: float) -> str:
    return format(value, METRIC[key].fmt if key in METRIC else EXTRA_FIGURES[key][2])


def _figure(side: Side, key: str, relative: bool) -> tuple[float | None, str]:
    value = side.values.get(key)
    if value is None:
        return None, ""
    real = side.real.get(key) if relative else None
    if real:
        return value / real, f"{_fmt(key, value)} ({value / real:.0%} of real)"
    return value, _fmt(key, value)


def judge_pair(claim: Claim, gan: Side, vae: Side) -> dict | None:
    """``{"outcome", "evidence"}`` for one GAN/VAE pair, or None when it has none of the figures."""
    favoured, other = (gan, vae) if claim.favours == "gan" else (vae, gan)
    # Relative figures only when both sides know the real test set's (else both raw: comparable).
    outcomes, evidence = [], []
    for key in claim.metrics:
        relative = key in claim.relative and all(s.real.get(key) for s in (gan, vae))
        (a, a_text), (b, b_text) = _figure(favoured, key, relative), _figure(other, key, relative)
        if a is None or b is None:
            continue
        outcomes.append(None if a == b else (a < b if _better(claim, key) == "lower" else a > b))
        g_text, v_text = (a_text, b_text) if favoured is gan else (b_text, a_text)
        evidence.append(f"{label(key)}: {gan.name} {g_text} vs {vae.name} {v_text}")
    if not outcomes:
        return None
    return {"outcome": _outcome(outcomes), "evidence": evidence}


def _outcome(outcomes: list) -> str:
    decided = [o for o in outcomes if o is not None]
    if not decided:
        return "tie"
    if len(decided) < len(outcomes):
        return "mixed"
    return "holds" if all(decided) else "does not hold" if not any(decided) else "mixed"


def judge(claim: Claim, pairs: list[tuple[Side, Side]]) -> dict | None:
    """The claim over ``pairs`` of (GAN, VAE): ``{"claim", "sources", "outcome", "pairs",
    "pairs_holding", "evidence", "per_pair"}`` (``per_pair``: :func:`judge_pair`'s answer for each
    pair, in order, None where a pair has none of the figures); None when no pair has any."""
    per_pair = [judge_pair(claim, g, v) for g, v in pairs]
    judged = [j for j in per_pair if j is not None]
    if not judged:
        return None
    outcomes = [{"holds": True, "does not hold": False}.get(j["outcome"]) for j in judged]
    if any(j["outcome"] == "mixed" for j in judged):
        outcome = "mixed"
    else:
        outcome = _outcome(outcomes)
    return {"claim": claim.text, "sources": claim.sources, "outcome": outcome, "pairs": len(judged),
            "pairs_holding": sum(j["outcome"] == "holds" for j in judged),
            "evidence": [e for j in judged for e in j["evidence"]], "per_pair": per_pair}


def every_pair(sides: list[Side]) -> list[tuple[Side, Side]]:
    """Every GAN against every VAE (``keras-gen compare``)."""
    return [(g, v) for g in sides if not g.is_vae for v in sides if v.is_vae]
