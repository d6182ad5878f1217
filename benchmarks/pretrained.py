#!/usr/bin/env python
"""Ship the best measured model of each goal cell as a pretrained export in ``saved_models/``.

    python benchmarks/pretrained.py        # after benchmarks/papers.py, on the machine that trained its runs
    python benchmarks/pretrained.py --all  # re-export every cell, changed or not

For each (dataset, family) of issue 27's goal table, the row of ``docs/results/papers/results.json``
with the lowest FID is exported from its run in ``runs/papers/`` (for a mixture row, the model with
its fitted latent sampler) as version 1 of ``saved_models/<model>_<dataset>/``, published, with its
``assets/keras_gen.json`` holding the recipe, the run's training config and the figures measured on
the papers' protocol. A fresh clone then samples, serves and explores them without training. The
exports replace the ones shipped before (the whole model directory: the user's own versions of the
same model name go with them, so run this only in the project's own checkout); other models in
``saved_models/`` are left alone. Written in a staging directory first, then moved into place.
A cell whose shipped export already is its best row (same row, same FID) is left as it is: a
SavedModel's bytes differ from one export to the next, so re-exporting it would only churn git.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "docs" / "results" / "papers" / "results.json"
TARGET = REPO / "saved_models"
SHIPPED = "shipped pretrained"  # how publishing.json's log names what this script published
MAX_BYTES = 30_000_000  # issue 27: at most 30 MB in all, in git


def shipped_row(name: str, root: Path = TARGET) -> tuple[str, float] | None:
    """``(row, FID)`` of the export shipped as ``name``, or None."""
    try:
        figures = json.loads((root / name / "1" / "assets" / "keras_gen.json").read_text())["pretrained"]
    except (OSError, ValueError, KeyError):
        return None
    return figures["row"], figures["fid"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--all", action="store_true", help="re-export every cell, also those already shipped")
    args = p.parse_args(argv)
    from papers import MACHINE_FIELDS, ROWS, best_rows, fmt

    from keras_gen.config import RunConfig
    from keras_gen.export.from_run import export_checkpoint
    from keras_gen.export.publish import write_models_config
    from keras_gen.rundir.checkpoints import find_checkpoint, load_checkpoint
    from keras_gen.serving.published import read_publishing, update_publishing
    from keras_gen.training.latent_sampler import SAMPLER_FILE, SAMPLER_INFO

    os.chdir(REPO)  # every path the exports record is relative to the checkout, not this machine's
    results = json.loads(RESULTS.read_text())
    staging = TARGET / ".pretrained-staging"
    shutil.rmtree(staging, ignore_errors=True)
    shipped, best_names = {}, set()
    for (dataset, family), r in sorted(best_rows(results["rows"]).items()):
        row = next(row for row in ROWS if row.row == r["row"])
        name = f"{row.model}_{dataset}"
        best_names.add(name)
        if not args.all and shipped_row(name) == (r["row"], r["result"]["fid"]):
            print(f"{dataset} {family}: {r['row']} (FID {fmt(r['result']['fid'])}) is shipped already")
            continue
        run_dir = row.run_dir.relative_to(REPO)
        if not (REPO / run_dir / "config.json").is_file():
            raise SystemExit(f"{r['row']}'s run {run_dir} is not on this machine: run this where papers.py trained it")
        config = RunConfig.load(run_dir / "config.json")
        model = load_checkpoint(run_dir / SAMPLER_FILE) if row.sampler else None  # None: its latest checkpoint
        if row.raw:  # measured through the generator it trained, not the average: ship that
            model = load_checkpoint(find_checkpoint(run_dir, "latest")["path"])
            model.generator_ema.set_weights(model.generator.get_weights())
        res = r["result"]
        extra = {"pretrained": {
            "row": r["row"], "label": r["label"], "recipe": f"configs/{r['row']}.json",
            "train_minutes": r["train_minutes"],
            "machine": r.get("machine") or results["machine"],
            "protocol": "standard Inception FID (2015-12-05 graph, pytorch-fid resize) "
            f"of {res['b']['images']:,} samples against the {res['a']['images']:,} images of {dataset}'s test split",
            **{k: res[k] for k in ("fid", "kid", "kid_std", "precision", "recall")},
            "page": "docs/results/papers/README.md"},
            "training_config": {k: v for k, v in config.to_dict().items() if k not in MACHINE_FIELDS}}
        if row.sampler:
            info = json.loads((run_dir / SAMPLER_INFO).read_text())
            info.pop("export", None)  # where papers.py measured it, on this machine
            info["checkpoint"] = Path(info["checkpoint"]).resolve().relative_to(REPO).as_posix()
            extra["latent_sampler"] = info
        path = export_checkpoint(run_dir, config, export_dir=staging, model=model, publish="always", extra=extra)
        assert path.parent.name == name, (path, name)
        shipped[name] = f"{SHIPPED}: {r['label'].replace('`', '')}, FID {fmt(res['fid'])} on the " \
                                    "papers' protocol (docs/results/papers)"
        print(f"{dataset} {family}: {r['row']} (FID {fmt(res['fid'])}) -> {path.relative_to(staging)}")
    staging.mkdir(parents=True, exist_ok=True)
    kept = [TARGET / name for name in best_names - set(shipped)]
    size = sum(f.stat().st_size for d in (staging, *kept) for f in d.rglob("*") if f.is_file())
    if size > MAX_BYTES:
        raise SystemExit(f"the exports take {size / 1e6:.1f} MB, more than the {MAX_BYTES / 1e6:.0f} MB allowed in git")
    staged = read_publishing(staging)

    before = read_publishing(TARGET)["models"]
    retired = [name for name, entry in before.items() if name not in best_names and entry.get("log")
               and entry["log"][0]["reason"].startswith(SHIPPED)]  # shipped before, no longer a cell's best

    def change(state):
        for name in retired:
            del state["models"][name]
        for name, reason in shipped.items():
            entry = staged["models"][name]
            entry["log"][-1]["reason"] = reason
            entry.pop("evaluations", None)
            state["models"][name] = entry

    for name in [*shipped, *retired]:
        shutil.rmtree(TARGET / name, ignore_errors=True)
    for name in shipped:
        (staging / name).rename(TARGET / name)
    update_publishing(TARGET, change)
    write_models_config(TARGET)
    shutil.rmtree(staging)
    for name in retired:
        print(f"{name}: no longer a cell's best, removed")
    print(f"{len(best_names)} pretrained exports ({len(shipped)} new), {size / 1e6:.1f} MB, in "
          f"{TARGET.relative_to(REPO)}/; the README's "
          f"table (Pretrained models):\n\n{readme_table()}")
    return 0


def shipped_names(root: Path = TARGET) -> list[str]:
    """The models this script shipped into ``root``, MNIST first."""
    models = json.loads((root / "publishing.json").read_text())["models"]
    names = [name for name, entry in models.items() if entry["log"][0]["reason"].startswith(SHIPPED)]
    return sorted(names, key=lambda name: (not name.endswith("_mnist") or name.endswith("fashion_mnist"), name))


def readme_table(root: Path = TARGET) -> str:
    """The README's table of the shipped models, from their ``keras_gen.json``."""
    from papers import fmt

    lines = ["| export | model | dataset | FID (10,000) | KID | precision | recall | trained | recipe |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in shipped_names(root):
        meta = json.loads((root / name / "1" / "assets" / "keras_gen.json").read_text())
        figures = meta["pretrained"]
        lines.append(f"| `saved_models/{name}` | {figures['label']} | {meta['dataset']} | **{fmt(figures['fid'])}** | "
                     f"{figures['kid']:.4f} | {fmt(figures['precision'], 2)} | {fmt(figures['recall'], 2)} | "
                     f"{meta['epochs']} epochs, {figures['train_minutes']} min | "
                     f"[{Path(figures['recipe']).name}]({figures['recipe']}) |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # papers.py, its neighbour
    raise SystemExit(main())
