"""Training on more than one process: ``--strategy multiworker`` with ``tf.distribute``.

The engine is TensorFlow's ``MultiWorkerMirroredStrategy``: every worker runs the same command
with its own ``TF_CONFIG`` (``{"cluster": {"worker": ["host:port", ...]}, "task": {"type":
"worker", "index": i}}``), holds a full copy of the model, trains on its share of every global
batch and all-reduces the gradients, so every worker holds the same weights after every step.
This module adds what the strategy leaves to its user:

* :func:`read_tf_config` checks ``TF_CONFIG`` and says what is wrong in one line;
* :func:`wait_for_peers` waits (at most :data:`PEER_TIMEOUT_ENV` seconds) until every other
  worker's port answers, and names the one that does not, where TensorFlow would wait for an
  hour;
* :class:`Worker` says whether this process is the chief, which alone writes the run directory,
  the checkpoints and the export; the others write to a scratch directory they delete (Keras'
  documented pattern: every worker runs every callback, so collectives stay in step);
* :func:`continue_cluster_run` resumes a cluster run whose directory holds a run already, so a
  restarted worker (a pod restarted by Kubernetes) continues from the last checkpoint with the
  same command, and :func:`check_same_start` stops every worker with one line when they disagree
  on where they start (a run directory not on storage every worker mounts);
* :func:`shard_by_data` shards an input pipeline by element: the global batch (``--batch-size``)
  is split across all replicas of all workers;
* :func:`dtype_policy` sets Keras' ``mixed_float16`` policy while a ``--mixed-precision`` model
  is built;
* :class:`Cluster` puts these together as the steps of one run, so ``training/run.py:train``
  reads straight down (join, continue, place, build, check, shard, fit, finish).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path

from keras_gen.config import RunConfig
from keras_gen.utils.errors import UserError

TF_CONFIG_ENV = "TF_CONFIG"
PEER_TIMEOUT_ENV = "KERAS_GEN_PEER_TIMEOUT"  # seconds to wait for every peer's port to answer
DEFAULT_PEER_TIMEOUT = 120.0
WORKER_TYPES = ("chief", "worker")  # the task types MultiWorkerMirroredStrategy trains on


# --------------------------------------------------------------------------- TF_CONFIG
@dataclasses.dataclass(frozen=True)
class ClusterTask:
    """This process's place in the cluster ``TF_CONFIG`` describes."""

    cluster: dict  # {"chief": [...], "worker": [...]}: the training tasks only
    task_type: str
    task_index: int

    @property
    def tasks(self) -> list[tuple[str, int, str]]:
        """``[(type, index, "host:port")]`` of every training task, the chief first."""
        return [(kind, i, address) for kind in WORKER_TYPES for i, address in enumerate(self.cluster.get(kind, []))]

    @property
    def address(self) -> str:
        return self.cluster[self.task_type][self.task_index]

    @property
    def peers(self) -> list[tuple[str, int, str]]:
        return [t for t in self.tasks if (t[0], t[1]) != (self.task_type, self.task_index)]

    @property
    def num_workers(self) -> int:
        return len(self.tasks)

    @property
    def rank(self) -> int:
        """This task's position among all training tasks (0 = the chief)."""
        return [(kind, i) for kind, i, _ in self.tasks].index((self.task_type, self.task_index))

    @property
    def is_chief(self) -> bool:
        """The ``chief`` task, or worker 0 when the cluster has no chief (TensorFlow's rule)."""
        return self.rank == 0


def _split_address(address, where: str) -> tuple[str, int]:
    host, _, port = str(address).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"TF_CONFIG: {where} is {address!r}, not host:port; write every address as host:port, "
                        "e.g. 10.0.0.2:12345")
    return host.strip("[]"), int(port)


