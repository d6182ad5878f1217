"""Request batching as TF Serving's ``--enable_batching`` does it: concurrent requests to one
signature of one model version wait up to ``batch_timeout_micros`` for each other, run as one call
of up to ``max_batch_size`` rows, and each gets exactly its own rows back. At most
``num_batch_threads`` batches run at once; a queue holding ``max_enqueued_batches`` batches' worth
of requests refuses more (TF Serving's UNAVAILABLE, HTTP 503 here).

``keras-gen serve --enable-batching`` takes the four settings as flags or from a
``--batching-parameters-file`` in TF Serving's text format::

    max_batch_size { value: 32 }
    batch_timeout_micros { value: 2000 }
    num_batch_threads { value: 2 }
    max_enqueued_batches { value: 100 }

A request larger than ``max_batch_size`` runs alone (TF Serving would split it; the exports' own
``max_batch`` cap still applies first). A batched reply equals the unbatched one to float rounding:
a matrix product over a larger batch may round its last bit differently, as in TF Serving.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from keras_gen.serving.repository import ApiError
from keras_gen.utils.errors import UserError

FIELDS = ("max_batch_size", "batch_timeout_micros", "num_batch_threads", "max_enqueued_batches")


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    max_batch_size: int = 32
    batch_timeout_micros: int = 2000  # how long the first request of a batch waits for others
    num_batch_threads: int = 2
    max_enqueued_batches: int = 100

    def __post_init__(self):
        for name in FIELDS:
            value, least = getattr(self, name), 0 if name == "batch_timeout_micros" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise UserError(f"batching parameter {name} must be an integer of at least {least}, got {value!r}")


def read_batching_parameters(path: str | Path, **overrides) -> BatchingOptions:
    """TF Serving's ``--batching_parameters_file`` (text-format ``BatchingParameters``): the four
    fields above; anything else (``allowed_batch_sizes``, padding) is a UserError naming it."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise UserError(f"cannot read the batching parameters file {path}: {err.strerror or err}") from None
    values, rest = {}, re.sub(r"#.*", "", text)
    for name, value in re.findall(r"(\w+)\s*\{\s*value\s*:\s*(-?\d+)\s*\}", rest):
        if name not in FIELDS:
            raise UserError(f"{path}: batching parameter {name} is not supported by this server (it takes "
                            f"{', '.join(FIELDS)})")
        values[name] = int(value)
    leftover = re.sub(r"(\w+)\s*\{\s*value\s*:\s*(-?\d+)\s*\}", "", rest).strip()
    if leftover:
        raise UserError(f"{path}: cannot read {leftover.split()[0]!r}; write each parameter as "
                        "'max_batch_size { value: 32 }'")
    return BatchingOptions(**{**values, **{k: v for k, v in overrides.items() if v is not None}})


@dataclasses.dataclass
class _Pending:
    arrays: dict
    rows: int
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    result: dict | None = None
    error: BaseException | None = None


class _Queue:
    def __init__(self):
        self.items: list[_Pending] = []
        self.cond = threading.Condition()


class Batcher:
    """Batches the calls of :meth:`run` that share a key (model, version, signature)."""

    def __init__(self, options: BatchingOptions):
        self.options = options
        self._queues: dict[tuple, _Queue] = {}
        self._lock = threading.Lock()
        self._running = threading.Semaphore(options.num_batch_threads)
        self.batches = 0  # calls made, and requests served by them: the batching's effect
        self.requests = 0

    def run(self, key: tuple, call: Callable[[dict], dict], arrays: dict) -> dict:
        """``call`` (``{input: [B, ...]}`` -> ``{output: [B, ...]}``) on ``arrays`` joined with the
        concurrent requests of the same ``key``; this request's rows of the outputs."""
        rows = len(next(iter(arrays.values())))
        pending = _Pending(arrays, rows)
        queue = self._queue(key, call)
        with queue.cond:
            if len(queue.items) >= self.options.max_enqueued_batches * self.options.max_batch_size:
                raise ApiError(503, "the batching queue is full; retry later, or raise max_enqueued_batches")
            queue.items.append(pending)
            queue.cond.notify()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _queue(self, key, call) -> _Queue:
        with self._lock:
            if key not in self._queues:
                self._queues[key] = _Queue()
                threading.Thread(target=self._serve, args=(self._queues[key], call), daemon=True,
                                 name=f"batcher-{'-'.join(map(str, key))}").start()
            return self._queues[key]

    def _take(self, queue: _Queue) -> list[_Pending]:
        """The next batch: the oldest request, and those that arrive within the timeout while the
        rows fit in max_batch_size."""
        limit, timeout = self.options.max_batch_size, self.options.batch_timeout_micros / 1e6
        with queue.cond:
            while not queue.items:
                queue.cond.wait()
            deadline = time.monotonic() + timeout
            while True:
                batch, rows = [], 0
                for item in queue.items:
                    if batch and rows + item.rows > limit:
                        break
                    batch.append(item)
                    rows += item.rows
                left = deadline - time.monotonic()
                if rows >= limit or len(batch) < len(queue.items) or left <= 0:
                    break
                queue.cond.wait(left)
            del queue.items[:len(batch)]
            return batch

    def _serve(self, queue: _Queue, call) -> None:
        while True:
            batch = self._take(queue)
            with self._running:
                try:
                    joined = {k: np.concatenate([p.arrays[k] for p in batch]) for k in batch[0].arrays}
                    outputs = call(joined)
                    start = 0
                    for p in batch:
                        p.result = {k: v[start:start + p.rows] for k, v in outputs.items()}
                        start += p.rows
                except BaseException as err:  # every request of the batch gets the error
                    for p in batch:
                        p.error = err
                self.batches += 1
                self.requests += len(batch)
            for p in batch:
                p.done.set()
