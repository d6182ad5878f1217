"""``keras-gen fid A B``: the standard FID (and KID, precision/recall, density/coverage) of two
image sets, as ``python -m pytorch_fid A B`` computes it, offline and without PyTorch."""

from __future__ import annotations

import sys

from keras_gen.cli.args import OneLineParser, positive_int, running

CONVENTIONS = ("pytorch-fid", "tensorflow-1")  # keras_gen.evaluation.fid_inception.CONVENTIONS, without TensorFlow


def main(argv=None, prog: str = "keras-gen fid") -> int:
    p = OneLineParser(
        prog=prog,
        description="FID between two sets of images on the standard 2015 Inception network (pool3, 2048-d). "
                    "A and B: an image folder (PNG/JPEG, recursive), a .npy/.npz array of images, a statistics "
                    ".npz (mu, sigma: pytorch-fid's and TTUR's layout), a run or export directory (samples "
                    "--num-images images), or a dataset with its split (mnist:test, fashion_mnist:train).",
        epilog="examples: keras-gen fid mnist:test mnist:train --kid | keras-gen fid mnist:test "
               "saved_models/vae_mlp_2d_mnist | keras-gen fid samples/ --save-stats samples.npz | "
               "keras-gen fid --stats mnist:test")
    p.add_argument("inputs", nargs="*", metavar="A B", help="the two sides (one with --save-stats)")
    p.add_argument("--stats", metavar="DATASET:SPLIT",
                   help="compute (once) and cache a dataset split's statistics, and print where they are")
    p.add_argument("--save-stats", metavar="OUT.npz",
                   help="write the one input's mu and sigma in pytorch-fid's .npz layout instead of comparing")
    p.add_argument("--num-images", "--fid-images", "-n", type=positive_int, metavar="N",
                   help="images per side: a random N of a dataset, folder or array (seeded; default all); "
                        "samples of a model (default 10,000)")
    p.add_argument("--kid", action="store_true", help="also KID, unbiased at any image count, with its spread")
    p.add_argument("--prdc", action="store_true",
                   help="also precision/recall (k = --pr-k) and density/coverage (k = --dc-k) of B against A")
    p.add_argument("--convention", choices=CONVENTIONS, default="pytorch-fid",
                   help="how images are resized to 299x299 and scaled: pytorch-fid (default; also "
                        "torch-fidelity) or tensorflow-1 (TTUR's fid.py, clean-fid's legacy_tensorflow)")
    p.add_argument("--seed", type=int, default=0, help="seed of subsets and samples (default 0)")
    p.add_argument("--kid-subsets", type=positive_int, default=100, help="KID subsets (default 100)")
    p.add_argument("--kid-subset-size", type=positive_int,
                   help="KID subset size (default 1,000, or half the smaller side below 2,000)")
    p.add_argument("--pr-k", type=positive_int, default=3, help="k of precision/recall (default 3)")
    p.add_argument("--dc-k", type=positive_int, default=5, help="k of density/coverage (default 5)")
    p.add_argument("--image-size", type=positive_int, metavar="N",
                   help="the size a DATASET:SPLIT side is fitted to, as training fits it (default: its own; "
                        "against a model of another size, the model's, or the model's samples cropped back "
                        "when it was trained on the dataset padded; needed for celeba)")
    p.add_argument("--data-dir", help="the dataset's files, for a DATASET:SPLIT side")
    p.add_argument("--batch-size", type=positive_int, default=50, help="images per network call (default 50)")
    p.add_argument("--weights", metavar="FILE",
                   help="the network's weights (a .weights.h5, or a PyTorch file; see keras-gen fid-weights)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars: one final line per phase")
    args = p.parse_args(argv)
    expected = 0 if args.stats else 1 if args.save_stats else 2
    if args.stats and (args.inputs or args.save_stats):
        p.error("--stats takes the dataset itself: pass no inputs and no --save-stats with it")
    if len(args.inputs) != expected:
        what = {1: "one input with --save-stats", 2: "two inputs, A and B"}.get(expected, "no inputs")
        p.error(f"expected {what}, got {len(args.inputs)}")

    with running(prog):
        from keras_gen.evaluation import fid
        from keras_gen.evaluation.extractors import fid_inception_evaluator
        from keras_gen.evaluation.fid_inception import FEATURE_DIM
        from keras_gen.utils.errors import UserError
        from keras_gen.utils.progress import set_quiet

        set_quiet(args.quiet)
        for spec in args.inputs:  # what can be checked without the network fails before it loads
            fid.check_input(spec, feature_dim=FEATURE_DIM, data_dir=args.data_dir)
            if args.kid or args.prdc:
                fid.check_has_features(spec, "--kid" if args.kid else "--prdc")
        evaluator = fid_inception_evaluator(weights=args.weights, convention=args.convention,
                                            batch_size=args.batch_size, log=stderr)
        sizes = {"image_size": args.image_size} if args.image_size else fid.matching_sizes(args.inputs)
        side = dict(num_images=args.num_images, seed=args.seed, data_dir=args.data_dir, **sizes)
        if args.stats:
            parsed = fid.parse_dataset(args.stats)
            if parsed is None:
                raise UserError(f"--stats takes a dataset with its split (mnist:test), got {args.stats!r}")
            reference = fid.reference_statistics(evaluator, *parsed, **side)
            print(f"{reference.label}: {reference.count:,} images, {evaluator.name.split('/')[0]}, "
                  f"{args.convention} convention")
            print(f"statistics: {reference.stats_path}")
            return 0
        if args.save_stats:
            one = fid.feature_set(args.inputs[0], evaluator, **side)
            mu, sigma = one.statistics()
            out = fid.write_statistics(args.save_stats, mu, sigma, num_images=one.count,
                                       network=evaluator.name.split("/")[0], convention=args.convention)
            print(f"wrote {out}: mu [{mu.shape[0]}] and sigma [{mu.shape[0]}, {mu.shape[0]}] of {one.count:,} "
                  f"images ({args.convention} convention)")
            return 0
        options = fid.FidOptions(kid=args.kid, prdc=args.prdc, kid_subsets=args.kid_subsets,
                                 kid_subset_size=args.kid_subset_size, pr_k=args.pr_k, dc_k=args.dc_k, seed=args.seed)
        a = fid.feature_set(args.inputs[0], evaluator, **side)
        b = fid.feature_set(args.inputs[1], evaluator, **side)
        result = fid.compare(a, b, evaluator, options)
        print(fid.result_json(result) if args.json else fid.format_result(result))
    return 0


def stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
