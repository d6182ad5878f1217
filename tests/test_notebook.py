"""examples/quickstart.ipynb runs top to bottom in a fresh kernel (nbclient, as Jupyter runs it),
in a scratch directory, and shows what it says: summaries, a loss plot, a sample grid, a model
that loads back and an export that plain TensorFlow serves the same images from."""

from __future__ import annotations

import shutil

import pytest

from conftest import REPO

nbformat = pytest.importorskip("nbformat", reason="make venv installs nbclient and nbformat (the dev extra)")
nbclient = pytest.importorskip("nbclient", reason="make venv installs nbclient and nbformat (the dev extra)")

NOTEBOOK = REPO / "examples" / "quickstart.ipynb"


def test_the_quickstart_notebook_runs(tmp_path):
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    nb = nbformat.read(tmp_path / NOTEBOOK.name, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on a failing cell
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "same images after loading: True" in text and "served == in memory: True" in text
    assert "SavedModel: saved_models/my_vae_mnist/1" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2  # the loss curves and the sample grid
    assert any("Total params" in o.get("data", {}).get("text/plain", "") for o in outputs)  # model.summary()
    assert (tmp_path / "saved_models" / "my_vae_mnist" / "1" / "saved_model.pb").is_file()
