"""``keras-gen publish EXPORT [--version N]``: serve a version of an exported model (a rollback too)."""

from __future__ import annotations

from keras_gen.cli.args import OneLineParser, positive_int, running


def main(argv=None, prog: str = "keras-gen publish") -> int:
    p = OneLineParser(prog=prog, description="Serve a version of an exported model: rewrites the export root's "
                                             "models.config (TF Serving) and publishing.json (keras-gen serve).")
    p.add_argument("export", metavar="EXPORT",
                   help="a model directory (saved_models/<model>_<dataset>) or one version of it (.../<version>)")
    p.add_argument("--version", type=positive_int, help="the version to serve (default: the one EXPORT names, else "
                                                        "the newest)")
    args = p.parse_args(argv)
    with running(prog):
        from pathlib import Path

        from keras_gen.export.publish import MODELS_CONFIG, publish

        path = Path(args.export)
        version = args.version
        if path.name.isdigit() and (path / "saved_model.pb").is_file():
            if version is not None and version != int(path.name):
                p.error(f"{path} is version {path.name}; drop --version or pass the model directory {path.parent}")
            path, version = path.parent, int(path.name)
        decision = publish(path, version)
        print(decision.line())
        print(f"TF Serving:  {path.parent / MODELS_CONFIG}")
    return 0
