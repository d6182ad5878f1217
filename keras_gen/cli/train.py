"""``python train.py`` and ``keras-gen train``: train a zoo model, checkpoint every epoch, export."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from keras_gen.cli.args import (
    OneLineParser,
    add_publish_arguments,
    model_option,
    positive_float,
    positive_int,
    running,
)
from keras_gen.config import EVAL_EXTRACTORS, KEEP_BEST, LR_SCHEDULES, STRATEGIES
from keras_gen.utils.errors import UserError
from keras_gen.utils.mixture import COVARIANCES


def train_parser(prog: str = "train.py") -> argparse.ArgumentParser:
    p = OneLineParser(prog=prog, description="Train a zoo model, checkpoint it every epoch and export a SavedModel.")
    p.add_argument("--model", help="registry name (see --list-models)")
    p.add_argument("--config", metavar="FILE", dest="recipe",
                   help="start from a recipe: a finished run's config.json or a JSON object with some of its "
                        "fields (configs/ holds measured ones); the flags given override it")
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
    p.add_argument("--download", action="store_const", const=True,
                   help="fetch a dataset missing here through TensorFlow Datasets (says the size first)")
    p.add_argument("--subset", help="char74k: fnt (fonts, default), hnd (handwritten) or img (natural images)")
    p.add_argument("--attribute", help="celeba: the attribute used as a 2-class label, e.g. Male (1 -> 1, -1 -> 0)")
    p.add_argument("--run-dir", help="run directory (default runs/<model>_<dataset>_<timestamp>)")
    p.add_argument("--export-dir", help="export root (default saved_models)")
    export = p.add_mutually_exclusive_group()
    export.add_argument("--no-export", dest="export", action="store_const", const=False,
                        help="skip the SavedModel export")
    export.add_argument("--export", dest="export", action="store_const", const=True,
                        help="export at the end (the default; with --resume, turns a --no-export run's export on)")
    add_publish_arguments(p)
    p.add_argument("--resume", action="store_true", help="continue --run-dir (or the newest run of --model)")
    p.add_argument("--strategy", choices=STRATEGIES,
                   help="tf.distribute strategy: mirrored = all local GPUs, multiworker = TF_CONFIG")
    p.add_argument("--ema", type=positive_float, metavar="DECAY",
                   help="GANs: sample, evaluate and export a moving average of the generator's weights "
                        "(e.g. 0.999; off by default, as in the reports)")
    p.add_argument("--diffaugment", type=policy_list, metavar="POLICIES",
                   help="GANs: augment real and fake images wherever the discriminator sees them (Zhao et al. "
                        "2020), a comma-separated list of translation, cutout, color (colour images); for small "
                        "data, e.g. --limit 1000")
    p.add_argument("--latent-sampler", type=positive_int, metavar="N",
                   help="VAEs: after training, fit an N-component Gaussian mixture to the encoder's codes of the "
                        "training images (Ghosh et al. 2020) and export the model sampling from it, as keras-gen "
                        "fit-sampler does (off by default: the N(0, I) prior, as in the reports)")
    p.add_argument("--sampler-covariance", choices=COVARIANCES,
                   help="the --latent-sampler mixture's covariances: full (the default, as Ghosh et al.) or diag")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                   help="cosine: decay every optimizer's learning rate from --lr to 0 over the run's --epochs "
                        "(Loshchilov & Hutter 2017; off by default: --lr throughout, as in the reports)")
    p.add_argument("--mixed-precision", action="store_const", const=True,
                   help="16-bit compute with float32 weights and losses: float16 on GPUs, bfloat16 on CPUs with "
                        "AVX512-BF16 or AMX (elsewhere float16, slower than float32: a note says so)")
    jit = p.add_mutually_exclusive_group()
    jit.add_argument("--jit", dest="jit_compile", action="store_const", const=True, help="XLA-compile train steps")
    jit.add_argument("--no-jit", dest="jit_compile", action="store_const", const=False, help="do not XLA-compile")
    p.add_argument("--steps-per-execution", type=positive_int, metavar="N",
                   help="train steps per call of the compiled step (chosen per model; more for small models)")
    p.add_argument("--eval-every", type=positive_int, metavar="N",
                   help="every N epochs, log the FID of --eval-samples samples to history.csv and TensorBoard")
    p.add_argument("--eval-samples", type=positive_int, metavar="N", help="samples per FID evaluation (2000)")
    p.add_argument("--eval-extractor", choices=EVAL_EXTRACTORS,
                   help="features for --eval-every: the dataset's domain classifier (default) or InceptionV3")
    p.add_argument("--keep-best", choices=KEEP_BEST,
                   help="keep the checkpoint with the lowest FID (checkpoints/best.keras) and export it; "
                        "evaluates every epoch unless --eval-every says otherwise")
    p.add_argument("--time-limit", type=positive_float, metavar="MINUTES",
                   help="stop after the epoch in which training time reaches MINUTES (with --resume: the new total)")
    p.add_argument("--option", type=model_option, action="append", metavar="KEY=VALUE",
                   help="a keyword argument of the model's builder, e.g. d_steps=5 for mlp_gan "
                        "(docs/ZOO.md lists each model's options); repeatable")
    p.add_argument("--summary", action="store_true", help="print each sub-network's summary and exit")
    p.add_argument("--list-models", action="store_true", help="list the zoo and exit")
    p.add_argument("--list-datasets", action="store_true", help="list datasets and where they are, and exit")
    return p


def policy_list(text: str) -> list[str]:
    """``translation,cutout`` -> ``["translation", "cutout"]`` (checked by the config)."""
    return [p.strip() for p in text.split(",") if p.strip()]


def list_models(out=print) -> None:
    import models_zoo

    for name in models_zoo.names():
        e = models_zoo.get(name)
        h, w, c = e.image_shape
        out(f"{name:16s} {e.family:6s} {e.report} {e.section}; default {e.dataset} {h}x{w}x{c}")


def list_datasets(out=print) -> None:
    from keras_gen.datasets import describe_datasets

    for row in describe_datasets():
        classes = row["classes"] if row["classes"] is not None else (row.get("classes_note") or "-")
        out(f"{row['name']:14s} {row['image_shape']:10s} classes {classes!s:21s} {row['source']}")


def run_train(args: argparse.Namespace, out=print) -> None:
    if args.list_models:
        return list_models(out)
    if args.list_datasets:
        return list_datasets(out)  # before the imports below: the list needs no TensorFlow
    from keras_gen.config import FIELDS, resolve_config
    from keras_gen.training.build import print_summary
    from keras_gen.training.resume import find_resume_dir, resume_config
    from keras_gen.training.run import train

    # Every flag named like a RunConfig field overrides it (None: not given); --image-size sets
    # the height and width of the config's image_shape.
    overrides = {k: v for k, v in vars(args).items() if (k in FIELDS and k != "model") or k == "image_size"}
    if args.option:
        overrides["model_options"] = dict(args.option)
    if args.recipe:
        if args.resume:
            raise UserError("--config starts a new run and --resume continues one (with its own config.json); "
                            "drop one of them")
        args.model, overrides = with_recipe(args.recipe, args.model, overrides)
    if args.resume:
        run_dir = find_resume_dir(args.run_dir, args.model, args.dataset)
        config = resume_config(run_dir, {"model": args.model, **overrides})
        train(config, resume_from=run_dir, out=out)
        return
    if not args.model:
        raise UserError("--model is required (see --list-models)")
    config = resolve_config(args.model, **overrides)
    if args.summary:
        return print_summary(config, out=out)
    train(config, out=out)


def with_recipe(path: str, model: str | None, overrides: dict) -> tuple[str | None, dict]:
    """``(model, overrides)`` with a recipe file's fields under the flags given: a flag wins over
    the recipe, ``--option`` adds to its model options, and ``--dataset``/``--image-size`` drop its
    image shape (the channel count and size then come from the dataset and the flag)."""
    from keras_gen.config import read_recipe

    recipe = read_recipe(path)
    given = {k: v for k, v in overrides.items() if v is not None}
    if "dataset" in given or "image_size" in given:
        recipe.pop("image_shape", None)
    if "model_options" in given:
        given["model_options"] = {**(recipe.get("model_options") or {}), **given["model_options"]}
    recipe_model = recipe.pop("model", None)
    if model and recipe_model and model != recipe_model:
        recipe.pop("image_shape", None)  # another model's size is no default for this one
    return model or recipe_model, {**recipe, **given}


def command_prefix(prog: str) -> str:
    """How to run this command again from the current directory, with this environment's Python
    (after ``make demo`` the user's shell may not have the virtual environment on its PATH)."""
    python = Path(sys.executable)
    try:
        python = python.relative_to(Path.cwd())  # .venv/bin/python
    except ValueError:
        python = Path("python") if shutil.which("python") == str(python) else python
    if prog.startswith("keras-gen"):
        script = shutil.which("keras-gen") and "keras-gen"
        return f"{script or python.parent / 'keras-gen'} train"
    return f"{python} {sys.argv[0] if sys.argv[0].endswith('.py') else 'train.py'}"


def interrupted_hint(run_dir: Path, prog: str) -> str:
    from keras_gen.rundir.checkpoints import latest_checkpoint

    latest = latest_checkpoint(Path(run_dir) / "checkpoints")
    kept = f"the last complete checkpoint is epoch {latest['epoch']}" if latest else \
        "no epoch completed, so it starts again from epoch 1"
    return f"interrupted: {kept}; continue with: {command_prefix(prog)} --resume --run-dir {run_dir}"


def main(argv=None, prog: str = "train.py") -> int:
    args = train_parser(prog).parse_args(argv)
    with running(prog):
        try:
            run_train(args)
        except KeyboardInterrupt as interrupt:
            if getattr(interrupt, "run_dir", None) is not None:
                print(f"\n{interrupted_hint(interrupt.run_dir, prog)}", flush=True)
            return 130
    return 0
