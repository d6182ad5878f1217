"""``--strategy multiworker`` with real worker processes on loopback, each with its own TF_CONFIG.

* a run whose worker 1 is SIGKILLed mid-epoch stops its chief with one line, and the same command
  started again on both workers continues from the last checkpoint (at most one epoch lost); the
  finished run then has both workers exiting 0 with identical weights, images / global batch steps
  per epoch, and files from the chief only (the other worker's scratch directory is gone);
* one step on two workers equals one step on one device with the same global batch, and every
  worker draws its own latents;
* a TF_CONFIG that does not parse, names no workers or points at a peer that never answers is one
  line and exit status 2, in seconds;
* the Keras version guard of the trainer workaround (keras_gen.families.base).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, assert_one_line_error

LIMIT, GLOBAL_BATCH, EPOCHS = 1024, 64, 2
STEPS_PER_EPOCH = LIMIT // GLOBAL_BATCH


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports: list[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def start_worker(args, *, ports, index, log: Path, env=None) -> subprocess.Popen:
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CONFIG": tf_config(ports, index),
                "KERAS_GEN_PEER_TIMEOUT": "120", "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen([sys.executable, *map(str, args)], cwd=REPO, env=full_env, stdout=open(log, "w"),
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str]:
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
        raise AssertionError(f"worker {proc.args} did not finish in {timeout} s; stderr:\n{stderr}")
    return proc.returncode, stderr


# ----------------------------------------------------------------------------- a run that loses a worker
@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory, tiny_mnist_dir):
    """Two workers train vae_mlp_2d; worker 1 is SIGKILLed during epoch 2; then both are started again
    with the same command (same TF_CONFIG) and finish the run."""
    root = tmp_path_factory.mktemp("cluster")
    ports = free_ports(2)
    args = [REPO / "train.py", "--model", "vae_mlp_2d", "--strategy", "multiworker", "--data-dir", tiny_mnist_dir,
            "--epochs", EPOCHS, "--limit", LIMIT, "--batch-size", GLOBAL_BATCH, "--run-dir", root / "run",
            "--export-dir", root / "exports"]
    scratch = {run: [root / f"tmp-{run}{i}" for i in range(2)] for run in ("first", "second")}
    for path in scratch["first"] + scratch["second"]:
        path.mkdir()
    latest = root / "run" / "checkpoints" / "latest.json"
    start = time.monotonic()

    first = [start_worker(args, ports=ports, index=i, log=root / f"first{i}.log",
                          env={"TMPDIR": str(scratch["first"][i])}) for i in range(2)]
    # Keras prints "Epoch 2/2" when epoch 2 begins (stdout unbuffered), after epoch 1's checkpoint:
    # kill worker 1 then, inside epoch 2 whatever the machine's speed (no delay to outlast).
    while f"Epoch {EPOCHS}/{EPOCHS}" not in (root / "first1.log").read_text():
        assert first[0].poll() is None and first[1].poll() is None, \
            (first[0].poll(), first[1].poll(), (root / "first0.log").read_text()[-3000:])
        assert time.monotonic() - start < 300, "epoch 2 did not begin within 300 s"
        time.sleep(0.05)
    os.kill(first[1].pid, signal.SIGKILL)
    killed_at = json.loads(latest.read_text())["epoch"]
    first[1].communicate()
    killed = time.monotonic()
    chief_rc, chief_err = finish(first[0], timeout=120)  # TensorFlow notices the missing heartbeats in seconds
    after_kill = json.loads(latest.read_text())
    chief_stopped = time.monotonic()

    second = [start_worker(args, ports=ports, index=i, log=root / f"second{i}.log",
                           env={"TMPDIR": str(scratch["second"][i])}) for i in range(2)]
    results = [finish(p, timeout=300) for p in second]
    return {"root": root, "args": args, "killed_at": killed_at, "chief_rc": chief_rc, "chief_err": chief_err,
            "after_kill": after_kill, "rcs": [rc for rc, _ in results], "errs": [err for _, err in results],
            "out": [(root / f"second{i}.log").read_text() for i in range(2)], "scratch": scratch,
            "seconds": {"until the kill": killed - start, "until the chief stopped": chief_stopped - killed,
                        "restarted run": time.monotonic() - chief_stopped}}


def test_a_lost_worker_stops_the_chief_with_one_line(cluster_run):
    assert cluster_run["killed_at"] == 1
    # TensorFlow's own C++ log lines (E0000 ... StartAbort UNAVAILABLE) come first; ours is the last
    # line, and there is no traceback.
    err = cluster_run["chief_err"]
    assert cluster_run["chief_rc"] == 2, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert line.startswith("train.py: error: --strategy multiworker: a worker was lost"), err
    for needle in ("/job:worker/replica:0/task:1 stopped answering", "epoch 1", "restart every worker"):
        assert needle in line


def test_restarted_workers_continue_from_the_last_checkpoint(cluster_run):
    print("multi-worker run, seconds:", {k: round(v, 1) for k, v in cluster_run["seconds"].items()})
    # Killed during epoch 2: epoch 2 never completed, and the restart resumed from epoch 1.
    assert cluster_run["after_kill"]["epoch"] == 1
    assert cluster_run["after_kill"]["steps"] == STEPS_PER_EPOCH
    assert cluster_run["rcs"] == [0, 0], cluster_run["errs"]
    for out in cluster_run["out"]:
        assert f"resuming from epoch 1 (step {STEPS_PER_EPOCH})" in out
    history = (cluster_run["root"] / "run" / "history.csv").read_text().splitlines()
    assert [int(row.split(",")[0]) for row in history[1:]] == [1, 2]  # one row per epoch, none twice


def test_workers_end_with_identical_weights_and_global_batch_steps(cluster_run):
    assert cluster_run["rcs"] == [0, 0], cluster_run["errs"]
    fingerprints = []
    for i, out in enumerate(cluster_run["out"]):
        line = next(line for line in out.splitlines() if line.startswith(f"worker {i} of 2:"))
        assert f"step {EPOCHS * STEPS_PER_EPOCH}," in line
        fingerprints.append(line.rsplit(" ", 1)[1])
    assert fingerprints[0] == fingerprints[1]
    latest = json.loads((cluster_run["root"] / "run" / "checkpoints" / "latest.json").read_text())
    assert latest["epoch"] == EPOCHS
    assert latest["steps"] == EPOCHS * LIMIT // GLOBAL_BATCH  # --batch-size is the global batch


def test_only_the_chief_writes_the_run_directory_and_the_export(cluster_run):
    root = cluster_run["root"]
    assert cluster_run["rcs"] == [0, 0], cluster_run["errs"]
    assert [p.name for p in (root / "exports" / "vae_mlp_2d_mnist").iterdir() if p.name.isdigit()] == ["1"]
    assert json.loads((root / "exports" / "vae_mlp_2d_mnist" / "1" / "assets" / "keras_gen.json").read_text())[
        "steps_trained"] == EPOCHS * STEPS_PER_EPOCH
    assert "SavedModel:" in cluster_run["out"][0] and "SavedModel:" not in cluster_run["out"][1]
    assert f"run directory: {root / 'run'}" in cluster_run["out"][0]
    checkpoints = {p.name for p in (root / "run" / "checkpoints").iterdir()}
    assert {"epoch-0001.keras", "epoch-0002.keras", "latest.json"} <= checkpoints, checkpoints
    shared = [*(root / "run").rglob("*"), *(root / "exports").rglob("*")]
    assert not [p for p in shared if "worker" in p.name], "a worker's file in the shared directories"
    # Worker 1 wrote its copies under its TMPDIR and deleted them; the chief needed no scratch.
    assert list(cluster_run["scratch"]["second"][1].iterdir()) == []
    assert list(cluster_run["scratch"]["second"][0].iterdir()) == []
    assert "run directory: " + str(cluster_run["scratch"]["second"][1]) in cluster_run["out"][1]


def test_workers_that_would_start_from_different_checkpoints_stop_with_one_line(cluster_run, tmp_path):
    """Worker 1 cannot see the chief's run directory (another --run-dir: storage not shared)."""
    assert cluster_run["rcs"] == [0, 0], cluster_run["errs"]
    ports, args = free_ports(2), [str(a) for a in cluster_run["args"]]
    args[args.index("--epochs") + 1] = str(EPOCHS + 1)
    elsewhere = list(args)
    elsewhere[elsewhere.index("--run-dir") + 1] = str(tmp_path / "not-shared")
    procs = [start_worker(a, ports=ports, index=i, log=tmp_path / f"w{i}.log") for i, a in enumerate([args, elsewhere])]
    for proc, needle in zip(procs, [f"this one from epoch {EPOCHS} (step {EPOCHS * STEPS_PER_EPOCH})",
                                    "this one from a new run"]):
        rc, err = finish(proc, timeout=120)
        assert rc == 2 and "Traceback" not in err, err
        line = err.strip().splitlines()[-1]
        assert "the workers would start from different checkpoints" in line and needle in line, err
    assert json.loads((cluster_run["root"] / "run" / "checkpoints" / "latest.json").read_text())["epoch"] == EPOCHS