def read_tf_config(environ=None) -> ClusterTask:
    """The training cluster and this task from ``TF_CONFIG``; a :class:`UserError` naming the problem
    when it is missing, does not parse, names no workers or does not place this task in them."""
    environ = os.environ if environ is None else environ
    text = environ.get(TF_CONFIG_ENV, "")
    if not text.strip():
        raise UserError("--strategy multiworker needs TF_CONFIG set on every worker (see the README, "
                        "'Training on a cluster')")
    try:
        spec = json.loads(text)
    except ValueError as err:
        raise UserError(f"TF_CONFIG does not parse as JSON ({err}); it should read like "
                        '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}') from None
    cluster = spec.get("cluster") if isinstance(spec, dict) else None
    if not isinstance(cluster, dict):
        raise UserError('TF_CONFIG has no "cluster"; it should read like {"cluster": {"worker": ["host:port", ...]}, '
                        '"task": {"type": "worker", "index": 0}}')
    training = {kind: cluster.get(kind) or [] for kind in WORKER_TYPES}
    for kind, addresses in training.items():
        if not isinstance(addresses, list):
            raise UserError(f'TF_CONFIG: cluster "{kind}" must be a list of host:port addresses, got {addresses!r}')
    if not training["worker"] and not training["chief"]:
        raise UserError('TF_CONFIG names no workers: its cluster needs a "worker" list of host:port addresses '
                        f"(it has {', '.join(sorted(cluster)) or 'nothing'})")
    if len(training["chief"]) > 1:
        raise UserError(f'TF_CONFIG: a cluster has at most one "chief", got {len(training["chief"])}')
    for kind, addresses in training.items():
        for i, address in enumerate(addresses):
            _split_address(address, f"{kind} {i}")
    task = spec.get("task")
    if not isinstance(task, dict) or task.get("type") not in WORKER_TYPES:
        raise UserError(f'TF_CONFIG: "task" must name this process\'s place, e.g. {{"type": "worker", "index": 0}}; '
                        f"got {task!r}")
    index = task.get("index", 0)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(training[task["type"]]):
        raise UserError(f'TF_CONFIG: task index {index!r} is not one of the cluster\'s {len(training[task["type"]])} '
                        f'"{task["type"]}" entries (counted from 0)')
    return ClusterTask({k: [str(a) for a in v] for k, v in training.items() if v}, task["type"], index)


# --------------------------------------------------------------------------- peers
def peer_timeout(environ=None) -> float:
    environ = os.environ if environ is None else environ
    text = environ.get(PEER_TIMEOUT_ENV)
    if text is None or not text.strip():
        return DEFAULT_PEER_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise UserError(f"{PEER_TIMEOUT_ENV} must be a positive number of seconds, got {text!r}")
    return value


def _answers(host: str, port: int, timeout: float) -> str | None:
    """None when ``host:port`` accepts a TCP connection, else why not (one short phrase)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror:
        return f"host {host} does not resolve"
    except socket.timeout:
        return "no answer"
    except OSError as err:
        return os.strerror(err.errno).lower() if err.errno else str(err)


def _listen(task: ClusterTask) -> socket.socket:
    """Hold this task's own port while waiting, so peers that probe it meanwhile see it answer
    (TensorFlow's server takes the port over when the strategy is created)."""
    _, port = _split_address(task.address, f"{task.task_type} {task.task_index}")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("", port))
        listener.listen(64)
    except OSError as err:
        listener.close()
        reason = "in use by another process" if err.errno == errno.EADDRINUSE else os.strerror(err.errno or 0)
        raise UserError(f"--strategy multiworker: this task ({task.task_type} {task.task_index} at {task.address} in "
                        f"TF_CONFIG) cannot listen on port {port}: {reason}; free the port or give this task "
                        "another one in every worker's TF_CONFIG") from None
    return listener


def wait_for_peers(task: ClusterTask, timeout: float, *, poll: float = 0.25) -> None:
    """Return once every other task's port accepts a connection; after ``timeout`` seconds a
    :class:`UserError` names the first that does not."""
    pending = task.peers
    if not pending:
        return
    listener = _listen(task)
    try:
        deadline = time.monotonic() + timeout
        while True:
            still, reasons = [], {}
            for kind, i, address in pending:
                host, port = _split_address(address, f"{kind} {i}")
                reason = _answers(host, port, timeout=min(2.0, max(timeout, 0.1)))
                if reason is not None:
                    still.append((kind, i, address))
                    reasons[(kind, i)] = reason
            pending = still
            if not pending:
                return
            if time.monotonic() >= deadline:
                kind, i, address = pending[0]
                others = f" (and {len(pending) - 1} more)" if len(pending) > 1 else ""
                raise UserError(f"--strategy multiworker: {kind} {i} at {address} did not answer within "
                                f"{timeout:g} s ({reasons[(kind, i)]}){others}; start every worker TF_CONFIG lists, "
                                f"check the address, or set {PEER_TIMEOUT_ENV} to wait longer")
            time.sleep(poll)
    finally:
        listener.close()


