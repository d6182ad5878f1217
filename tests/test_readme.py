"""The README as a stranger follows it: every documented command parses as written, and the ones
that take seconds run for real, in a shell whose PATH holds the project's environment (what
``source .venv/bin/activate`` gives)."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, assert_one_line_error, seed_fid_weights

README = (REPO / "README.md").read_text()
BIN = Path(sys.executable).parent  # the environment's bin/: python, keras-gen


def readme_commands() -> list[str]:
    """Every ``python train.py …`` and ``keras-gen …`` line of the README's shell blocks."""
    commands = []
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", README, re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].split(" # ")[0].strip()
            if line.startswith(("python train.py", "keras-gen ")):
                commands.append(line)
    return commands


COMMANDS = readme_commands()


class Parsed(Exception):
    """Raised instead of running a command whose arguments parsed."""


def test_the_readme_documents_commands():
    assert len(COMMANDS) >= 15
    assert "python train.py --model vae_conv --dataset celeba" in README


def test_every_train_flag_is_in_the_readme():
    """A flag added to train.py is named in the README (its flags table, or the section on it)."""
    from keras_gen.cli.train import train_parser

    flags = [o for action in train_parser()._actions for o in action.option_strings if o.startswith("--")]
    assert "--lr-schedule" in flags
    missing = [flag for flag in flags if flag != "--help" and not re.search(re.escape(flag) + r"(?![\w-])", README)]
    assert not missing, f"train.py flags the README never names: {missing}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_documented_command_parses(command, monkeypatch, capsys):
    """Parse with the command's own parser; stop before it would run (no training here)."""
    from keras_gen import cli

    words = shlex.split(command.replace("…", "x"))
    argv = words[2:] if words[0] == "python" else words[1:]
    if words[0] == "python":
        module, function, prog = "keras_gen.cli.train", "main", "train.py"
    else:
        if argv[0] in ("-h", "--help"):  # the command list: every command named, exit 0
            assert cli.main(argv) == 0
            listed = capsys.readouterr().out
            assert all(name in listed for name in cli.COMMANDS), listed
            return
        assert argv[0] in cli.COMMANDS, f"README uses an unknown command: {command}"
        (module, function), prog = cli.COMMANDS[argv[0]], f"keras-gen {argv[0]}"
        argv = argv[1:]
    target = importlib.import_module(module)

    def stop(prog):
        raise Parsed

    for hook in ("running", "exit_on_user_error"):  # what a command enters once its arguments parsed
        if hasattr(target, hook):
            monkeypatch.setattr(target, hook, stop)
    with pytest.raises(Parsed):
        try:
            getattr(target, function)(argv, prog=prog)
        except SystemExit as exit_:
            pytest.fail(f"{command!r} does not parse (exit {exit_.code})")


def shell(command: str, cwd: Path, home: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(home)}
    return subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("command", ["python train.py --list-models", "python train.py --list-datasets",
                                     "keras-gen --help", "python train.py --model dcgan --summary"])