# ----------------------------------------------------------------------------- one step, two workers
STEP_SCRIPT = r'''
import json, sys
import numpy as np
import tensorflow as tf

multiworker = sys.argv[1] == "multiworker"
strategy = tf.distribute.MultiWorkerMirroredStrategy() if multiworker else tf.distribute.get_strategy()

import keras
import models_zoo
from keras_gen.config import resolve_config
from keras_gen.datasets.idx import load_idx_arrays
from keras_gen.datasets.pipeline import build_train_set
from keras_gen.datasets.registry import REPO_DATA_DIR
from keras_gen.training.build import compile_model
from keras_gen.training.distributed import shard_by_data

GLOBAL_BATCH = 16
x, y = load_idx_arrays(REPO_DATA_DIR / "mnist", "train")
result, arrays = {}, {}
for name in sys.argv[3:]:
    # SGD: the update is lr * gradient, so a gradient N times too large shows.
    config = resolve_config(name, optimizer={"name": "sgd", "learning_rate": 0.01}, strategy="mirrored")
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = models_zoo.build(name)
        if name == "vae_mlp_2d":  # log-variance bias -30: sigma ~ 3e-7, z = mu, a deterministic step
            layer = model.encoder.get_layer("z_log_var")
            layer.bias.assign(tf.fill(layer.bias.shape, -30.0))
        compile_model(model, config)
    n = GLOBAL_BATCH * model.data_batch_multiplier
    ds = build_train_set(tf.data.Dataset.from_tensor_slices((x[:n], y[:n])), image_shape=model.image_shape,
                         value_range=model.value_range, batch_size=n, seed=0, shuffle=False)
    if multiworker:
        ds = shard_by_data(ds)
    before = [w.numpy().copy() for w in model.trainable_weights]
    logs = {k: float(v[-1]) for k, v in model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0).history.items()}
    after = [w.numpy() for w in model.trainable_weights]
    latents = strategy.experimental_local_results(strategy.run(lambda: model.random_latent(4)))
    for i, (b, a) in enumerate(zip(before, after)):
        arrays[f"{name}/before/{i}"], arrays[f"{name}/after/{i}"] = b, a
    arrays[f"{name}/latent"] = np.asarray(latents[0])
    result[name] = {"logs": logs, "weights": len(after), "replicas": strategy.num_replicas_in_sync,
                    "steps": model.steps_trained}
np.savez(sys.argv[2], **arrays)
print(json.dumps(result))
'''


