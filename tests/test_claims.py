"""The reports' claims: one check (keras_gen.evaluation.claims) behind both the comparison report
and the results pages, so a claim gets the same verdict from the same figures in either."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from keras_gen.evaluation.claims import CLAIMS, REPORT_PAIRS, Side, every_pair, judge, judge_pair
from keras_gen.evaluation.compare import check_claims

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import results_report  # noqa: E402

CLAIM = {c.text: c for c in CLAIMS}
BLURRY = CLAIM["VAE samples are blurrier than GAN samples"]
FIDELITY = CLAIM["GANs produce higher-fidelity images than VAEs"]


def side(name, family, real=None, **values):
    return Side(name, family, values, real or {})


@pytest.mark.parametrize("gan, vae, outcome", [
    ({"precision": 0.9, "density": 1.1}, {"precision": 0.7, "density": 0.8}, "holds"),
    ({"precision": 0.6, "density": 0.5}, {"precision": 0.7, "density": 0.8}, "does not hold"),
    ({"precision": 0.9, "density": 0.5}, {"precision": 0.7, "density": 0.8}, "mixed"),
    ({"precision": 0.7, "density": 0.8}, {"precision": 0.7, "density": 0.8}, "tie"),
    ({"precision": 0.9}, {"precision": 0.7, "density": 0.8}, "holds"),  # a figure one side lacks is skipped
])
def test_a_pair_holds_only_when_every_figure_favours_the_family(gan, vae, outcome):
    found = judge_pair(FIDELITY, side("g", "gan", **gan), side("v", "vae", **vae))
    assert found["outcome"] == outcome


def test_no_shared_figure_is_no_verdict():
    assert judge_pair(FIDELITY, side("g", "gan", fid=3.0), side("v", "vae", fid=4.0)) is None
    assert judge(FIDELITY, []) is None


def test_over_several_pairs_one_disagreeing_pair_makes_it_mixed():
    good = (side("g1", "gan", precision=0.9), side("v1", "vae", precision=0.5))
    bad = (side("g2", "gan", precision=0.4), side("v2", "vae", precision=0.5))
    assert judge(FIDELITY, [good, good])["outcome"] == "holds"
    both = judge(FIDELITY, [good, bad])
    assert both["outcome"] == "mixed" and (both["pairs"], both["pairs_holding"]) == (2, 1)
    assert judge(FIDELITY, [bad])["outcome"] == "does not hold"


def test_sharpness_is_judged_against_each_models_own_real_images():
    # A 32x32 GAN whose raw sharpness is below a 28x28 VAE's, but sharper relative to its real images.
    gan = side("dcgan_32", "gan", {"sharpness": 0.10}, sharpness=0.08)
    vae = side("vae_mlp", "vae", {"sharpness": 0.20}, sharpness=0.09)
    found = judge_pair(BLURRY, gan, vae)
    assert found["outcome"] == "holds" and "80% of real" in found["evidence"][0]
    raw = judge_pair(BLURRY, side("a", "gan", sharpness=0.08), side("b", "vae", sharpness=0.09))
    assert raw["outcome"] == "does not hold"  # without the real figures: raw values, both sides alike


def test_every_pair_is_each_gan_against_each_vae():
    sides = [side("g", "gan"), side("w", "wgan"), side("v", "vae")]
    assert [(g.name, v.name) for g, v in every_pair(sides)] == [("g", "v"), ("w", "v")]
    assert every_pair([side("v", "vae")]) == []


def _result(name, family, figures, floors):
    """A metrics.json result as keras-gen compare reads it."""
    return {"subject": {"name": name, "family": family},
            "metrics": {k: {"value": v, "floor": floors.get(k)} for k, v in figures.items()}}


def _row(model, family, figures, floors, minutes=3.0, fid_curve=()):
    """A results.py row as the results pages read it."""
    return {"job": model, "model": model, "group": "zoo", "family": family, "figures": figures, "floors": floors,
            "images_per_sec": figures["images_per_sec"], "minutes": minutes,
            "curve": [{"minutes": m, "fid": f} for m, f in fid_curve]}


def test_the_comparison_report_and_the_results_pages_agree():
    floors = {"sharpness": 0.15}
    gan_figures = {"sharpness": 0.12, "precision": 0.81, "density": 0.7, "recall": 0.2, "coverage": 0.5,
                   "fid": 30.0, "kid": 0.02, "images_per_sec": 70.0}
    vae_figures = {"sharpness": 0.02, "precision": 0.95, "density": 1.4, "recall": 0.4, "coverage": 0.6,
                   "fid": 40.0, "kid": 0.03, "images_per_sec": 290.0}
    gan, vae = REPORT_PAIRS["Ali (001)"]
    compared = {c["claim"]: c["outcome"] for c in check_claims(
        [_result(gan, "gan", gan_figures, floors), _result(vae, "vae", vae_figures, floors)])}
    pages = {c["claim"]: c["verdict"] for c in results_report.claims(
        [_row(gan, "gan", gan_figures, floors), _row(vae, "vae", vae_figures, floors)])}
    assert compared["VAE samples are blurrier than GAN samples"] == "holds"
    assert compared["GANs produce higher-fidelity images than VAEs"] == "does not hold"
    assert compared["GAN samples vary less than VAE samples"] == "holds"
    for text in ("VAE samples are blurrier than GAN samples", "GANs produce higher-fidelity images than VAEs",
                 "GAN samples vary less than VAE samples"):
        assert pages[text].startswith(f"**{compared[text]}**"), (text, pages[text], compared[text])
    # Ali's pair is not the pair of Junnuthula's or Dietrich's claims: the pages leave them out,
    # while compare (any GAN against any VAE) judges them.
    assert "The VAE outperforms the GAN on MNIST" not in pages
    assert compared["The VAE outperforms the GAN on MNIST"] == "does not hold"
    assert compared["VAEs train faster than GANs"] == "holds"  # images/s only: compare has no FID curve


def test_the_pages_judge_training_speed_on_fid_after_equal_time_too():
    floors = {"sharpness": 0.15}
    base = {"sharpness": 0.1, "precision": 0.5, "density": 0.5, "recall": 0.5, "coverage": 0.5, "fid": 1.0,
            "kid": 0.1}
    gan, vae = REPORT_PAIRS["Dietrich (003)"]
    rows = [_row(gan, "gan", {**base, "images_per_sec": 70.0}, floors, minutes=3.1,
                 fid_curve=[(1.0, 380.0), (3.1, 159.0)]),
            _row(vae, "vae", {**base, "images_per_sec": 290.0}, floors, minutes=3.5,
                 fid_curve=[(1.0, 390.0), (3.0, 286.0), (3.5, 200.0)])]
    found = next(c for c in results_report.claims(rows) if c["claim"] == "VAEs train faster than GANs")
    # At the shorter run's 3.1 minutes the GAN's FID (159) beats the VAE's (286): images/s alone would say "holds".
    assert "dcgan_upsample 159 vs vae_deconv 286" in found["measured"]
    assert found["verdict"] == "mixed: the pair's figures disagree"
