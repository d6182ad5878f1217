#!/usr/bin/env python
"""Latency and throughput of an export's signatures: ``sample`` (seeds -> images, latents drawn
inside) against ``generate`` (latents -> images) at batch 1, 64 and 1,024, as a SavedModel loaded
in plain TensorFlow, as TFLite and through ONNX Runtime.

    python benchmarks/export_latency.py                              # mlp_gan_wide, vae_mlp, dcgan
    python benchmarks/export_latency.py --models vae_mlp --batches 1,64,1024 --out latency.json

Each model is built untrained (weights do not change speed), exported with keras_gen's own
exporter into a temporary directory and converted with ``keras-gen export --format tflite/onnx``'s
code. Every call is warmed up, then ``generate`` and ``sample`` are called alternately for about
twice ``--seconds``; the table gives the median ms per call, images/s and ``sample / generate``:
what drawing the latents inside the signature costs on top of the network (the target: at most
1.2x at every batch size), in each format (the seed signatures convert since keras_gen 0.2, and
draw from noise tables since 0.3: keras_gen/utils/seeded.py). The machine line (CPU, instruction
sets, load, TensorFlow's measured matmul throughput) is printed first. TensorFlow is imported
before keras_gen, so the SavedModel runs as plain TensorFlow or TF Serving would run it: with
TensorFlow's own oneDNN default (keras_gen turns oneDNN on for training).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def timed_pair(first, second, seconds: float) -> tuple[float, float]:
    """Median seconds per call of ``first()`` and of ``second()``, called alternately for about
    ``seconds`` (at least 5 calls each) after 3 warm-ups each: a drift in the machine's speed hits
    both alike, which timing one block after the other did not (ONNX Runtime's thread pool, or a
    neighbour waking, moved one kind's median by up to 1.7x)."""
    for _ in range(3):
        first(), second()
    times, start = ([], []), time.perf_counter()
    while len(times[0]) < 5 or time.perf_counter() - start < seconds:
        for call, out in ((first, times[0]), (second, times[1])):
            t = time.perf_counter()
            call()
            out.append(time.perf_counter() - t)
    return statistics.median(times[0]), statistics.median(times[1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="mlp_gan_wide,vae_mlp,dcgan")
    p.add_argument("--batches", default="1,64,1024")
    p.add_argument("--formats", default="saved_model,tflite,onnx")
    p.add_argument("--seconds", type=float, default=2.0, help="timing per call kind (default 2)")
    p.add_argument("--out", help="write the rows as JSON here")
    args = p.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    import models_zoo
    from keras_gen.export.convert import export_onnx, export_tflite
    from keras_gen.export.saved_model import export_model

    from machine import cpu_info, describe, measure_peak

    info, peak = cpu_info(), measure_peak()
    print(describe(info, peak), flush=True)
    batches = [int(b) for b in args.batches.split(",")]
    formats = args.formats.split(",")
    rows = []
    print(f"{'model':14s} {'format':12s} {'batch':>6s} {'generate ms':>12s} {'sample ms':>10s} "
          f"{'sample/generate':>16s} {'generate img/s':>15s}")
    for name in args.models.split(","):
        model = models_zoo.build(name)
        with tempfile.TemporaryDirectory() as tmp:
            path = export_model(model, tmp, model_name=name, dataset="mnist", steps=0)
            loaded = tf.saved_model.load(str(path))
            sample, generate = loaded.signatures["sample"], loaded.signatures["generate"]
            runners = {}  # format -> (generate(z), sample(seeds)), numpy in and out
            if "tflite" in formats:
                lite = export_tflite(path, tmp)
                interpreter = tf.lite.Interpreter(model_path=str(lite / "model.tflite"), num_threads=os.cpu_count())
                lite_generate = interpreter.get_signature_runner("generate")
                lite_sample = interpreter.get_signature_runner("sample")
                runners["tflite"] = (lambda z, f=lite_generate: f(z=z), lambda s, f=lite_sample: f(seed=s))
            if "onnx" in formats:
                import onnxruntime

                onnx_dir = export_onnx(path, tmp)
                sessions = {sig: onnxruntime.InferenceSession(str(onnx_dir / f"{sig}.onnx"),
                                                              providers=["CPUExecutionProvider"])
                            for sig in ("generate", "sample")}
                runners["onnx"] = (lambda z, g=sessions["generate"]: g.run(None, {"z": z}),
                                   lambda s, f=sessions["sample"]: f.run(None, {"seed": s}))
            if "saved_model" in formats:
                runners = {"saved_model": (lambda z: generate(z=tf.constant(z))["images"].numpy(),
                                           lambda s: sample(seed=tf.constant(s))["images"].numpy()), **runners}
            for b in batches:
                z = np.random.default_rng(1).standard_normal((b, model.latent_dim)).astype(np.float32)
                seeds = np.arange(b, dtype=np.int32)
                for fmt, (gen, samp) in runners.items():
                    if fmt == "tflite":  # the signature runner resizes its inputs to each new batch size
                        gen(z), samp(seeds)
                    generate_s, sample_s = timed_pair(lambda: gen(z), lambda: samp(seeds), 2 * args.seconds)
                    row = {"model": name, "format": fmt, "batch": b, "generate_s": generate_s, "sample_s": sample_s}
                    row["sample_over_generate"] = row["sample_s"] / row["generate_s"]
                    rows.append(row)
                    print(f"{name:14s} {fmt:12s} {b:6d} {1e3 * row['generate_s']:12.2f} {1e3 * row['sample_s']:10.2f} "
                          f"{row['sample_over_generate']:15.2f}x {b / row['generate_s']:15.0f}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": {**info, "peak": peak}, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