def one_step_runs(tmp_path: Path, names: list[str], *, single: list[str]) -> tuple[list, dict]:
    """``([(logs, arrays)] of workers 0 and 1, (logs, arrays) on one device)``, the three processes at once."""
    ports = free_ports(2)
    procs = []
    for i in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CONFIG": tf_config(ports, i)}
        procs.append(subprocess.Popen([sys.executable, "-c", STEP_SCRIPT, "multiworker", tmp_path / f"w{i}.npz",
                                       *names], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    if single:
        procs.append(subprocess.Popen([sys.executable, "-c", STEP_SCRIPT, "single", tmp_path / "one.npz", *single],
                                      cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = []
    for proc, npz in zip(procs, ["w0.npz", "w1.npz", "one.npz"]):
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-4000:]
        outs.append((json.loads(stdout.strip().splitlines()[-1]), dict(np.load(tmp_path / npz))))
    return outs[:2], (outs[2] if single else None)


@pytest.fixture(scope="module")
def two_worker_step(tmp_path_factory):
    return one_step_runs(tmp_path_factory.mktemp("step"), ["vae_mlp_2d", "mlp_gan_small"], single=["vae_mlp_2d"])


def _weights(arrays, name, which):
    keys = sorted((k for k in arrays if k.startswith(f"{name}/{which}/")), key=lambda k: int(k.rsplit("/", 1)[1]))
    return [arrays[k] for k in keys]


def test_one_step_on_two_workers_equals_one_step_on_one_device(two_worker_step):
    workers, (one_logs, one) = two_worker_step
    (logs0, w0), (logs1, w1) = workers
    assert logs0["vae_mlp_2d"]["replicas"] == 2 and one_logs["vae_mlp_2d"]["replicas"] == 1
    assert logs0["vae_mlp_2d"]["steps"] == 1
    before, after = _weights(w0, "vae_mlp_2d", "before"), _weights(w0, "vae_mlp_2d", "after")
    one_before, one_after = _weights(one, "vae_mlp_2d", "before"), _weights(one, "vae_mlp_2d", "after")
    assert all(np.array_equal(a, b) for a, b in zip(before, one_before))  # the chief's initial values
    max_update = max(float(np.abs(a - b).max()) for a, b in zip(one_after, one_before))
    max_diff = max(float(np.abs(a - b).max()) for a, b in zip(after, one_after))
    # Loss averaged over the global batch: with a per-worker mean the update would be twice as large.
    assert max_update > 1e-3 and max_diff < 1e-3 * max_update
    for key in ("loss", "reconstruction", "kl"):
        np.testing.assert_allclose(logs0["vae_mlp_2d"]["logs"][key], one_logs["vae_mlp_2d"]["logs"][key], rtol=1e-4)


def test_workers_hold_identical_weights_and_draw_their_own_latents(two_worker_step):
    (logs0, w0), (logs1, w1) = two_worker_step[0]
    for name in ("vae_mlp_2d", "mlp_gan_small"):
        assert logs0[name]["logs"] == logs1[name]["logs"]
        assert all(np.array_equal(a, b) for a, b in zip(_weights(w0, name, "after"), _weights(w1, name, "after")))
    gan = logs0["mlp_gan_small"]["logs"]
    assert all(np.isfinite(v) for v in gan.values()) and 0.5 < gan["d_loss"] < 3.0
    # The seed generator's state is mirrored; each replica folds in its id, so the latents differ.
    assert not np.allclose(w0["mlp_gan_small/latent"], w1["mlp_gan_small/latent"])


@pytest.mark.slow
def test_every_family_trains_a_step_on_two_workers(tmp_path):
    """GAN, AC-GAN, CVAE and WGAN-GP (a few minutes on two CPU cores: WGAN-GP's double backprop)."""
    names = ["acgan", "cvae", "wgan_gp"]
    (logs0, w0), (logs1, w1) = one_step_runs(tmp_path, names, single=[])[0]
    for name in names:
        assert logs0[name]["replicas"] == 2 and logs0[name]["steps"] == 1
        assert logs0[name]["logs"] == logs1[name]["logs"] and all(np.isfinite(v) for v in logs0[name]["logs"].values())
        assert all(np.array_equal(a, b) for a, b in zip(_weights(w0, name, "after"), _weights(w1, name, "after")))
        assert not np.allclose(w0[f"{name}/latent"], w1[f"{name}/latent"])


# ----------------------------------------------------------------------------- bad TF_CONFIG
def test_bad_tf_config_is_one_line_in_seconds(tmp_path):
    own, silent = free_ports(2)  # nothing ever listens on ``silent``
    cases = {
        "unparsable": ('{"cluster": {"worker": ["127.0.0.1:1"]', ("TF_CONFIG does not parse as JSON",)),
        "no workers": (json.dumps({"cluster": {"ps": ["127.0.0.1:2222"]}, "task": {"type": "worker", "index": 0}}),
                       ("TF_CONFIG names no workers",)),
        "unreachable": (json.dumps({"cluster": {"worker": [f"127.0.0.1:{own}", f"127.0.0.1:{silent}"]},
                                    "task": {"type": "worker", "index": 0}}),
                        (f"worker 1 at 127.0.0.1:{silent} did not answer within 3 s", "KERAS_GEN_PEER_TIMEOUT")),
    }
    start = time.monotonic()
    procs = {name: subprocess.Popen(
        [sys.executable, REPO / "train.py", "--model", "vae_mlp_2d", "--strategy", "multiworker", "--run-dir",
         tmp_path / name], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CONFIG": text, "KERAS_GEN_PEER_TIMEOUT": "3"})
        for name, (text, _) in cases.items()}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert_one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr), *cases[name][1])
        assert not (tmp_path / name).exists()  # nothing written
    assert time.monotonic() - start < 180  # TensorFlow alone would wait for the peer for an hour


def test_read_tf_config_names_the_problem():
    from keras_gen.training.distributed import read_tf_config
    from keras_gen.utils.errors import UserError

    cluster = {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]}
    task = read_tf_config({"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}})})
    assert (task.rank, task.num_workers, task.is_chief) == (1, 2, False)
    assert task.peers == [("worker", 0, "10.0.0.1:2222")]
    chief = read_tf_config({"TF_CONFIG": json.dumps({"cluster": {**cluster, "chief": ["10.0.0.9:2222"]},
                                                     "task": {"type": "chief", "index": 0}})})
    assert chief.is_chief and chief.num_workers == 3
    for text, needle in [
        ("", "needs TF_CONFIG"),
        (json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 2}}), "task index 2"),
        (json.dumps({"cluster": {"worker": ["10.0.0.1"]}, "task": {"type": "worker", "index": 0}}), "not host:port"),
        (json.dumps({"cluster": cluster}), '"task"'),
        (json.dumps([1, 2]), 'no "cluster"'),
    ]:
        with pytest.raises(UserError, match=needle.replace("(", r"\(")):
            read_tf_config({"TF_CONFIG": text})


