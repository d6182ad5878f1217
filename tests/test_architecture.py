"""The package's shape: imports point one way, only the CLI parses arguments, help is instant,
and checkpoints written before the reorganisation still load and resume."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

PACKAGE = REPO / "keras_gen"
FIXTURES = REPO / "tests" / "fixtures" / "checkpoints_v0_1"
SOURCES = ("keras_gen", "models_zoo", "benchmarks")  # the graph: the package, the zoo and the benchmarks

# Each part may import only from its own layer and the layers after it:
# benchmarks -> cli -> training -> evaluation, export -> serving -> rundir -> config -> models_zoo
#   -> families, datasets, layers -> utils.
# The zoo builds plain networks from the families and layers; the config reads the zoo's defaults.
LAYERS = [
    {"benchmarks"},
    {"cli", "__main__", "api"},  # api: the Python API, which the package's __getattr__ imports by name on first use
    {"training"},
    {"evaluation", "export"},
    {"serving"},
    {"rundir"},
    {"config"},
    {"models_zoo"},
    {"families", "datasets", "layers"},
    # registration imports nothing at import time; a Keras lookup imports the families and layers by
    # name (importlib), long after every import is done
    {"utils", "registration", "(root)"},
]


def module_name(path: Path, root: Path = REPO) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = REPO) -> dict[str, set[str]]:
    """``{module: modules of keras_gen, models_zoo and benchmarks it imports}``, function-level
    imports included; a benchmark's bare ``from machine import ...`` (its folder is on sys.path) is
    ``benchmarks.machine``."""
    files = {module_name(f, root): f for top in SOURCES if (root / top).is_dir() for f in (root / top).rglob("*.py")}
    graph = {}
    for name, path in files.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            if name.startswith("benchmarks."):
                targets += [f"benchmarks.{t}" for t in targets]
            deps |= {t for t in targets if t in files and t != name}
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def top_package(module: str) -> str:
    """The layer name of a module: keras_gen's sub-package, or models_zoo / benchmarks as a whole."""
    parts = module.split(".")
    if parts[0] != "keras_gen":
        return parts[0]
    return parts[1] if len(parts) > 1 else "(root)"


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    rank = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}
    wrong = []
    for module, deps in graph.items():
        for dep in deps:
            a, b = top_package(module), top_package(dep)
            assert a in rank and b in rank, f"{module} or {dep} is in no layer of LAYERS: add its package"
            if rank[b] < rank[a]:  # upward; imports within a layer are free (the cycle test watches them)
                wrong.append(f"{module} -> {dep}")
    return sorted(wrong)


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_imports_point_one_way():
    graph = import_graph()
    assert {top_package(m) for m in graph} >= {"models_zoo", "benchmarks", "cli", "utils"}  # all of it is seen
    wrong = layering_violations(graph)
    assert not wrong, "imports against the layering: " + ", ".join(wrong)


def test_a_planted_cycle_through_the_zoo_is_caught(tmp_path):
    """A copy of the sources where the zoo imports keras_gen.training (which imports the zoo):
    both the layering and the cycle check fail on it."""
    for top in SOURCES:
        shutil.copytree(REPO / top, tmp_path / top, ignore=shutil.ignore_patterns("__pycache__"))
    planted = tmp_path / "models_zoo" / "__init__.py"
    planted.write_text(planted.read_text() + "\nfrom keras_gen.training.build import build_model  # planted\n")
    graph = import_graph(tmp_path)
    assert "models_zoo -> keras_gen.training.build" in layering_violations(graph)
    cycle = find_cycle(graph)
    assert cycle is not None and "models_zoo" in cycle and "keras_gen.training.build" in cycle, cycle


def test_only_the_cli_parses_arguments():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] == "cli":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                if "argparse" in names:
                    offenders.append(str(path.relative_to(REPO)))
    assert not offenders, f"argparse outside keras_gen/cli: {offenders}"


