"""``keras-gen export RUN_DIR``: re-export a run from one of its checkpoints (SavedModel, TFLite, ONNX)."""

from __future__ import annotations

from keras_gen.cli.args import OneLineParser, running
from keras_gen.export import FORMATS


def main(argv=None, prog: str = "keras-gen export") -> int:
    p = OneLineParser(prog=prog, description="Re-export a training run from one of its checkpoints.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by train.py")
    p.add_argument("--checkpoint", default="latest", help="latest (default), best (--keep-best) or an epoch number")
    p.add_argument("--format", dest="fmt", choices=FORMATS, default="saved_model",
                   help="saved_model (TF Serving, default), tflite or onnx")
    p.add_argument("--export-dir", help="export root (default: the run's, usually saved_models); TFLite and "
                                        "ONNX go to <root>/tflite/ and <root>/onnx/")
    args = p.parse_args(argv)
    with running(prog):
        from keras_gen.export.from_run import export_run

        export_run(args.run_dir, fmt=args.fmt, export_dir=args.export_dir, checkpoint=args.checkpoint)
    return 0