def test_a_lost_worker_is_named_even_when_tensorflow_does_not(tmp_path):
    """On a loaded machine a collective can abort before the coordination service names the dead
    task ("Graph execution error:" and a stack, nothing more): the peer whose port no longer
    answers is named instead (real sockets: one listening, one closed)."""
    from keras_gen.training.distributed import lost_worker

    with socket.socket() as alive, socket.socket() as closed:
        alive.bind(("127.0.0.1", 0))
        alive.listen(1)
        closed.bind(("127.0.0.1", 0))
        gone_port = closed.getsockname()[1]
        closed.close()  # nothing listens there now: connection refused, as for a killed worker
        me = ["127.0.0.1:1", f"127.0.0.1:{alive.getsockname()[1]}", f"127.0.0.1:{gone_port}"]
        environ = {"TF_CONFIG": json.dumps({"cluster": {"worker": me}, "task": {"type": "worker", "index": 0}})}
        bare = RuntimeError("Graph execution error:\n\nDetected at node StatefulPartitionedCall defined at:\n"
                            "  File \"train.py\", line 9\nCollective ops is aborted by: task unavailable")
        line = str(lost_worker(bare, tmp_path, environ))
        assert "(/job:worker/replica:0/task:2 stopped answering (connection refused))" in line, line
        assert "task:1" not in line and "no epoch completed" in line and "restart every worker" in line
        # TensorFlow's own line naming the task wins; without TF_CONFIG, the message's most telling line.
        named = RuntimeError("Graph execution error:\n/job:worker/replica:0/task:1\nheartbeat timeout")
        assert "(/job:worker/replica:0/task:1 stopped answering)" in str(lost_worker(named, tmp_path, environ))
        assert "(Collective ops is aborted by: task unavailable)" in str(lost_worker(bare, tmp_path, {}))


# ----------------------------------------------------------------------------- the version guard
def test_the_keras_workaround_is_guarded_by_version(monkeypatch):
    from keras_gen.families import multiworker as base  # the workarounds' own module
    from keras_gen.families.base import GenerativeModel

    assert issubclass(GenerativeModel, base.MultiWorkerTrainerFixes)

    assert base.KERAS_MULTIWORKER_FIXED_IN is None  # not fixed upstream yet: applies to the installed Keras
    assert base.keras_needs_multiworker_workaround()
    monkeypatch.setattr(base, "KERAS_MULTIWORKER_FIXED_IN", (3, 99, 0))
    assert base.keras_needs_multiworker_workaround("3.15.1")
    assert not base.keras_needs_multiworker_workaround("3.99.0")
    assert not base.keras_needs_multiworker_workaround("4.0.0.dev2027")
    assert base.version_tuple("3.16.0rc1") == (3, 16, 0)
