"""``keras-gen compare PATH PATH ...``: an HTML report and its Markdown twin, with verdicts."""

from __future__ import annotations

from keras_gen.cli.args import OneLineParser, add_checkpoint_argument, running
from keras_gen.cli.evaluate import add_settings_arguments, settings_from_args, stderr


def main(argv=None, prog: str = "keras-gen compare") -> int:

    p = OneLineParser(prog=prog, description="Evaluate models and write an HTML report and its Markdown twin: "
                                             "figures side by side, a verdict per figure, samples and curves.")
    p.add_argument("paths", metavar="PATH", nargs="+", help="run directories or exports (two or more)")
    p.add_argument("--out", help="report directory (default comparisons/<models>-<time>)")
    add_checkpoint_argument(p)
    p.add_argument("--fresh", action="store_true", help="evaluate again even where an up-to-date metrics.json exists")
    add_settings_arguments(p)
    args = p.parse_args(argv)
    with running(prog):
        from keras_gen.evaluation.compare import (
            REPORT_HTML,
            REPORT_MD,
            compare,
            format_table,
            format_verdicts,
        )

        settings = settings_from_args(args)
        report, out_dir = compare(args.paths, settings, out=args.out, checkpoint=args.checkpoint,
                                  data_dir=args.data_dir, train_extractor=args.train_extractor, fresh=args.fresh,
                                  log=stderr)
        header, rows, _ = report["table"]
        print(format_table(header, rows))
        print()
        print(format_verdicts(report))
        print(f"\nwrote {out_dir / REPORT_HTML} and {out_dir / REPORT_MD}")
    return 0
