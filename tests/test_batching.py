"""Request batching (``keras-gen serve --enable-batching``): concurrent requests run as one call and
each gets exactly its own rows; TF Serving's batching parameters file; a real server under
concurrent clients."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from keras_gen.serving.batching import Batcher, BatchingOptions, read_batching_parameters
from keras_gen.serving.repository import ApiError
from keras_gen.utils.errors import UserError


def _concurrently(batcher, call, requests):
    """Submit every request from its own thread at once; their results (or errors), in order."""
    results = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def client(i):
        start.wait()
        try:
            results[i] = batcher.run(("m", 1, "sample"), call, requests[i])
        except Exception as err:  # noqa: BLE001 (the test looks at it)
            results[i] = err

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_concurrent_requests_run_as_one_call_and_get_their_own_rows():
    calls = []

    def call(inputs):  # doubles each seed; records the batch it was given
        calls.append(len(inputs["seed"]))
        time.sleep(0.02)
        return {"images": inputs["seed"] * 2, "z": inputs["seed"][:, None] + np.zeros((1, 3))}

    batcher = Batcher(BatchingOptions(max_batch_size=64, batch_timeout_micros=500_000))
    requests = [{"seed": np.arange(i * 10, i * 10 + 1 + i % 3)} for i in range(12)]  # 1 to 3 rows each
    results = _concurrently(batcher, call, requests)
    for request, result in zip(requests, results):
        np.testing.assert_array_equal(result["images"], request["seed"] * 2)  # exactly its own rows
        assert result["z"].shape == (len(request["seed"]), 3)
    assert sum(calls) == sum(len(r["seed"]) for r in requests) and len(calls) <= 2  # one call, or two
    assert batcher.requests == 12 and batcher.batches == len(calls)


def test_the_batch_size_is_capped_and_errors_reach_every_request():
    sizes = []

    def call(inputs):
        sizes.append(len(inputs["seed"]))
        if 13 in inputs["seed"]:
            raise ApiError(400, "seed 13 is unlucky")
        return {"images": inputs["seed"]}

    batcher = Batcher(BatchingOptions(max_batch_size=4, batch_timeout_micros=300_000))
    results = _concurrently(batcher, call, [{"seed": np.array([i])} for i in range(8)] + [{"seed": np.arange(6)}])
    assert max(sizes) <= 6 and all(s <= 4 for s in sizes if s != 6)  # batches of at most 4; a bigger one alone
    assert [int(r["images"][0]) for r in results[:8]] == list(range(8))
    failing = _concurrently(batcher, call, [{"seed": np.array([12])}, {"seed": np.array([13])}])
    assert any(isinstance(r, ApiError) for r in failing)  # the batch with 13 failed for all its requests


def test_tf_servings_batching_parameters_file(tmp_path):
    path = tmp_path / "batching.txt"
    path.write_text("# TF Serving's text format\nmax_batch_size { value: 16 }\nbatch_timeout_micros { value: 5000 }\n"
                    "num_batch_threads { value: 3 }\n")
    assert read_batching_parameters(path) == BatchingOptions(16, 5000, 3, 100)
    assert read_batching_parameters(path, max_batch_size=8).max_batch_size == 8  # a flag wins
    path.write_text("allowed_batch_sizes { value: 8 }\n")
    with pytest.raises(UserError, match="allowed_batch_sizes is not supported"):
        read_batching_parameters(path)
    path.write_text("max_batch_size: 16\n")
    with pytest.raises(UserError, match="cannot read 'max_batch_size:'"):
        read_batching_parameters(path)
    with pytest.raises(UserError, match="max_batch_size must be an integer of at least 1"):
        BatchingOptions(max_batch_size=0)
