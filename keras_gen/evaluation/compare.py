"""``keras-gen compare``: evaluated models side by side, as a self-contained HTML report and its
Markdown twin.

Each ``PATH`` is evaluated as ``keras-gen evaluate`` would (an up-to-date ``metrics.json`` with the
same settings is reused, ``--fresh`` forces a new one), then:

* one row per model: family, parameters, training time, images/s and every figure, with the real
  test set against the real training set as the last row (the floor);
* a verdict per figure: which model wins and by how much (a ratio for unbounded figures, a
  difference for fractions and log-likelihoods; "no clear winner" within one standard deviation
  where the figure has one);
* the reports' qualitative claims (:mod:`keras_gen.evaluation.claims`) checked against the figures when GANs and
  VAEs are both present;
* sample grids side by side, loss curves (FID too when the run logged it) and class histograms.

``report.html`` embeds its pictures (one file to mail or attach); ``report.md`` links the same
pictures in ``report_files/``; ``comparison.json`` holds every figure and verdict.
"""

from __future__ import annotations

import base64
import html
import json
import math
import time
from pathlib import Path
from typing import Callable

from keras_gen import __version__
from keras_gen.evaluation.claims import CLAIMS, Side, every_pair, judge
from keras_gen.evaluation.evaluate import (
    METRIC,
    METRICS,
    SAMPLES_FILE,
    EvalSettings,
    MetricSpec,
    evaluate_path,
    format_value,
    open_subject,
)
from keras_gen.utils.errors import UserError
from keras_gen.utils.fileio import atomic_path, write_json, write_text

REPORT_HTML = "report.html"
REPORT_MD = "report.md"
FILES_DIR = "report_files"
FLOOR_NAME = "real test vs train"
ARROWS = {"lower": "↓", "higher": "↑", "real": "≈ real"}


def _count(n) -> str:
    return f"{n:,}" if isinstance(n, int) else "as many"


# --------------------------------------------------------------------------- verdicts
def _ratio_ok(values) -> bool:
    return all(v is not None and v > 0 for v in values)


def _magnitude(spec: MetricSpec, best: float, other: float) -> str:
    """How much ``best`` beats ``other``: a ratio for positive unbounded figures, else a difference."""
    if not spec.bounded and _ratio_ok([best, other]) and spec.key not in ("classes_covered",):
        ratio = max(best, other) / min(best, other)
        return f"{ratio:.2f}× {spec.better}"
    diff = abs(best - other)
    unit = f" {spec.unit}" if spec.unit else ""
    return f"{format(diff, spec.fmt)}{unit} {spec.better}"


def verdict(spec: MetricSpec, rows: list[dict]) -> dict | None:
    """Who wins figure ``spec`` among ``rows`` (``{"name", "entry"}``) and by how much."""
    rows = [r for r in rows if r["entry"] is not None and r["entry"].get("value") is not None]
    if not rows:
        return None
    floor = rows[0]["entry"].get("floor")
    floor_text = f"; real test vs train: {format_value(spec.key, floor)}" if floor is not None else ""
    if len(rows) == 1:
        if spec.kind == "likelihood":
            text = f"only {rows[0]['name']} has it ({format_value(spec.key, rows[0]['entry']['value'])}): " \
                   "GANs define no likelihood" if rows[0]["entry"].get("images") else None
            return {"metric": spec.key, "winner": None, "text": text} if text else None
        return None
    if spec.better == "real":
        return _closest_to_real(spec, rows, floor)
    if spec.key == "seconds_per_epoch":
        sizes = {r["name"]: r["entry"].get("images_per_epoch") for r in rows}
        known = [v for v in sizes.values() if v]
        if len(known) < len(rows) or max(known) > 1.05 * min(known):
            listed = ", ".join(f"{n} {v:,}" if v else f"{n} unknown" for n, v in sizes.items())
            return {"metric": spec.key, "winner": None,
                    "text": f"not comparable: the runs' epochs hold different numbers of images ({listed}); "
                            "training images/s is the comparable figure"}
    ordered = sorted(rows, key=lambda r: r["entry"]["value"], reverse=spec.better == "higher")
    best, second = ordered[0], ordered[1]
    b, s = best["entry"]["value"], second["entry"]["value"]
    values = ", ".join(f"{r['name']} {format_value(spec.key, r['entry']['value'], r['entry'].get('std'))}"
                       for r in ordered)
    sb, ss = best["entry"].get("std"), second["entry"].get("std")
    if b == s or (sb is not None and ss is not None and abs(b - s) <= sb + ss):
        return {"metric": spec.key, "winner": None,
                "text": f"no clear winner: {best['name']} and {second['name']} are within "
                        f"{'one standard deviation' if sb is not None else 'rounding'} ({values}{floor_text})"}
    return {"metric": spec.key, "winner": best["name"],
            "text": f"{best['name']} wins, {_magnitude(spec, b, s)} than {second['name']} ({values}{floor_text})"}