def multiworker_strategy():
    """``MultiWorkerMirroredStrategy`` for ``TF_CONFIG``, after checking it and waiting for the peers."""
    import tensorflow as tf

    task = read_tf_config()
    wait_for_peers(task, peer_timeout())
    # AUTO: NCCL all-reduce between GPUs, gRPC rings between CPUs.
    return tf.distribute.MultiWorkerMirroredStrategy()


# --------------------------------------------------------------------------- the workers' files
@dataclasses.dataclass
class Worker:
    """This process's role: the chief writes the run directory and the export; another worker
    writes the same files to a scratch directory it deletes when training ends."""

    index: int = 0
    count: int = 1
    is_chief: bool = True
    scratch: Path | None = None

    @classmethod
    def of(cls, strategy_name: str) -> "Worker":
        if strategy_name != "multiworker":
            return cls()
        task = read_tf_config()
        return cls(index=task.rank, count=task.num_workers, is_chief=task.is_chief)

    def write_dir(self, run_dir: Path) -> Path:
        """Where this worker writes what the chief writes to ``run_dir``."""
        if self.is_chief:
            return run_dir
        if self.scratch is None:
            self.scratch = Path(tempfile.mkdtemp(prefix=f"keras_gen-worker{self.index}-"))
            atexit.register(shutil.rmtree, self.scratch, ignore_errors=True)
        return self.scratch

    def cleanup(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def continue_cluster_run(config: RunConfig, resume_from: Path | None) -> tuple[Path | None, RunConfig]:
    """``(run to resume, its config)``: with ``--strategy multiworker`` and a ``--run-dir`` that
    holds a run, that run is continued (as ``--resume`` would) -- a restarted worker runs the same
    command as before; otherwise ``(resume_from, config)`` unchanged."""
    from keras_gen.training.resume import resume_config

    if resume_from is not None or config.strategy != "multiworker" or not config.run_dir:
        return resume_from, config
    run_dir = Path(config.run_dir)
    if not (run_dir / "config.json").is_file():
        return None, config
    overrides = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    return run_dir, resume_config(run_dir, overrides)


def check_global_batch(strategy, batch_size: int) -> None:
    """``--batch-size`` is the global batch: it must split evenly over the replicas (uneven shares
    would weigh the examples of the smaller ones more in the global-batch average)."""
    replicas = strategy.num_replicas_in_sync
    if replicas > 1 and batch_size % replicas:
        raise UserError(f"--batch-size {batch_size} is the global batch and does not split evenly over the "
                        f"{replicas} replicas (workers x devices); pass a multiple of {replicas}")


def check_same_start(strategy, run_dir: Path | None) -> None:
    """Stop with one line on every worker unless all would start from the same checkpoint of
    ``run_dir`` (None: a new run). Run before the model is built: workers that built different
    variables would fail in TensorFlow's collectives with no hint why. They disagree when the
    chief's run directory is not visible to every worker (it must be on storage all of them
    mount). One all-reduce; nothing without several workers."""
    import tensorflow as tf

    from keras_gen.families.multiworker import in_multi_worker_mode
    from keras_gen.rundir.checkpoints import latest_checkpoint

    if not in_multi_worker_mode(strategy):
        return
    record = latest_checkpoint(Path(run_dir) / "checkpoints") if run_dir is not None else None
    epoch, steps = (int(record["epoch"]), int(record["steps"])) if record else (0, 0)
    mine = tf.constant([epoch, steps, epoch * epoch, steps * steps], tf.float64)

    @tf.function
    def mean_over_workers():
        return strategy.reduce("MEAN", strategy.run(lambda: tf.identity(mine)), axis=None)

    mean = mean_over_workers().numpy()
    if mean[2] - mean[0] ** 2 > 1e-6 or mean[3] - mean[1] ** 2 > 1e-6:  # a variance: zero only when all agree
        here = f"epoch {epoch} (step {steps}) of {run_dir}" if record else "a new run"
        raise UserError(f"--strategy multiworker: the workers would start from different checkpoints (this one from "
                        f"{here}); put the run directory on storage every worker mounts and give every worker "
                        "the same --run-dir")


def lost_worker(err: Exception, run_dir: Path, environ=None) -> UserError:
    """The one line a worker prints when a peer stopped answering during training (TensorFlow's
    coordination service notices a dead worker within seconds and aborts every collective)."""
    from keras_gen.rundir.checkpoints import latest_checkpoint

    latest = latest_checkpoint(Path(run_dir) / "checkpoints")
    where = f"the last complete checkpoint is epoch {latest['epoch']}" if latest else "no epoch completed"
    return UserError(f"--strategy multiworker: a worker was lost ({_lost_reason(err, environ)}); {where} of "
                     f"{run_dir}: restart every worker with the same command (and --run-dir) to continue from it")


def _lost_reason(err: Exception, environ=None) -> str:
    """Which peer is gone. TensorFlow's error names it on a line of its own when the coordination
    service saw it miss heartbeats; on a loaded machine a collective may abort first, with only
    "Graph execution error:" and, at most, a task named in passing. Then a peer whose port no longer
    accepts connections is the one (a killed worker's server is gone), and failing that the task
    the message mentions that is not this one."""
    lines = [line.strip() for line in str(getattr(err, "message", err)).splitlines() if line.strip()]
    unhealthy = next((line for line in lines if line.startswith("/job:")), None)
    if unhealthy:
        return f"{unhealthy} stopped answering"
    try:
        task = read_tf_config(environ)
    except UserError:
        task = None
    if task is not None:
        why = {f"/job:{kind}/replica:0/task:{i}": _answers(*_split_address(address, f"{kind} {i}"), 1.0)
               for kind, i, address in task.peers}
        gone = [f"{name} stopped answering ({reason})" for name, reason in why.items() if reason]
        if gone:
            return ", ".join(gone)
        me = f"/job:{task.task_type}/replica:0/task:{task.task_index}"
        named = [m for m in re.findall(r"/job:\w+/replica:\d+/task:\d+", "\n".join(lines)) if m != me]
        if named:
            return f"{named[0]} stopped answering"
    telling = [line for line in lines if not line.startswith(("Graph execution error", "Detected at node", "File "))]
    return (telling[-1] if telling else lines[0] if lines else type(err).__name__)[:160]


def weights_fingerprint(model) -> str:
    """A short digest of every weight: equal on every worker of a run that trained correctly."""
    import numpy as np

    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()[:16]


def model_to_export(model, config: RunConfig):
    """The in-memory model to export, or None to load the checkpoint instead: a mixed-precision
    model (loaded under the float32 policy, its serving graph has no float16) and a multi-worker
    one (loaded outside the strategy, its variables are plain ones) go through the checkpoint."""
    if config.keep_best or model.mixed_precision or config.strategy == "multiworker":
        return None
    return model


# --------------------------------------------------------------------------- input and precision
def shard_by_data(dataset):
    """``dataset`` sharded by element across workers (``AutoShardPolicy.DATA``): every worker
    reads the same files and keeps its share of each global batch, so ``--batch-size`` stays the
    global batch whatever the number of workers (FILE sharding would need at least one file per
    worker, and the datasets here are few files or arrays)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def mixed_policy() -> tuple[str, str | None]:
    """``(Keras mixed policy, why it is slower than float32 here or None)``: ``mixed_float16`` on a
    GPU (tensor cores; with loss scaling), ``mixed_bfloat16`` on a CPU that computes bfloat16
    natively (AVX512-BF16 or AMX: oneDNN's bfloat16 kernels; no loss scaling needed), and
    elsewhere ``mixed_float16`` with the reason it will not pay."""
    import tensorflow as tf

    from keras_gen.utils.cpu import BFLOAT16_FLAGS, cpu_model_and_flags

    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16", None
    model, flags = cpu_model_and_flags()
    if set(BFLOAT16_FLAGS) & flags:
        return "mixed_bfloat16", None
    return "mixed_float16", (f"this CPU ({model}) has no native bfloat16 or float16 arithmetic (no AVX512-BF16 or "
                             "AMX), so TensorFlow converts to and from float16 around every op and mixed precision "
                             "trains slower than float32 here; it pays on GPUs and bfloat16 CPUs")


# What the run's log says of the policy it trains in (benchmarks/README.md has the measurements).
MIXED_WHY = {
    "mixed_float16": "float16 on the GPU, with loss scaling",
    "mixed_bfloat16": "this CPU computes bfloat16 natively; measured on one, it paid for convolutional models "
                      "(1.15-1.32x the images/s) and not for fully connected ones (0.81-0.99x): "
                      "benchmarks/README.md",
}


@contextlib.contextmanager
def dtype_policy(mixed_precision: bool, out=print):
    """The mixed policy of :func:`mixed_policy` while a ``--mixed-precision`` model is built (layers
    take the global policy when they are created), saying why when it will be slow; the previous
    policy afterwards."""
    import keras

    previous = keras.config.dtype_policy()
    if mixed_precision:
        policy, slower = mixed_policy()
        out(f"mixed precision: {policy} ({MIXED_WHY[policy] if not slower else 'see the note'})")
        if slower:
            out(f"note: --mixed-precision: {slower}")
        keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


# --------------------------------------------------------------------------- one run's view
@dataclasses.dataclass
class Cluster:
    """One training run's view of the processes it trains on: the strategy, this worker's role and
    every step of :func:`keras_gen.training.run.train` that depends on them, in the order the run
    takes them. Without ``--strategy multiworker`` it is a single chief and each step is a no-op."""

    strategy: object  # a tf.distribute.Strategy
    worker: Worker
    multiworker: bool

    @classmethod
    def join(cls, config: RunConfig, strategy) -> "Cluster":
        return cls(strategy, Worker.of(config.strategy), config.strategy == "multiworker")

    @property
    def is_chief(self) -> bool:
        return self.worker.is_chief

    def continue_run(self, config: RunConfig, resume_from: Path | None) -> tuple[Path | None, RunConfig]:
        """A restarted worker's command continues the cluster's run (:func:`continue_cluster_run`)."""
        return continue_cluster_run(config, resume_from)

    def place(self, config: RunConfig, resume_from: Path | None, open_run_dir) -> tuple[Path, Path, RunConfig]:
        """``(run directory, where this worker writes, config)``: the chief opens the run directory
        (``open_run_dir(config, resume_from)``) and writes there; another worker names it (a new run's
        is the chief's to create) and writes to its scratch directory, and does not export."""
        if self.is_chief or resume_from is not None:
            run_dir, config = open_run_dir(config, resume_from)
        else:
            from keras_gen.training.resume import RUNS_ROOT

            run_dir = Path(config.run_dir) if config.run_dir else self.worker.write_dir(RUNS_ROOT)
            config = config.replace(run_dir=str(run_dir))
        if not self.is_chief:
            config = config.replace(export=False)
        return run_dir, self.worker.write_dir(run_dir), config

    @contextlib.contextmanager
    def building(self, config: RunConfig, resumed_run: Path | None):
        """Where the model is built or restored: every worker agrees on the checkpoint first
        (:func:`check_same_start`), then the dtype policy and the strategy's scope."""
        check_same_start(self.strategy, resumed_run)  # before any variable exists
        with dtype_policy(config.mixed_precision), self.strategy.scope():
            yield

    def check_batch(self, batch_size: int) -> None:
        check_global_batch(self.strategy, batch_size)

    def shard(self, dataset):
        """Each worker's share of every global batch (:func:`shard_by_data`); the dataset itself alone."""
        return shard_by_data(dataset) if self.multiworker else dataset

    def lost(self, err: Exception, run_dir: Path) -> UserError | None:
        """The one-line error for a collective that failed because a peer died; None on one worker."""
        return lost_worker(err, run_dir) if self.multiworker else None

    def finish(self, model, run_dir: Path, *, out=print) -> bool:
        """After training: the weights' fingerprint on every worker of several (equal when the run
        trained correctly); a worker that is not the chief removes its scratch directory. Whether
        this process goes on to export."""
        if self.worker.count > 1:
            out(f"worker {self.worker.index} of {self.worker.count}: step {model.steps_trained}, weights fingerprint "
                f"{weights_fingerprint(model)}")
        if not self.is_chief:
            self.worker.cleanup()
            out(f"worker {self.worker.index}: done; the chief (worker 0) wrote {run_dir} and the export")
        return self.is_chief
