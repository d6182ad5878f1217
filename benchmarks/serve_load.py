#!/usr/bin/env python
"""``keras-gen serve`` under concurrent load: REST and gRPC, with and without request batching.

    python benchmarks/serve_load.py                      # a tiny export made here; 10 s per cell
    python benchmarks/serve_load.py --root saved_models --model vae_mlp_2d_mnist --seconds 30
    python benchmarks/serve_load.py --requests 100000 --clients 32   # the memory check (README)

Each cell runs 1, 8 or 32 loopback clients (threads of this process, each with its own HTTP
connection, kept alive across its requests, or its own gRPC channel)
sending batch-1 ``sample`` requests with fresh seeds for ``--seconds`` (or ``--requests`` in all),
and prints requests/s, images/s, median and 99th-percentile latency, errors, and the server's
resident memory (VmRSS) when it started and after the cell. With ``--requests`` each cell also
samples that memory after every tenth of its requests and prints the trace, so growth that levels
off (caches filled by the first requests) is told from a leak. Clients and server share this
machine's cores, so the figures are what one machine serving itself reaches; the machine and its
matmul peak are printed above the table (benchmarks/machine.py).

What batching can gain is bounded before any request is sent, and printed above the table: the
export's ``sample`` call, timed in this process at batch 1 and at the batch size the clients can
fill, gives how much more images/s one batched call makes than as many single calls (a ceiling set
by the model and the CPU); below the table, that call cost and each transport's unbatched
requests/s at the largest client count give Amdahl's ceiling for the whole request (its handling,
JSON or protobuf, HTTP and the clients' own work are not batched).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))


def tiny_export(root: Path) -> str:
    """vae_mlp_2d trained two steps on the shipped MNIST, exported under ``root``: its model name."""
    from keras_gen.config import resolve_config
    from keras_gen.training.run import train

    train(resolve_config("vae_mlp_2d", dataset="mnist", epochs=1, steps_per_epoch=2, batch_size=16,
                         run_dir=str(root.parent / "run"), export_dir=str(root), verbose=0), out=lambda *a: None)
    return "vae_mlp_2d_mnist"


def start(root: Path, batching: bool) -> tuple[subprocess.Popen, int, int]:
    args = [sys.executable, "-m", "keras_gen", "serve", str(root), "--port", "0", "--grpc-port", "0"]
    if batching:
        args += ["--enable-batching", "--max-batch-size", "64", "--batch-timeout-micros", "2000",
                 "--num-batch-threads", "2"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue = queue.Queue()  # a reader thread: select() cannot see lines already in the pipe's buffer
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    grpc_port = http_port = None
    deadline = time.time() + 300
    while http_port is None:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            if proc.poll() is not None or time.time() > deadline:
                raise SystemExit("keras-gen serve did not start") from None
            continue
        if m := re.search(r"^gRPC: [^:]+:(\d+)", line):
            grpc_port = int(m.group(1))
        if m := re.search(r" at http://[^:]+:(\d+)/v1/models", line):
            http_port = int(m.group(1))
    return proc, http_port, grpc_port


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024


def rest_client(port: int, model: str):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)  # reopened after each response

    def call(seed: int) -> bool:
        body = json.dumps({"signature_name": "sample", "inputs": {"seed": [seed]}})
        connection.request("POST", f"/v1/models/{model}:predict", body, {"Content-Type": "application/json"})
        reply = connection.getresponse()
        reply.read()
        return reply.status == 200

    return call


def grpc_client(port: int, model: str):
    import grpc
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))

    def call(seed: int) -> bool:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = "sample"
        request.inputs["seed"].CopyFrom(tf.make_tensor_proto(np.array([seed], np.int32)))
        try:
            stub.Predict(request, timeout=120)
            return True
        except grpc.RpcError:
            return False

    return call


def call_cost(export: Path, batch: int, seconds: float = 3.0) -> dict:
    """Seconds per ``sample`` call of the newest version under ``export`` at batch 1 and ``batch``
    (loaded with TensorFlow alone, as the server loads it), after five warm-up calls each."""
    import numpy as np

    from keras_gen.utils.native import import_tensorflow

    import_tensorflow()  # TensorFlow's start-up lines kept off the table
    import tensorflow as tf

    version = max((p for p in export.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    signature = tf.saved_model.load(str(version)).signatures["sample"]
    needs_label = "label" in signature.structured_input_signature[1]
    out = {}
    for size in (1, batch):
        inputs = {"seed": tf.constant(np.arange(size, dtype=np.int32))}
        if needs_label:
            inputs["label"] = tf.zeros([size], tf.int32)
        for _ in range(5):
            signature(**inputs)
        calls, begin = 0, time.perf_counter()
        while time.perf_counter() - begin < seconds:
            signature(**inputs)
            calls += 1
        out[size] = (time.perf_counter() - begin) / calls
    return out


def cell(make_client, clients: int, seconds: float, requests: int | None, pid: int | None = None) -> dict:
    """Run ``clients`` threads for ``seconds`` (or ``requests`` in all); with ``requests`` and the server's
    ``pid``, ``trace`` holds (requests sent, server MB) after each tenth of them."""
    latencies, errors, counter, lock, trace = [], [0], [0], threading.Lock(), []
    stop_at = time.monotonic() + seconds
    every = max(1, requests // 10) if requests and pid else None

    def worker(w):
        call = make_client()
        while True:
            with lock:
                if (requests is not None and counter[0] >= requests) or \
                        (requests is None and time.monotonic() >= stop_at):
                    return
                counter[0] += 1
                seed = counter[0]
                if every and seed % every == 0:
                    trace.append((seed, rss_mb(pid)))
            start = time.perf_counter()
            ok = call(seed)
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                errors[0] += not ok

    begin = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    wall = time.perf_counter() - begin
    latencies.sort()
    return {"requests": len(latencies), "per_s": len(latencies) / wall, "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], "errors": errors[0],
            "trace": trace}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", help="an export root (default: a tiny export made in a temporary directory)")
    p.add_argument("--model", default="vae_mlp_2d_mnist", help="the model to load (default vae_mlp_2d_mnist)")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per cell (10)")
    p.add_argument("--requests", type=int, help="requests per cell instead of seconds")
    p.add_argument("--clients", default="1,8,32", help="client counts (1,8,32)")
    p.add_argument("--transports", default="REST,gRPC", help="REST, gRPC or both (REST,gRPC)")
    p.add_argument("--batching", default="off,on", help="request batching: off, on or both (off,on)")
    args = p.parse_args(argv)
    from machine import cpu_info, describe, measure_peak

    print(f"# {describe(cpu_info(), measure_peak())}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.root) if args.root else Path(tmp) / "saved_models"
        model = args.model if args.root else tiny_export(root)
        clients_list = [int(c) for c in args.clients.split(",")]
        most = max(clients_list)
        cost = call_cost(root / model, most)
        print(f"# {model}'s sample call here: {1000 * cost[1]:.2f} ms at batch 1, {1000 * cost[most]:.2f} ms at "
              f"batch {most}: one call of {most} makes {most * cost[1] / cost[most]:.1f}x the images/s of {most} "
              f"calls of 1, the most batching can gain on this CPU", flush=True)
        rows, traces, unbatched = [], [], {}
        transports = [t.strip() for t in args.transports.split(",")]
        for batching in (b.strip() == "on" for b in args.batching.split(",")):
            proc, http_port, grpc_port = start(root, batching)
            try:
                started = rss_mb(proc.pid)
                for transport, factory in (("REST", lambda: rest_client(http_port, model)),
                                           ("gRPC", lambda: grpc_client(grpc_port, model))):
                    if transport not in transports:
                        continue
                    for clients in clients_list:
                        r = cell(factory, clients, args.seconds, args.requests, proc.pid)
                        if clients == most:
                            unbatched.setdefault(transport, {})[batching] = r["per_s"]
                        rows.append(f"| {transport} | {'on' if batching else 'off'} | {clients} | {r['requests']:,} | "
                                    f"{r['per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | "
                                    f"{started:,.0f} -> {rss_mb(proc.pid):,.0f} |")
                        print(rows[-1], flush=True)
                        if r["trace"]:
                            traces.append(f"| {transport} | {'on' if batching else 'off'} | {clients} | " +
                                          " | ".join(f"{mb:,.0f}" for _, mb in r["trace"]) + " |")
                            print(traces[-1], flush=True)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    print("\n| transport | batching | clients | requests | requests/s (= images/s) | p50 ms | p99 ms | errors | "
          "server MB (start -> after) |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    for transport, rates in unbatched.items():
        if False not in rates:
            continue
        # Amdahl: a request costs 1/rate of the machine; batching shrinks only its model call, from
        # cost[1] to cost[most] / most. The call above ran alone on an idle CPU: under load, calls overlap
        # and a request can cost the machine less than that call took, so the rest is at least 0 and the
        # bound at most what one batched call gains by itself.
        per_request = 1.0 / rates[False]
        bound = min(per_request / (max(per_request - cost[1], 0.0) + cost[most] / most), most * cost[1] / cost[most])
        measured = f", measured {rates[True] / rates[False]:.2f}x" if True in rates else ""
        print(f"\n{transport} at {most} clients: batching can gain at most {bound:.2f}x here (a request takes "
              f"{1000 * per_request:.2f} ms of the machine unbatched, {1000 * cost[1]:.2f} ms of it the model's "
              f"call){measured}")
    if traces:
        print("\nserver MB after each tenth of the requests:\n")
        print("| transport | batching | clients | " + " | ".join(f"{10 * i}%" for i in range(1, 11)) + " |")
        print("|---|---|---|" + "---|" * 10)
        print("\n".join(traces))
    return 0


if __name__ == "__main__":
    sys.exit(main())