def _closest_to_real(spec: MetricSpec, rows: list[dict], floor) -> dict | None:
    if floor is None or not _ratio_ok([floor] + [r["entry"]["value"] for r in rows]):
        return None
    ratio = {r["name"]: r["entry"]["value"] / floor for r in rows}
    ordered = sorted(rows, key=lambda r: abs(math.log(ratio[r["name"]])))
    best = ordered[0]["name"]
    values = ", ".join(f"{r['name']} {ratio[r['name']]:.2f}×" for r in ordered)
    text = f"{best} is closest to the real test set's {format_value(spec.key, floor)} ({values} of it)"
    if spec.key == "nn_distance":
        copying = [n for n, q in ratio.items() if q < 0.9]
        text += f"; {', '.join(copying)} below the test set's: check for memorized training images" if copying else \
            "; no model sits below the test set's distance (no sign of memorization)"
    elif spec.key == "sharpness":
        blurry = [n for n, q in ratio.items() if q < 0.8]
        if blurry:
            text += f"; blurrier than real images: {', '.join(blurry)}"
    return {"metric": spec.key, "winner": best, "text": text}


def check_claims(results: list[dict]) -> list[dict]:
    """The reports' claims (:data:`keras_gen.evaluation.claims.CLAIMS`) over every GAN/VAE pair of
    ``results``: empty unless GANs and VAEs are both present."""
    sides = [Side(r["subject"]["name"], r["subject"]["family"],
                  {k: e.get("value") for k, e in r["metrics"].items()},
                  {k: e.get("floor") for k, e in r["metrics"].items()}) for r in results]
    pairs = every_pair(sides)
    found = [v for v in (judge(claim, pairs) for claim in CLAIMS) if v is not None] if pairs else []
    return [{k: v for k, v in c.items() if k != "per_pair"} for c in found]  # the evidence says it per pair


