"""``keras-gen sample`` and ``keras-gen interpolate``: images from an export, no model code."""

from __future__ import annotations

from keras_gen.cli.args import OneLineParser, positive_int, running
from keras_gen.serving import IMAGE_FORMATS, INT32_MAX, INT32_MIN
from keras_gen.utils.errors import UserError


def _parser(prog: str, description: str):

    p = OneLineParser(prog=prog, description=description)
    p.add_argument("path", metavar="PATH", help="an export: saved_models/<model>_<dataset>[/<version>] "
                                                "(a model directory means its newest version)")
    p.add_argument("--label", type=int, help="class label for conditional models")
    p.add_argument("--out", required=True, help="output file (.png grid, or .npy array)")
    p.add_argument("--format", dest="fmt", choices=IMAGE_FORMATS,
                   help="png or npy (default: npy for a .npy --out, png otherwise)")
    return p


def main(argv=None, prog: str = "keras-gen sample") -> int:

    p = _parser(prog, "Draw images from an export's sample signature (seeds S..S+n-1) into a grid.")
    p.add_argument("--n", type=positive_int, default=64, help="number of images (64)")
    p.add_argument("--seed", type=int, default=0, help="first seed (0); image i uses seed S+i")
    p.add_argument("--truncation", type=float, metavar="PSI",
                   help="GANs: scale each latent by PSI in [0, 1] towards the prior's mean (the truncation "
                        "trick: fewer odd images, less variety); 1 draws what sample does")
    args = p.parse_args(argv)
    with running(prog):
        import numpy as np

        from keras_gen.serving.runtime import load_export, write_images

        if args.seed < INT32_MIN or args.seed + args.n - 1 > INT32_MAX:
            raise UserError(f"seeds {args.seed}..{args.seed + args.n - 1} do not fit in int32; pick a smaller --seed")
        export = load_export(args.path)
        seeds = np.arange(args.seed, args.seed + args.n, dtype=np.int64)
        images = export.sample(seeds, None if args.label is None else [args.label], truncation=args.truncation)
        print(write_images(args.out, images, fmt=args.fmt))
    return 0


def interpolate(argv=None, prog: str = "keras-gen interpolate") -> int:

    p = _parser(prog, "Images along the latent path between two seeds (linear, or --spherical), in one row.")
    p.add_argument("--from-seed", type=int, required=True, help="seed at the start")
    p.add_argument("--to-seed", type=int, required=True, help="seed at the end")
    p.add_argument("--steps", type=int, default=10, help="images on the path, ends included (10; at least 2)")
    p.add_argument("--spherical", action="store_true", help="spherical interpolation (slerp) instead of linear")
    args = p.parse_args(argv)
    with running(prog):
        from keras_gen.serving.runtime import load_export, write_images

        export = load_export(args.path)
        images = export.interpolate(args.from_seed, args.to_seed, steps=args.steps, label=args.label,
                                    spherical=args.spherical)
        print(write_images(args.out, images, fmt=args.fmt, rows=1))
    return 0
