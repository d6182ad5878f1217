"""``keras-gen export SOURCE``: export a run from one of its checkpoints, or a ``.keras`` file of a
model trained in Python (SavedModel, TFLite, ONNX)."""

from __future__ import annotations

from keras_gen.cli.args import OneLineParser, add_publish_arguments, running
from keras_gen.export import FORMATS


def main(argv=None, prog: str = "keras-gen export") -> int:
    p = OneLineParser(prog=prog, description="Export a training run from one of its checkpoints, or a .keras file "
                                             "of a keras_gen model (saved by model.save).")
    p.add_argument("source", metavar="SOURCE", help="a run directory written by train.py, or a .keras file")
    p.add_argument("--checkpoint", help="run directories: latest (default), best (--keep-best) or an epoch number")
    p.add_argument("--format", dest="fmt", choices=FORMATS, default="saved_model",
                   help="saved_model (TF Serving, default), tflite or onnx")
    p.add_argument("--export-dir", help="export root (default: the run's, usually saved_models; saved_models for a "
                                        ".keras file); TFLite and ONNX go to <root>/tflite/ and <root>/onnx/")
    p.add_argument("--name", help=".keras files: the model's name in <name>_<dataset> (default: the file's name)")
    p.add_argument("--dataset", help=".keras files: the dataset the model learned (a run's checkpoint knows it)")
    add_publish_arguments(p)
    args = p.parse_args(argv)
    publish = args.publish or "auto"
    if args.source.endswith(".keras"):
        if args.checkpoint:
            p.error(f"--checkpoint picks one of a run's checkpoints; {args.source} is one already: drop --checkpoint")
    elif args.name or args.dataset:
        p.error("--name and --dataset are for .keras files; a run directory knows its model and dataset")
    with running(prog):
        from keras_gen.export.from_run import export_keras_file, export_run

        if args.source.endswith(".keras"):
            export_keras_file(args.source, name=args.name, dataset=args.dataset, fmt=args.fmt,
                              export_dir=args.export_dir, publish=publish)
        else:
            export_run(args.source, fmt=args.fmt, export_dir=args.export_dir, checkpoint=args.checkpoint or "latest",
                       publish=publish)
    return 0