def test_quick_commands_run_as_written(command, tmp_path):
    proc = shell(command, REPO, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() and "Traceback" not in proc.stderr
    assert not [line for line in proc.stderr.splitlines() if "E0000" in line or "cuda" in line.lower()]


def test_the_headline_command_without_data_fails_in_one_line_and_downloads_nothing(tmp_path):
    """``python train.py --model vae_conv --dataset celeba`` on a machine without CelebA: one line
    saying what to put where, exit 2, and nothing started under ~/tensorflow_datasets."""
    (tmp_path / "train.py").symlink_to(REPO / "train.py")
    proc = shell("python train.py --model vae_conv --dataset celeba", tmp_path, tmp_path, timeout=120)
    line = assert_one_line_error(proc, "dataset celeba is not on this machine", "img_align_celeba",
                                 "--data-dir", "--download")
    assert len(line) < 400
    assert not (tmp_path / "tensorflow_datasets").exists() and not (tmp_path / "runs").exists()


def results_rows(page: str) -> dict[str, dict]:
    """The zoo rows of a committed docs/results page's results.json, by model."""
    import json

    rows = json.loads((REPO / "docs" / "results" / page / "results.json").read_text())["rows"]
    return {r["model"]: r for r in rows if r["group"] == "zoo"}


def three_figures(value: float) -> str:
    """As the results pages print a figure (benchmarks/results_report.fmt)."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def test_the_readme_results_tables_are_the_committed_results():
    """The README's two zoo tables quote docs/results and docs/results/report_budgets: a rerun that
    changes a figure must change the README too, or this fails."""
    minutes, budgets = results_rows("."), results_rows("report_budgets")
    section = README.split("### What the zoo reaches", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    checked = 0
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = re.fullmatch(r"`(\w+)`", cells[0]) if len(cells) >= 6 else None
        if not name or name[1] not in minutes:
            continue
        model = name[1]
        if cells[1] in ("gan", "vae"):  # the 3-minute table: model | family | images seen | FID | p / r | classes
            assert cells[3] == three_figures(minutes[model]["figures"]["fid"]), line
            assert cells[5] == three_figures(minutes[model]["figures"]["classes_covered"]), line
        else:  # the report-budgets table: model | epochs | time | **FID** (3-minute FID) | recall | classes
            row = budgets[model]
            assert cells[1].startswith(f"{round(row['epochs_of_data'])} "), line
            assert cells[3].replace("*", "") == (f"{three_figures(row['figures']['fid'])} "
                                                 f"({three_figures(minutes[model]['figures']['fid'])})"), line
            assert cells[4] == f"{row['figures']['recall']:.2g}", line
            assert cells[5] == three_figures(row["figures"]["classes_covered"]), line
        checked += 1
    assert checked == len(minutes) + len(budgets), checked  # every row of both tables was read



def test_the_readme_claims_table_is_the_committed_verdicts():
    """Every claim docs/results/results.json checks appears in the README's claims table with its
    source and verdict (a cell may add figures after the verdict)."""
    import json

    claims = json.loads((REPO / "docs" / "results" / "results.json").read_text())["claims"]
    table = README.split("| claim | source | verdict |\n|---|---|---|\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(table) == len(claims) and claims
    for claim, line in zip(claims, table):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert cells[:2] == [claim["claim"], claim["source"]], line
        assert cells[2].startswith(claim["verdict"]), (line, claim["verdict"])

def test_the_fid_example_prints_the_documented_figures(tmp_path, fid_weights):
    """The README's first ``keras-gen fid`` example, run as written (real MNIST from data/mnist, the
    real network), prints the block the README shows, figures to 3 significant digits. The weights
    are in ~/.cache/keras_gen already, as after a first run (test_fid_inception tests converting)."""
    command = next(c for c in COMMANDS if c.startswith("keras-gen fid mnist:test mnist:train"))
    seed_fid_weights(fid_weights, tmp_path / ".cache" / "keras_gen")
    block = re.search(r"```\n(FID .*?)\n```", README, re.S).group(1).splitlines()
    proc = shell(command, tmp_path, tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = proc.stdout.strip().splitlines()
    assert len(printed) == len(block), (printed, block)
    number = r"-?\d+\.\d+"
    for got, documented in zip(printed, block):
        assert re.sub(number, "#", got) == re.sub(number, "#", documented), (got, documented)
        for a, b in zip(re.findall(number, got), re.findall(number, documented)):
            assert float(a) == pytest.approx(float(b), rel=1e-3, abs=2e-5), (got, documented)


def test_the_readme_papers_table_is_the_committed_results():
    """The README's table beside the papers quotes docs/results/papers/results.json (FID, KID and
    training minutes of every measured row): a rerun that changes a figure must change the README."""
    import json

    results = json.loads((REPO / "docs" / "results" / "papers" / "results.json").read_text())
    section = README.split("### Beside the papers", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| `")]
    measured = [r for r in results["rows"] if r["result"]]
    assert len(lines) == len(measured) and measured, (lines, [r["row"] for r in measured])
    for row in measured:
        line = next(line for line in lines if line.startswith(f"| {row['label']} | {row['dataset']} |"))
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert cells[3] == f"{row['train_minutes']} min", line
        assert cells[4] == f"**{three_figures(row['result']['fid'])}**", line
        assert cells[5] == f"{row['result']['kid']:.4f}", line


def test_the_checkpoint_snippet_runs_as_written(tmp_path):
    """The README's Python snippet that loads a checkpoint after ``import keras_gen``, run in a
    fresh process on a real checkpoint (an untrained vae_mlp_2d, saved as train.py saves one)."""
    block = README.split("restores in any process that ran `import keras_gen`", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", block, re.S).group(1)
    path = re.search(r'load_model\("([^"]+)"\)', snippet).group(1)
    checkpoint = tmp_path / path
    checkpoint.parent.mkdir(parents=True)
    import models_zoo
    from keras_gen.config import resolve_config
    from keras_gen.training.build import compile_model

    model = models_zoo.build("vae_mlp_2d")  # saved here; loaded below in a fresh process, as the README says
    compile_model(model, resolve_config("vae_mlp_2d"))
    model.save(checkpoint)
    proc = subprocess.run([sys.executable, "-c", snippet + "\nprint(tuple(images.shape))\n"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "(4, 28, 28, 1)"


def test_the_readme_quotes_the_levers_page():
    """The README's sentence on the measured levers quotes docs/results/levers/results.json."""
    import json
    import statistics

    data = json.loads((REPO / "docs" / "results" / "levers" / "results.json").read_text())
    prior, mixture = (statistics.mean(r["fid"] for r in data["latent_sampler"][k])
                      for k in ("N(0, I) prior", "fitted mixture"))
    text = " ".join(README.split())
    assert f"lowers `vae_mlp`'s FID from {prior:.3g} to {mixture:.3g}" in text
    precision = {psi: statistics.mean(r["precision"] for r in runs) for psi, runs in data["truncation"].items()}
    assert f"precision rises from {precision['1']:.2f} at psi 1 to {precision['0.5']:.2f} at" in text
    fid = {(r["lever"], side): statistics.mean(run["fid"] for run in r["runs"][side])
           for r in data["rows"] for side in ("without", "with")}
    assert (f"`vae_mlp`'s FID went from {fid['lr_schedule', 'without']:.3g} to {fid['lr_schedule', 'with']:.3g}, the "
            f"MLP GAN's from {fid['lr_schedule_gan', 'without']:.3g} to {fid['lr_schedule_gan', 'with']:.3g}") in text
