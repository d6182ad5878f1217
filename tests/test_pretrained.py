"""The pretrained exports ``saved_models/`` ships (issue 27, item 7; ``benchmarks/pretrained.py``
writes them): each goal cell's best row of docs/results/papers, tracked by git so a clone has them,
loadable in plain TensorFlow, and served and explored as they are, with no training."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from conftest import REPO, load_in_plain_tensorflow

ROOT = REPO / "saved_models"
SHIPPED = "shipped pretrained"  # benchmarks/pretrained.py's reason in publishing.json
MAX_BYTES = 30_000_000


def best_rows() -> dict:
    """``{export name: the results row}``: the lowest FID of each dataset and family."""
    rows = json.loads((REPO / "docs" / "results" / "papers" / "results.json").read_text())["rows"]
    best = {}
    for r in (r for r in rows if r["result"]):
        key = (r["dataset"], r["family"])
        if key not in best or r["result"]["fid"] < best[key]["result"]["fid"]:
            best[key] = r
    return {f"{r['model']}_{r['dataset']}": r for r in best.values()}


def shipped() -> dict:
    models = json.loads((ROOT / "publishing.json").read_text())["models"]
    return {name: entry for name, entry in models.items() if entry["log"][0]["reason"].startswith(SHIPPED)}


def strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)
    elif isinstance(value, str):
        yield value


def test_each_goal_cell_ships_its_best_measured_row():
    best, ships = best_rows(), shipped()
    assert set(ships) == set(best) and len(best) == 4  # MNIST and Fashion-MNIST, a GAN and a VAE each
    for name, row in best.items():
        assert ships[name]["served"] == 1
        meta = json.loads((ROOT / name / "1" / "assets" / "keras_gen.json").read_text())
        figures = meta["pretrained"]
        assert figures["row"] == row["row"] and figures["fid"] == row["result"]["fid"]
        recipe = json.loads((REPO / figures["recipe"]).read_text())
        assert (recipe["model"], recipe["dataset"]) == (meta["model"], meta["dataset"])
        assert meta["training_config"]["epochs"] == row["epochs"] == meta["epochs"]
        assert bool(row.get("sampler")) == ("latent_sampler" in meta)
        assert not [s for s in strings(meta) if s.startswith(("/", "~"))]  # no machine's paths
    size = sum(f.stat().st_size for name in best for f in (ROOT / name).rglob("*") if f.is_file())
    assert size <= MAX_BYTES


@pytest.mark.skipif(not (REPO / ".git").exists() or not shutil.which("git"), reason="not a git checkout")
def test_git_tracks_every_file_a_clone_needs():
    tracked = set(subprocess.run(["git", "ls-files", "saved_models"], cwd=REPO, capture_output=True, text=True,
                                 check=True).stdout.split())
    on_disk = {f.relative_to(REPO).as_posix() for name in shipped() for f in (ROOT / name / "1").rglob("*")
               if f.is_file()}
    assert on_disk and on_disk <= tracked, sorted(on_disk - tracked)
    assert "saved_models/publishing.json" in tracked and "saved_models/models.config" not in tracked


def test_the_readme_table_is_the_shipped_metadata():
    import importlib.util
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))  # pretrained.py imports papers.py as its neighbour
    try:
        spec = importlib.util.spec_from_file_location("pretrained", REPO / "benchmarks" / "pretrained.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        table = module.readme_table(ROOT)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    readme = (REPO / "README.md").read_text()
    assert table in readme.split("### Pretrained models", 1)[1].split("\n## ", 1)[0]
    assert table.count("| `saved_models/") == len(shipped())


def test_plain_tensorflow_the_server_and_the_explorer_use_them_as_shipped():
    from werkzeug.test import Client

    from keras_gen.serving.explorer_app import create_explorer_app
    from keras_gen.serving.rest import create_app

    names = sorted(shipped())
    plain = load_in_plain_tensorflow(*(ROOT / name / "1" for name in names))
    client = Client(create_app([ROOT]))
    for name in names:
        (info,) = (v for k, v in plain.items() if k.endswith(f"{name}/1"))
        assert info["keras_gen_imported"] is False
        images = np.asarray(info["sample"], np.float32)
        meta = json.loads((ROOT / name / "1" / "assets" / "keras_gen.json").read_text())
        assert images.shape == (4, *meta["image_shape"]) and np.isfinite(images).all()
        assert 0.0 <= images.min() and images.max() <= 1.0 and images.std() > 0.05  # not a blank page
        status = client.get(f"/v1/models/{name}").get_json()
        assert status["model_version_status"] == [{"version": "1", "state": "AVAILABLE",
                                                   "status": {"error_code": "OK", "error_message": ""}}]
        reply = client.post(f"/v1/models/{name}:predict", json={"signature_name": "sample",
                                                                  "inputs": {"seed": [0, 1, 2, 3]}})
        assert reply.status_code == 200
        np.testing.assert_allclose(np.asarray(reply.get_json()["outputs"], np.float32), images, atol=1e-6)
    explorer = Client(create_explorer_app([ROOT]))
    listed = {m["name"] for m in explorer.get("/v1/keras_gen/models").get_json()["models"]}
    assert set(names) <= listed and explorer.get("/").status_code == 200