# --------------------------------------------------------------------------- pictures
def _png_figure(draw: Callable, *, size=(7, 3.5)) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size, dpi=100)
    draw(ax)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def class_histogram_png(results: list[dict], names: list[str]) -> bytes | None:
    """Grouped bars: the share of samples per predicted class, per model and for the real test set."""
    import numpy as np

    series = [(name, r.get("class_counts")) for name, r in zip(names, results) if r.get("class_counts")]
    if not series:
        return None
    real = results[0].get("floor_class_counts")
    if real:
        series.append((FLOOR_NAME.split(" vs")[0], real))
    classes = len(series[0][1])
    width = 0.8 / len(series)

    def draw(ax):
        for i, (name, counts) in enumerate(series):
            counts = np.asarray(counts, float)
            ax.bar(np.arange(classes) + (i - (len(series) - 1) / 2) * width, counts / counts.sum(), width, label=name)
        ax.axhline(1.0 / classes, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("predicted class")
        ax.set_ylabel("share of samples")
        ax.legend(fontsize=8)

    return _png_figure(draw, size=(max(7, classes * 0.35), 3.5))


def _pictures(results: list[dict], names: list[str], eval_dirs: list[Path]) -> list[dict]:
    """``{"section", "caption", "file", "png"}`` for every picture of the report."""
    from keras_gen.rundir.history import plot_history

    pictures = []
    for name, result, directory in zip(names, results, eval_dirs):
        grid = directory / SAMPLES_FILE
        if grid.is_file():
            pictures.append({"section": "samples", "caption": f"{name}: the first 64 of the evaluated samples",
                             "file": f"samples_{_slug(name)}.png", "png": grid.read_bytes()})
    for name, result in zip(names, results):
        run_dir = result["subject"].get("run_dir")
        png = plot_history(Path(run_dir) / "history.csv", title=name) if run_dir else None
        if png:
            pictures.append({"section": "curves", "caption": f"{name}: training losses per epoch",
                             "file": f"curves_{_slug(name)}.png", "png": png})
    histogram = class_histogram_png(results, names)
    if histogram:
        pictures.append({"section": "classes", "caption": "predicted classes of the samples (dashed: uniform)",
                         "file": "class_histogram.png", "png": histogram})
    return pictures


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


# --------------------------------------------------------------------------- tables
def _parameters(result: dict) -> str:
    params = result["subject"].get("parameters")
    if not params:
        return "-"
    return f"{sum(params.values()):,}"


def _training_time(result: dict) -> str:
    training = result["subject"].get("training") or {}
    if not training.get("seconds"):
        return "-"
    seconds = training["seconds"]
    duration = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min" if seconds < 7200 else \
        f"{seconds / 3600:.1f} h"
    return f"{duration} / {training['epochs']} ep"


def table_rows(results: list[dict], names: list[str]) -> tuple[list[str], list[list[str]], list[MetricSpec]]:
    """Header, rows (models, then the floor) and the figure columns, as text."""
    specs = [m for m in METRICS if m.kind != "training" and any(m.key in r["metrics"] for r in results)]
    header = ["model", "family", "parameters", "training", "s/epoch", "img/s"] + \
        [f"{m.label} {ARROWS[m.better]}" for m in specs]
    rows = []
    for name, result in zip(names, results):
        training = result["subject"].get("training") or {}
        row = [name, result["subject"]["family"], _parameters(result), _training_time(result),
               format_value("seconds_per_epoch", training.get("seconds_per_epoch")),
               format_value("images_per_sec", training.get("images_per_sec"))]
        for m in specs:
            entry = result["metrics"].get(m.key)
            row.append(format_value(m.key, entry["value"], entry.get("std")) if entry else "-")
        rows.append(row)
    floor = [FLOOR_NAME, "data", "", "", "", ""]
    for m in specs:
        entry = next((r["metrics"][m.key] for r in results if m.key in r["metrics"]), None)
        floor.append(format_value(m.key, entry.get("floor"), entry.get("floor_std"))
                     if entry and m.kind == "sample" else "")
    rows.append(floor)
    return header, rows, specs


def _best_cells(names: list[str], specs: list[MetricSpec], verdicts: dict) -> set[tuple[int, int]]:
    """(row, column) of each figure's winner in :func:`table_rows`, for bold type."""
    first_figure = 6  # model, family, parameters, training, s/epoch, img/s
    winners = [(verdicts.get(spec.key) or {}).get("winner") for spec in specs]
    return {(i, first_figure + j) for j, winner in enumerate(winners) for i, name in enumerate(names) if name == winner}


# --------------------------------------------------------------------------- rendering
def _settings_lines(results: list[dict]) -> list[str]:
    first = results[0]
    settings, extractor, reference = first["settings"], first["extractor"], first["reference"]
    accuracy = extractor.get("extractor_test_accuracy")
    lines = [
        f"Dataset: {reference['dataset']} ({reference['source']}); {settings['samples']:,} samples per model against "
        f"{reference['test_images']:,} random test images; nearest neighbours among {reference['training_images']:,} "
        "training images.",
        f"Feature extractor: {extractor['extractor']}" + (f", test accuracy {accuracy:.4f}" if accuracy else "") +
        f"; precision/recall k={settings['pr_k']}, density/coverage k={settings['dc_k']}, "
        f"KID {settings['kid_subsets']} "
        f"subsets of {settings['kid_subset_size']:,}; VAE likelihood on {settings['likelihood_images']:,} test images, "
        f"IWAE k={settings['iwae_k']}.",
        f"The last row is the real test set against {_count(reference.get('floor_training_images'))} real "
        "training images" + (" the extractor never saw" if reference.get("floor_images_unseen_by_extractor") else "") +
        ": the figure a perfect model reaches with this many samples.",
    ]
    for name, result in zip(unique_names(results), results):
        info = result["subject"]
        lines.append(f"{name}: {info['kind']} {info['path']}, {info['checkpoint_label']}, epoch {info.get('epochs')}, "
                     f"{info['steps']:,} steps.")
    return lines


def render_markdown(report: dict, pictures: list[dict]) -> str:
    header, rows, specs = report["table"]
    md = [f"# {report['title']}", "", f"keras_gen {__version__}, {report['created']}.", ""]
    md += [f"- {line}" for line in report["settings"]] + [""]
    md += ["## Figures", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(f"**{c}**" if (i, j) in report["bold"] else c for j, c in enumerate(row)) + " |"
           for i, row in enumerate(rows)]
    md += ["", "↓ lower is better, ↑ higher is better, ≈ real: closest to the real test set's figure.", ""]
    md += ["## Verdicts", ""] + [f"- **{METRIC[v['metric']].label}**: {v['text']}" for v in report["verdicts"]]
    if report["claims"]:
        md += ["", "## The reports' claims", "", "| claim | reports | measured | evidence |", "|---|---|---|---|"]
        md += [f"| {c['claim']} | {c['sources']} | **{c['outcome']}** | {'; '.join(c['evidence'])} |"
               for c in report["claims"]]
    for section, title in (("samples", "Samples"), ("curves", "Training curves"), ("classes", "Class histogram")):
        items = [p for p in pictures if p["section"] == section]
        if items:
            md += ["", f"## {title}", ""] + [f"![{p['caption']}]({FILES_DIR}/{p['file']})  \n*{p['caption']}*\n"
                                             for p in items]
    md += ["", "## What the figures mean", ""]
    md += [f"- **{m.label}** ({ARROWS[m.better]}): {m.description}." for m in specs]
    return "\n".join(md) + "\n"


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
table{border-collapse:collapse;font-size:13px;margin:1em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:4px 7px;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}tr:last-child td{background:#f4f4f4;font-style:italic}
th{background:#eee}.holds{color:#176617}.does-not-hold{color:#a11}.mixed{color:#a60}
.pictures{display:flex;flex-wrap:wrap;gap:1.5em}figure{margin:0}figcaption{font-size:12px;color:#555}
img{max-width:100%;image-rendering:pixelated}.claims td{white-space:normal;text-align:left}
"""


def render_html(report: dict, pictures: list[dict]) -> str:
    e = html.escape
    header, rows, specs = report["table"]
    out = ["<!doctype html><html><head><meta charset='utf-8'>", f"<title>{e(report['title'])}</title>",
           f"<style>{CSS}</style></head><body>", f"<h1>{e(report['title'])}</h1>",
           f"<p>keras_gen {e(__version__)}, {e(report['created'])}.</p><ul>"]
    out += [f"<li>{e(line)}</li>" for line in report["settings"]] + ["</ul><h2>Figures</h2><table><tr>"]
    out += [f"<th>{e(h)}</th>" for h in header] + ["</tr>"]
    for i, row in enumerate(rows):
        cells = [f"<td>{'<b>' + e(c) + '</b>' if (i, j) in report['bold'] else e(c)}</td>" for j, c in enumerate(row)]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table><p>↓ lower is better, ↑ higher is better, ≈ real: closest to the real test set's figure.</p>")
    out.append("<h2>Verdicts</h2><ul>")
    out += [f"<li><b>{e(METRIC[v['metric']].label)}</b>: {e(v['text'])}</li>" for v in report["verdicts"]]
    out.append("</ul>")
    if report["claims"]:
        out.append("<h2>The reports' claims</h2><table class='claims'><tr><th>claim</th><th>reports</th>"
                   "<th>measured</th><th>evidence</th></tr>")
        for c in report["claims"]:
            css = c["outcome"].replace(" ", "-")
            out.append(f"<tr><td>{e(c['claim'])}</td><td>{e(c['sources'])}</td><td class='{css}'><b>"
                       f"{e(c['outcome'])}</b></td><td>{e('; '.join(c['evidence']))}</td></tr>")
        out.append("</table>")
    for section, title in (("samples", "Samples"), ("curves", "Training curves"), ("classes", "Class histogram")):
        items = [p for p in pictures if p["section"] == section]
        if not items:
            continue
        out.append(f"<h2>{title}</h2><div class='pictures'>")
        for p in items:
            data = base64.b64encode(p["png"]).decode("ascii")
            out.append(f"<figure><img src='data:image/png;base64,{data}' alt='{e(p['caption'])}'>"
                       f"<figcaption>{e(p['caption'])}</figcaption></figure>")
        out.append("</div>")
    out.append("<h2>What the figures mean</h2><ul>")
    out += [f"<li><b>{e(m.label)}</b> ({ARROWS[m.better]}): {e(m.description)}.</li>" for m in specs]
    out.append("</ul></body></html>")
    return "\n".join(out) + "\n"


def format_verdicts(report: dict) -> str:
    lines = [f"{METRIC[v['metric']].label}: {v['text']}" for v in report["verdicts"]]
    lines += [f"claim \"{c['claim']}\" ({c['sources']}): {c['outcome']}" for c in report["claims"]]
    return "\n".join(lines)


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """The report's table turned for a terminal: a row per column of the report (figures), a
    column per model and the real-data floor last."""
    columns = [[h, *(row[i] for row in rows)] for i, h in enumerate(header)]
    widths = [max(len(c[j]) for c in columns) for j in range(len(columns[0]))]
    align = lambda j, text: text.ljust(widths[j]) if j == 0 else text.rjust(widths[j])  # noqa: E731
    return "\n".join("  ".join(align(j, text) for j, text in enumerate(c)) for c in columns)


# --------------------------------------------------------------------------- compare
def unique_names(results: list[dict]) -> list[str]:
    """``<model>_<dataset>``, with the run or export version added where two would share a name."""
    base = [r["subject"]["name"] for r in results]
    names = []
    for name, result in zip(base, results):
        if base.count(name) > 1:
            name = f"{name} ({Path(result['subject']['path']).name}, epoch {result['subject'].get('epochs')})"
        names.append(name)
    return names


def compare(paths: list[str], settings: EvalSettings, *, out: str | Path | None = None, checkpoint: str = "latest",
            data_dir=None, train_extractor: bool = True, fresh: bool = False,
            log: Callable[[str], None] = lambda line: None) -> tuple[dict, Path]:
    """Evaluate (or reuse the evaluations of) ``paths`` and write the report; returns it and its directory."""
    if len(paths) < 2:
        raise UserError("compare needs at least two models; to measure one, use keras-gen evaluate PATH")
    subjects = [open_subject(p, checkpoint=checkpoint) for p in paths]
    datasets = sorted({(s.info["dataset"], json.dumps(s.info.get("dataset_options") or {})) for s in subjects})
    if len(datasets) > 1:
        names = ", ".join(f"{s.name}: {s.info['dataset']}" for s in subjects)
        raise UserError(f"the models were trained on different data ({names}); compare models of one dataset")
    results, eval_dirs = [], []
    for subject in subjects:
        result, directory = evaluate_path(subject, settings, data_dir=data_dir, train_extractor=train_extractor,
                                          reuse=not fresh, log=log)
        results.append(result)
        eval_dirs.append(directory)
    names = unique_names(results)
    verdicts = {}
    for spec in METRICS:
        v = verdict(spec, [{"name": n, "entry": r["metrics"].get(spec.key)} for n, r in zip(names, results)])
        if v is not None:
            verdicts[spec.key] = v
    header, rows, specs = table_rows(results, names)
    report = {
        "title": f"{' vs '.join(names)}",
        "created": time.strftime("%Y-%m-%d %H:%M"),
        "settings": _settings_lines(results),
        "table": (header, rows, specs),
        "bold": _best_cells(names, specs, verdicts),
        "verdicts": list(verdicts.values()),
        "claims": check_claims(results),
    }
    out_dir = Path(out) if out is not None else \
        Path("comparisons") / f"{'-vs-'.join(_slug(n) for n in names)[:120]}-{time.strftime('%Y%m%d-%H%M%S')}"
    pictures = _pictures(results, names, eval_dirs)
    try:
        (out_dir / FILES_DIR).mkdir(parents=True, exist_ok=True)
        for picture in pictures:
            with atomic_path(out_dir / FILES_DIR / picture["file"]) as tmp:
                tmp.write_bytes(picture["png"])
        write_text(out_dir / REPORT_MD, render_markdown(report, pictures))
        write_text(out_dir / REPORT_HTML, render_html(report, pictures))
        write_json(out_dir / "comparison.json", {
            "keras_gen_version": __version__, "created": report["created"], "models": names,
            "evaluations": [str(d) for d in eval_dirs], "results": results, "verdicts": report["verdicts"],
            "claims": report["claims"]})
    except OSError as err:
        raise UserError(f"cannot write the report to {out_dir}: {err.strerror or err}; pass --out DIR") from None
    return report, out_dir
