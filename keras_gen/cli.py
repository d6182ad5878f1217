"""Command lines: ``python train.py`` and the ``keras-gen`` console script.

Bad input ends with one line on stderr naming the problem and the fix, and exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from keras_gen.errors import UserError, exit_on_user_error


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``prog: error: ...; see --help``), exit 2."""

    def error(self, message):
        print(f"{self.prog}: error: {message}; see {self.prog} --help", file=sys.stderr)
        raise SystemExit(2)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def train_parser(prog: str = "train.py") -> argparse.ArgumentParser:
    p = OneLineParser(prog=prog, description="Train a zoo model, checkpoint it every epoch and export a SavedModel.")
    p.add_argument("--model", help="registry name (see --list-models)")
    p.add_argument("--dataset", help="dataset name (default: the model's report's; see --list-datasets)")
    p.add_argument("--epochs", type=positive_int, help="total epochs (with --resume: the new total)")
    p.add_argument("--batch-size", type=positive_int, help="images per step (default: the report's)")
    p.add_argument("--steps-per-epoch", type=positive_int, help="steps per epoch (default: one pass over the data)")
    p.add_argument("--lr", type=positive_float, dest="learning_rate", help="learning rate (default: the report's)")
    p.add_argument("--latent-dim", type=positive_int, help="latent size (default: the report's)")
    p.add_argument("--image-size", type=positive_int, help="height and width (default: the report's)")
    p.add_argument("--limit", type=positive_int, help="train on the first N images only")
    p.add_argument("--seed", type=int, help="shuffling seed (default 0)")
    p.add_argument("--data-dir", help="directory holding the dataset's files (no fall-back when given)")
    p.add_argument("--subset", help="char74k: fnt (fonts, default), hnd (handwritten) or img (natural images)")
    p.add_argument("--attribute", help="celeba: the attribute used as a 2-class label, e.g. Male (1 -> 1, -1 -> 0)")
    p.add_argument("--run-dir", help="run directory (default runs/<model>_<dataset>_<timestamp>)")
    p.add_argument("--export-dir", help="export root (default saved_models)")
    p.add_argument("--no-export", dest="export", action="store_const", const=False, help="skip the SavedModel export")
    p.add_argument("--resume", action="store_true", help="continue --run-dir (or the newest run of --model)")
    p.add_argument("--strategy", choices=("default", "mirrored", "multiworker"),
                   help="tf.distribute strategy: mirrored = all local GPUs, multiworker = TF_CONFIG")
    jit = p.add_mutually_exclusive_group()
    jit.add_argument("--jit", dest="jit_compile", action="store_const", const=True, help="XLA-compile train steps")
    jit.add_argument("--no-jit", dest="jit_compile", action="store_const", const=False, help="do not XLA-compile")
    p.add_argument("--steps-per-execution", type=positive_int, metavar="N",
                   help="train steps per call of the compiled step (chosen per model; more for small models)")
    p.add_argument("--eval-every", type=positive_int, metavar="N",
                   help="every N epochs, log the FID of --eval-samples samples to history.csv and TensorBoard")
    p.add_argument("--eval-samples", type=positive_int, metavar="N", help="samples per FID evaluation (2000)")
    p.add_argument("--eval-extractor", choices=("domain", "inception"),
                   help="features for --eval-every: the dataset's domain classifier (default) or InceptionV3")
    p.add_argument("--keep-best", choices=("fid",),
                   help="keep the checkpoint with the lowest FID (checkpoints/best.keras) and export it; "
                        "evaluates every epoch unless --eval-every says otherwise")
    p.add_argument("--summary", action="store_true", help="print each sub-network's summary and exit")
    p.add_argument("--list-models", action="store_true", help="list the zoo and exit")
    p.add_argument("--list-datasets", action="store_true", help="list datasets and where they are, and exit")
    return p


def list_models(out=print) -> None:
    import models_zoo

    for name in models_zoo.names():
        e = models_zoo.get(name)
        h, w, c = e.image_shape
        out(f"{name:16s} {e.family:6s} {e.report} {e.section}; default {e.dataset} {h}x{w}x{c}")


def list_datasets(out=print) -> None:
    from keras_gen.data import describe_datasets

    for row in describe_datasets():
        classes = row["classes"] if row["classes"] is not None else (row.get("classes_note") or "-")
        out(f"{row['name']:14s} {row['image_shape']:10s} classes {classes!s:21s} {row['source']}")


def run_train(args: argparse.Namespace, out=print) -> None:
    from keras_gen.config import resolve_config
    from keras_gen.training import find_resume_dir, print_summary, resume_config, train

    if args.list_models:
        return list_models(out)
    if args.list_datasets:
        return list_datasets(out)
    overrides = {k: getattr(args, k) for k in ("dataset", "epochs", "batch_size", "steps_per_epoch", "learning_rate",
                                                "latent_dim", "image_size", "limit", "seed", "data_dir", "subset",
                                                "attribute", "run_dir", "export_dir", "export", "strategy",
                                                "jit_compile", "steps_per_execution", "eval_every", "eval_samples",
                                                "eval_extractor", "keep_best")}
    if args.resume:
        run_dir = find_resume_dir(args.run_dir, args.model, args.dataset)
        config = resume_config(run_dir, {"model": args.model, **overrides})
        train(config, resume_from=run_dir, out=out)
        return
    if not args.model:
        raise UserError("--model is required (see --list-models)")
    config = resolve_config(args.model, **overrides)
    if args.summary:
        from keras_gen.data import get_dataset_spec

        return print_summary(config, num_classes=get_dataset_spec(config.dataset).num_classes, out=out)
    train(config, out=out)


def train_main(argv=None, prog: str = "train.py") -> int:
    args = train_parser(prog).parse_args(argv)
    with exit_on_user_error(prog):
        try:
            run_train(args)
        except KeyboardInterrupt:
            return 130
    return 0


def main(argv=None) -> int:
    """``keras-gen COMMAND ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"train": lambda rest: train_main(rest, prog="keras-gen train")}
    commands["sample"] = lambda rest: __import__("keras_gen.serving").serving.sample_main(rest)
    commands["interpolate"] = lambda rest: __import__("keras_gen.serving").serving.interpolate_main(rest)
    commands["export"] = lambda rest: __import__("keras_gen.export").export.export_main(rest)
    commands["evaluate"] = lambda rest: __import__("keras_gen.evaluation").evaluation.evaluate_main(rest)
    commands["compare"] = lambda rest: __import__("keras_gen.report").report.compare_main(rest)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        known = ", ".join(commands)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"keras-gen: error: unknown command {argv[0]!r}; commands: {known}", file=sys.stderr)
            return 2
        print(f"usage: keras-gen COMMAND [ARGS]  (commands: {known}; keras-gen COMMAND --help)")
        return 0
    return commands[argv[0]](argv[1:])