HELP_PROBE = """
import runpy, sys
target, sys.argv = sys.argv[1], sys.argv[1:]
try:
    if target.endswith(".py"):
        runpy.run_path(target, run_name="__main__")
    else:
        runpy.run_module(target, run_name="__main__")
except SystemExit:
    pass
print("tensorflow imported:", "tensorflow" in sys.modules)
print("tensorflow_probability imported:", "tensorflow_probability" in sys.modules)
"""


@pytest.mark.parametrize("command", [
    ["train.py", "--help"],
    ["keras_gen", "--help"],
    ["keras_gen", "train", "--help"],
    ["keras_gen", "evaluate", "--help"],
    ["keras_gen", "compare", "--help"],
    ["keras_gen", "export", "--help"],
    ["keras_gen", "sample", "--help"],
    ["keras_gen", "interpolate", "--help"],
    ["keras_gen", "fid", "--help"],
    ["keras_gen", "serve", "--help"],
])
def test_help_answers_without_importing_tensorflow(command):
    out = subprocess.run([sys.executable, "-c", HELP_PROBE, *command], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert "usage:" in out.stdout, out.stderr[-2000:]
    assert "tensorflow imported: False" in out.stdout, out.stdout[-500:]


def test_listing_the_zoo_does_not_import_tensorflow_probability():
    """TFP's import costs about 2 CPU-s (keras_gen/utils/probability.py): a command that draws from
    no distribution does not pay it."""
    out = subprocess.run([sys.executable, "-c", HELP_PROBE, "train.py", "--list-models"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert "vae_mlp_2d " in out.stdout, out.stderr[-2000:]
    assert "tensorflow_probability imported: False" in out.stdout, out.stdout[-500:]


# ------------------------------------------------------------------ checkpoints from before the move
@pytest.mark.parametrize("name", ["gan", "cgan", "wgan_gp", "wgan_clip", "acgan", "acwgan", "vae_mixture"])
def test_checkpoint_written_before_the_reorganisation_loads(name):
    """Families (and keras_gen's Conv2D layers) keep their registered names: a .keras file written
    by keras_gen 0.1 (tests/fixtures/checkpoints_v0_1/make_families.py) loads, generates the same
    images, keeps its optimizer state and trains on."""
    from keras_gen.rundir.checkpoints import load_checkpoint

    model = load_checkpoint(FIXTURES / f"{name}.keras")
    z = np.linspace(-1, 1, 2 * model.latent_dim, dtype="float32").reshape(2, model.latent_dim)
    labels = np.array([0, 2], "int32") if model.conditional else None
    np.testing.assert_allclose(np.asarray(model.generate(z, labels)), np.load(FIXTURES / f"{name}.generate.npy"),
                               atol=1e-6)
    steps = model.steps_trained
    assert steps > 0
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (16 * model.data_batch_multiplier, 8, 8, 1))  # fit scales [0, 1] arrays to the range
    data = (x.astype("float32"), rng.integers(0, 3, len(x)).astype("int32")) if model.conditional else x
    # batch_size is each network's batch, as train.py's --batch-size: a step takes data_batch_multiplier of them
    model.fit(*(data if model.conditional else (data,)), batch_size=8, epochs=1, verbose=0)
    assert model.steps_trained == steps + 2


def test_run_written_before_the_reorganisation_resumes(tmp_path):
    """A whole run directory of keras_gen 0.1 (mlp_gan_small, 1 epoch) continues with --resume."""
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "run_mlp_gan_small", run)
    out = subprocess.run([sys.executable, str(REPO / "train.py"), "--resume", "--run-dir", str(run), "--epochs", "2",
                          "--no-export"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    latest = json.loads((run / "checkpoints" / "latest.json").read_text())
    assert latest["epoch"] == 2 and latest["steps"] == 8  # 256 images / 64 per step, twice
    rows = (run / "history.csv").read_text().splitlines()
    assert len(rows) == 3  # header and one row per epoch
