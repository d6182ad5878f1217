"""``keras-gen serve`` (issue 16): TF Serving's REST API over an export root, tested against a real
server subprocess on a free port of 127.0.0.1.

Two tiny exports (``vae_mlp_2d`` and the conditional GAN ``cgan``: two training steps each on real
MNIST) are trained once per session by :func:`explorer_root`, which the browser test reuses. Every
reply is checked against the SavedModel loaded here with plain ``tf.saved_model.load``; the
README's curl examples run as written; every bad request gets its 4xx and one clear message, and
the server still answers afterwards.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, assert_one_line_error, run_in_process

MODELS = ("vae_mlp_2d", "cgan")
KERAS_GEN = Path(sys.executable).parent / "keras-gen"


# --------------------------------------------------------------------------- shared with the browser test
def explorer_root(tmp_path_factory, data_dir) -> Path:
    """An export root with the two tiny exports, trained once per session (in this process: one
    TensorFlow import) into the session's base temporary directory."""
    root = tmp_path_factory.getbasetemp() / "explorer_exports" / "saved_models"
    done = root.parent / "done"
    if not done.exists():
        from keras_gen.config import resolve_config
        from keras_gen.training.run import train

        for name in MODELS:
            config = resolve_config(name, dataset="mnist", data_dir=str(data_dir), epochs=1, steps_per_epoch=2,
                                    batch_size=16, jit_compile=False, steps_per_execution=1,
                                    run_dir=str(root.parent / "runs" / name), export_dir=str(root), verbose=0)
            train(config, out=lambda *a: None)
        done.write_text("ok")
    return root


def command(*args) -> list[str]:
    """``keras-gen ARGS`` as the console script runs it (``python -m keras_gen`` if it is not installed)."""
    head = [str(KERAS_GEN)] if KERAS_GEN.exists() else [sys.executable, "-m", "keras_gen"]
    return head + [str(a) for a in args]


def env() -> dict:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def start_server(args, log: Path, pattern: str, timeout: float = 240) -> tuple[subprocess.Popen, str]:
    """Start ``keras-gen ARGS`` with stderr to ``log``; wait for the stdout line naming its URL."""
    err = open(log, "w")
    proc = subprocess.Popen(command(*args), cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=err, text=True)
    err.close()
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        if select.select([proc.stdout], [], [], 0.5)[0]:
            line = proc.stdout.readline()
            seen.append(line)
            match = re.search(pattern, line)
            if match:
                return proc, match.group(1)
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"{args} did not start: {''.join(seen)}\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def http(method: str, url: str, body=None, *, raw: bytes | None = None) -> tuple[int, dict]:
    """``(status, JSON reply)`` of one request; 4xx and 5xx replies are returned, not raised."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def root(tmp_path_factory, tiny_mnist_dir):
    return explorer_root(tmp_path_factory, tiny_mnist_dir)


@pytest.fixture(scope="module")
def server(root, tmp_path_factory):
    """``keras-gen serve ROOT --port 0`` (a free port, printed), running for the module; the probe of
    :func:`test_the_server_runs_signatures_without_model_code` starts with it (their imports overlap)."""
    log = tmp_path_factory.mktemp("serve") / "stderr.txt"
    probe = subprocess.Popen([sys.executable, "-c", PROBE, str(root)], cwd=REPO, env=env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    proc, grpc_port = start_server(["serve", root, "--port", "0", "--grpc-port", "0"], log,
                                   r"^gRPC: 127\.0\.0\.1:(\d+) ")
    url = re.search(r" at (http://127\.0\.0\.1:\d+)/v1/models", proc.stdout.readline()).group(1)
    yield {"url": url, "proc": proc, "log": log, "root": root, "probe": probe, "grpc": f"127.0.0.1:{grpc_port}"}
    stop(proc)
    if probe.poll() is None:
        probe.kill()


@pytest.fixture(scope="module")
def plain(root):
    """The exports loaded here with tf.saved_model.load, to compare the server's replies with."""
    import tensorflow as tf

    return {name: tf.saved_model.load(str(root / f"{name}_mnist" / "1")) for name in MODELS}


def predict(server, model, body, *, version=None):
    path = f"/v1/models/{model}" + (f"/versions/{version}" if version else "") + ":predict"
    return http("POST", server["url"] + path, body)


# --------------------------------------------------------------------------- status and metadata
def test_status_is_tf_servings(server):
    expected = {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}
    for model in ("vae_mlp_2d_mnist", "cgan_mnist"):
        assert http("GET", f"{server['url']}/v1/models/{model}") == (200, expected)
    assert http("GET", f"{server['url']}/v1/models/cgan_mnist/versions/1") == (200, expected)


def test_metadata_lists_signature_defs_in_tf_servings_shape(server):
    status, reply = http("GET", f"{server['url']}/v1/models/vae_mlp_2d_mnist/metadata")
    assert status == 200
    assert reply["model_spec"] == {"name": "vae_mlp_2d_mnist", "signature_name": "", "version": "1"}
    defs = reply["metadata"]["signature_def"]["signature_def"]
    assert {"sample", "generate", "latent", "encode", "decode", "reconstruct", "serving_default"} <= set(defs)
    seed = defs["sample"]["inputs"]["seed"]
    assert seed["dtype"] == "DT_INT32"
    assert seed["tensor_shape"] == {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}
    assert [d["size"] for d in defs["encode"]["inputs"]["images"]["tensor_shape"]["dim"]] == ["-1", "28", "28", "1"]
    assert set(defs["encode"]["outputs"]) == {"z_mean", "z_log_var"}
    assert defs["generate"]["method_name"] == "tensorflow/serving/predict"
    _, cgan = http("GET", f"{server['url']}/v1/models/cgan_mnist/versions/1/metadata")
    assert set(cgan["metadata"]["signature_def"]["signature_def"]["sample"]["inputs"]) == {"seed", "label"}


# --------------------------------------------------------------------------- gRPC
def test_grpc_answers_a_tf_serving_client(server, plain):
    """TF Serving's own client stubs (tensorflow-serving-api) against --grpc-port: Predict,
    GetModelMetadata and GetModelStatus, and TF Serving's status codes for bad requests."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        get_model_status_pb2,
        model_service_pb2_grpc,
        predict_pb2,
        prediction_service_pb2_grpc,
    )

    channel = grpc.insecure_channel(server["grpc"])
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

    def request(model, signature, **inputs):
        req = predict_pb2.PredictRequest()
        req.model_spec.name = model
        req.model_spec.signature_name = signature
        for key, value in inputs.items():
            req.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        return req

    reply = stub.Predict(request("vae_mlp_2d_mnist", "sample", seed=np.array([0, 1, 2], np.int32)), timeout=120)
    assert reply.model_spec.name == "vae_mlp_2d_mnist" and reply.model_spec.version.value == 1
    expected = plain["vae_mlp_2d"].signatures["sample"](seed=tf.constant([0, 1, 2]))["images"].numpy()
    np.testing.assert_array_equal(tf.make_ndarray(reply.outputs["images"]), expected)
    cgan = stub.Predict(request("cgan_mnist", "", seed=np.array([5, 6], np.int32), label=np.array([3, 4], np.int32)),
                        timeout=120)  # an empty signature_name is serving_default, as in TF Serving
    np.testing.assert_array_equal(tf.make_ndarray(cgan.outputs["images"]), plain["cgan"].signatures["sample"](
        seed=tf.constant([5, 6]), label=tf.constant([3, 4]))["images"].numpy())

    meta = stub.GetModelMetadata(get_model_metadata_pb2.GetModelMetadataRequest(
        model_spec={"name": "vae_mlp_2d_mnist"}, metadata_field=["signature_def"]), timeout=60)
    defs = get_model_metadata_pb2.SignatureDefMap()
    assert meta.metadata["signature_def"].Unpack(defs)
    assert {"sample", "generate", "encode", "serving_default"} <= set(defs.signature_def)
    assert defs.signature_def["sample"].inputs["seed"].dtype == tf.int32.as_datatype_enum

    status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
        get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "cgan_mnist"}), timeout=60)
    assert [(s.version, s.state) for s in status.model_version_status] == \
        [(1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)]

    bad = [(request("no_such_model", "sample", seed=np.array([0], np.int32)), grpc.StatusCode.NOT_FOUND,
            "not found"),
           (request("vae_mlp_2d_mnist", "paint", seed=np.array([0], np.int32)), grpc.StatusCode.INVALID_ARGUMENT,
            "no signature 'paint'"),
           (request("vae_mlp_2d_mnist", "sample", seed=np.array([0.5], np.float32)),
            grpc.StatusCode.INVALID_ARGUMENT, "must be integers (int32)"),
           (request("vae_mlp_2d_mnist", "generate", z=np.zeros((1, 3), np.float32)),
            grpc.StatusCode.INVALID_ARGUMENT, "must have shape [B, 2]"),
           (request("cgan_mnist", "sample", seed=np.array([0], np.int32), label=np.array([12], np.int32)),
            grpc.StatusCode.INVALID_ARGUMENT, "label 12 is out of range")]
    for req, code, needle in bad:
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(req, timeout=60)
        assert err.value.code() == code and needle in err.value.details(), (err.value.code(), err.value.details())
    channel.close()


# --------------------------------------------------------------------------- predict
def test_predict_row_and_columnar_formats_match_the_savedmodel(server, plain):
    import tensorflow as tf

    vae = plain["vae_mlp_2d"]
    seeds = [0, 1, 2]
    expected = vae.signatures["sample"](seed=tf.constant(seeds))["images"].numpy()
    status, rows = predict(server, "vae_mlp_2d_mnist", {"signature_name": "sample", "instances": seeds})
    assert status == 200 and set(rows) == {"predictions"}
    status, columns = predict(server, "vae_mlp_2d_mnist", {"signature_name": "sample", "inputs": {"seed": seeds}})
    assert status == 200 and set(columns) == {"outputs"}
    np.testing.assert_array_equal(np.asarray(rows["predictions"], np.float32), expected)  # float32, exactly
    np.testing.assert_array_equal(np.asarray(columns["outputs"], np.float32), expected)
    # serving_default is sample; the row format takes {"seed": ...} objects too; a bare value for one input.
    _, default = predict(server, "vae_mlp_2d_mnist", {"instances": [{"seed": 0}, {"seed": 1}, {"seed": 2}]})
    np.testing.assert_array_equal(np.asarray(default["predictions"], np.float32), expected)
    _, bare = predict(server, "vae_mlp_2d_mnist", {"signature_name": "sample", "inputs": seeds})
    np.testing.assert_array_equal(np.asarray(bare["outputs"], np.float32), expected)

    z = np.array([[0.0, 0.0], [1.5, -0.5]], np.float32)
    _, generated = predict(server, "vae_mlp_2d_mnist", {"signature_name": "generate", "inputs": {"z": z.tolist()}})
    np.testing.assert_array_equal(np.asarray(generated["outputs"], np.float32),
                                  vae.signatures["generate"](z=tf.constant(z))["images"].numpy())

    images = expected[:2]
    want = vae.signatures["encode"](images=tf.constant(images))
    _, encoded = predict(server, "vae_mlp_2d_mnist",
                         {"signature_name": "encode", "inputs": {"images": images.tolist()}})
    assert set(encoded["outputs"]) == {"z_mean", "z_log_var"}  # several outputs: an object keyed by name
    for key in ("z_mean", "z_log_var"):
        np.testing.assert_array_equal(np.asarray(encoded["outputs"][key], np.float32), want[key].numpy())
    _, encoded_rows = predict(server, "vae_mlp_2d_mnist", {"signature_name": "encode", "instances": images.tolist()})
    assert [set(r) for r in encoded_rows["predictions"]] == [{"z_mean", "z_log_var"}] * 2  # one object per row
    np.testing.assert_array_equal(np.asarray([r["z_mean"] for r in encoded_rows["predictions"]], np.float32),
                                  want["z_mean"].numpy())


def test_predict_takes_what_tf_servings_json_reader_takes(server, plain):
    """json_tensor_test.cc's accepted inputs, for an export's dtypes: integers in a float input
    (MixedInputForFloatTensor), the largest integer float32 holds exactly, and an empty batch, which
    gets an empty answer (FromJsonSingleZeroBatchTensor) in either format's columnar form."""
    import tensorflow as tf

    vae = plain["vae_mlp_2d"]
    status, mixed = predict(server, "vae_mlp_2d_mnist", {"signature_name": "generate", "inputs": {"z": [[1, 2.0]]}})
    assert status == 200
    np.testing.assert_array_equal(np.asarray(mixed["outputs"], np.float32),
                                  vae.signatures["generate"](z=tf.constant([[1.0, 2.0]]))["images"].numpy())
    status, _ = predict(server, "vae_mlp_2d_mnist", {"signature_name": "decode", "inputs": {"z": [[16777215, 0]]}})
    assert status == 200  # 2**24 - 1: float32 holds it exactly
    assert predict(server, "vae_mlp_2d_mnist", {"inputs": {"seed": []}}) == (200, {"outputs": []})
    assert predict(server, "vae_mlp_2d_mnist", {"signature_name": "encode", "inputs": {"images": []}}) == \
        (200, {"outputs": {"z_log_var": [], "z_mean": []}})
    assert predict(server, "cgan_mnist", {"inputs": {"seed": [], "label": []}}) == (200, {"outputs": []})


def test_predict_as_tf_serving_answers_the_finer_points(server, plain):
    """An empty signature_name is serving_default; a gzip-compressed body is read; whole floats are
    written with their .0 (TF Serving's JSON), so a client's float parser never meets an integer."""
    import gzip

    import tensorflow as tf

    expected = plain["vae_mlp_2d"].signatures["sample"](seed=tf.constant([0, 1]))["images"].numpy()
    _, reply = predict(server, "vae_mlp_2d_mnist", {"signature_name": "", "instances": [0, 1]})
    np.testing.assert_array_equal(np.asarray(reply["predictions"], np.float32), expected)
    body = gzip.compress(json.dumps({"signature_name": "sample", "inputs": {"seed": [0, 1]}}).encode())
    request = urllib.request.Request(server["url"] + f"{VAE}:predict", data=body, method="POST",
                                     headers={"Content-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        text = answer.read().decode()
    np.testing.assert_array_equal(np.asarray(json.loads(text)["outputs"], np.float32), expected)
    assert not re.search(r"[\[,]-?\d+[,\]]", text)  # no float written as an integer
    from keras_gen.serving.rest import array_json

    assert array_json(np.array([[1.0, 0.5, -2.0, 0.0]], np.float32)) == "[[1.0,0.5,-2.0,0.0]]"
    assert array_json(np.array([1, 2], np.int32)) == "[1,2]"
    status, reply = http("POST", server["url"] + f"{VAE}:predict", raw=b"not gzip at all")
    assert status == 400  # not JSON (no Content-Encoding): the JSON error
    bad = urllib.request.Request(server["url"] + f"{VAE}:predict", data=b"\x1f\x8bbroken", method="POST",
                                 headers={"Content-Encoding": "gzip"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bad, timeout=60)
    assert err.value.code == 400 and "cannot be decompressed" in json.loads(err.value.read())["error"]


def test_predict_conditional_and_gan_signatures(server, plain):
    import tensorflow as tf

    cgan = plain["cgan"]
    status, reply = predict(server, "cgan_mnist", {"signature_name": "sample",
                                                   "inputs": {"seed": [0, 1], "label": [3, 5]}})
    assert status == 200
    want = cgan.signatures["sample"](seed=tf.constant([0, 1]), label=tf.constant([3, 5]))["images"].numpy()
    np.testing.assert_array_equal(np.asarray(reply["outputs"], np.float32), want)
    _, rows = predict(server, "cgan_mnist", {"signature_name": "sample",
                                             "instances": [{"seed": 0, "label": 3}, {"seed": 1, "label": 5}]})
    np.testing.assert_array_equal(np.asarray(rows["predictions"], np.float32), want)
    _, latent = predict(server, "cgan_mnist", {"signature_name": "latent", "inputs": {"seed": [4]}})
    np.testing.assert_array_equal(np.asarray(latent["outputs"], np.float32),
                                  cgan.signatures["latent"](seed=tf.constant([4]))["z"].numpy())
    images = np.zeros((2, 28, 28, 1), np.float32)
    _, score = predict(server, "cgan_mnist", {"signature_name": "discriminate",
                                              "inputs": {"images": images.tolist(), "label": [0, 1]}})
    want = cgan.signatures["discriminate"](images=tf.constant(images), label=tf.constant([0, 1]))["score"].numpy()
    np.testing.assert_array_equal(np.asarray(score["outputs"], np.float32), want)


def test_listing_endpoint_gives_every_models_keras_gen_json(server):
    status, reply = http("GET", f"{server['url']}/v1/keras_gen/models")
    assert status == 200
    models = {m["name"]: m for m in reply["models"]}
    assert set(models) == {"vae_mlp_2d_mnist", "cgan_mnist"}
    cgan = models["cgan_mnist"]
    meta = cgan["versions"][0]["keras_gen"]
    assert cgan["latest_version"] == "1" and cgan["versions"][0]["max_batch"] == meta.get("max_batch", 1024)
    assert meta["num_classes"] == 10 and meta["family"] == "gan" and meta["image_shape"] == [28, 28, 1]
    assert "latent" in meta["signatures"]


# --------------------------------------------------------------------------- the README
def readme_curl_commands() -> list[str]:
    """The shell commands of the README's curl block in "Exploring and serving locally"."""
    text = (REPO / "README.md").read_text()
    section = text.split("### Exploring and serving locally", 1)[1].split("\n### ", 1)[0]
    block = next(b for b in re.findall(r"```bash\n(.*?)```", section, re.S) if "curl" in b)
    commands, current = [], ""
    for line in block.splitlines():
        current += line.split("  #")[0].rstrip() + "\n"  # comments out: the test appends curl options
        if not current.rstrip().endswith(("\\", "|")) and current.count("'") % 2 == 0:
            commands.append(current.strip())
            current = ""
    return [c for c in commands if c]


def demo_latent_dim() -> int:
    """The latent size ``make demo`` trains vae_mlp_2d with (read from the Makefile)."""
    return int(re.search(r"--model vae_mlp_2d --latent-dim (\d+)", (REPO / "Makefile").read_text()).group(1))


@pytest.fixture(scope="module")
def demo(root, tmp_path_factory, tiny_mnist_dir):
    """What a new user has after ``make demo``: vae_mlp_2d with the demo's latent size, trained (two
    steps here) and exported to ``saved_models/`` in their working directory, its run kept; and
    ``keras-gen serve`` on that root, which also holds the session's cgan export (the README's
    conditional example)."""
    from keras_gen.config import resolve_config
    from keras_gen.training.run import train

    cwd = tmp_path_factory.mktemp("demo_user")
    run_dir = cwd / "runs" / "demo_vae_mlp_2d"
    train(resolve_config("vae_mlp_2d", dataset="mnist", data_dir=str(tiny_mnist_dir), latent_dim=demo_latent_dim(),
                         epochs=1, steps_per_epoch=2, batch_size=16, run_dir=str(run_dir),
                         export_dir=str(cwd / "saved_models"), verbose=0), out=lambda *a: None)
    shutil.copytree(root / "cgan_mnist", cwd / "saved_models" / "cgan_mnist")
    proc, grpc_port = start_server(["serve", cwd / "saved_models", "--port", "0", "--grpc-port", "0"],
                                   cwd / "serve.txt", r"^gRPC: 127\.0\.0\.1:(\d+) ")
    url = re.search(r" at (http://127\.0\.0\.1:\d+)/v1/models", proc.stdout.readline()).group(1)
    yield {"cwd": cwd, "run": run_dir, "url": url, "grpc": f"localhost:{grpc_port}"}
    stop(proc)


def test_readme_curl_examples_run_as_written(demo):
    """Every curl line of the README's local-serving block, against the export ``make demo`` makes."""
    assert shutil.which("curl"), "curl is needed to run the README's examples"
    commands = readme_curl_commands()
    assert len(commands) >= 8, commands
    z = demo_latent_dim()
    for cmd in commands:
        run = cmd.replace("http://localhost:8501", demo["url"])
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", run + " -w '\\n%{http_code}'"], capture_output=True,
                              text=True, timeout=120, env=env(), cwd=demo["cwd"])
        assert proc.returncode == 0, (cmd, proc.stderr)
        body, code = proc.stdout.rsplit("\n", 1)
        reply = json.loads(body)
        if "NaN" in cmd or "float(\"nan\")" in cmd:
            assert code == "400" and "NaN or infinite" in reply["error"], (cmd, reply)
            continue
        assert code == "200", (cmd, reply)
        if "metadata" in cmd:
            assert "sample" in reply["metadata"]["signature_def"]["signature_def"]
        elif "keras_gen/models" in cmd:
            assert reply["models"]
        elif ":predict" not in cmd:
            assert reply["model_version_status"][0]["state"] == "AVAILABLE"
        elif '"encode"' in cmd:
            assert np.asarray(reply["outputs"]["z_mean"]).shape == (1, z)
        elif '"latent"' in cmd:
            assert np.asarray(reply["outputs"]).shape == (1, z)
        elif '"instances"' in cmd:
            assert np.asarray(reply["predictions"]).shape == (3, 28, 28, 1)
        else:
            assert np.asarray(reply["outputs"]).shape == (2, 28, 28, 1), cmd


def test_readme_grpc_snippet_runs_against_the_demo_export(demo):
    text = (REPO / "README.md").read_text()
    snippet = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "PredictionServiceStub" in b)
    code = snippet.replace("localhost:8500", demo["grpc"]) + "\nprint(images.shape, sorted(codes))\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=demo["cwd"], env=env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "(4, 28, 28, 1) ['z_log_var', 'z_mean']"


def test_readme_tflite_and_onnx_snippet_runs_against_the_demo_export(demo):
    """The README's two ``keras-gen export --format`` lines on the demo's run, then its Python
    snippet that runs both files, as written, in the user's working directory."""
    text = (REPO / "README.md").read_text()
    lines = re.findall(r"^keras-gen export (runs/\S+) (--format (?:tflite|onnx))", text, re.M)
    assert len(lines) == 2, lines
    for _, fmt in lines:  # the commands in this process (their own processes cost a TensorFlow start each)
        proc = run_in_process(["-m", "keras_gen", "export", demo["run"], *fmt.split()], cwd=demo["cwd"])
        assert proc.returncode == 0, proc.stderr[-3000:]
    snippet = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "tf.lite.Interpreter" in b)
    proc = subprocess.run([sys.executable, "-c", snippet + "\nprint(images.shape)\n"], cwd=demo["cwd"], env=env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "(4, 28, 28, 1)"
    # The checked runner, after the raw one (it uses its numpy import), on both converted files.
    checked = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "keras_gen.load_export" in b)
    onnx = checked.replace("saved_models/tflite/", "saved_models/onnx/")
    assert onnx != checked
    for code in (checked, onnx):
        proc = subprocess.run([sys.executable, "-c", snippet + code + "\nprint(images.shape)\n"], cwd=demo["cwd"],
                              env=env(), capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.strip().splitlines()[-2:] == ["latents must be a float array of shape [B, 16], got float32 "
                                                         "[4, 2]", "(4, 28, 28, 1)"]
    out = demo["cwd"] / "tflite_grid.png"
    proc = subprocess.run(command("sample", "saved_models/tflite/vae_mlp_2d_mnist", "--n", "4", "--out", out),
                          cwd=demo["cwd"], env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and out.is_file(), proc.stderr[-3000:]


def test_batching_server_joins_concurrent_requests_and_answers_each_its_own(root, plain, tmp_path):
    """keras-gen serve --enable-batching under 16 concurrent REST clients and 8 gRPC ones, each
    asking sample for its own seeds: every reply is the SavedModel's images for those seeds, and
    the server made fewer calls than it had requests."""
    import concurrent.futures

    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    proc, grpc_port = start_server(["serve", root, "--port", "0", "--grpc-port", "0", "--enable-batching",
                                    "--batch-timeout-micros", "100000", "--max-batch-size", "64"],
                                   tmp_path / "serve.txt", r"^gRPC: 127\.0\.0\.1:(\d+) ")
    url = re.search(r" at (http://127\.0\.0\.1:\d+)/v1/models", proc.stdout.readline()).group(1)
    try:
        sample = plain["vae_mlp_2d"].signatures["sample"]

        def rest(i):
            seeds = [3 * i, 3 * i + 1, 3 * i + 2][: 1 + i % 3]
            status, reply = http("POST", f"{url}{VAE}:predict", {"signature_name": "sample", "inputs": {"seed": seeds}})
            return status, seeds, reply

        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{grpc_port}"))

        def rpc(i):
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "vae_mlp_2d_mnist"
            request.model_spec.signature_name = "sample"
            request.inputs["seed"].CopyFrom(tf.make_tensor_proto(np.array([100 + i], np.int32)))
            return tf.make_ndarray(stub.Predict(request, timeout=120).outputs["images"])

        with concurrent.futures.ThreadPoolExecutor(24) as pool:
            replies = list(pool.map(rest, range(16)))
            rpcs = list(pool.map(rpc, range(8)))
        for status, seeds, reply in replies:
            assert status == 200
            # its own rows, to float rounding (a larger batch's matrix product may round differently)
            np.testing.assert_allclose(np.asarray(reply["outputs"], np.float32),
                                       sample(seed=tf.constant(seeds))["images"].numpy(), atol=1e-6)
        for i, images in enumerate(rpcs):
            np.testing.assert_allclose(images, sample(seed=tf.constant([100 + i]))["images"].numpy(), atol=1e-6)
        _, listing = http("GET", f"{url}/v1/keras_gen/models")
        batching = listing["batching"]
        assert batching["max_batch_size"] == 64 and batching["requests"] == 24
        assert batching["batches"] < 24  # concurrent requests shared calls
    finally:
        stop(proc)


# --------------------------------------------------------------------------- bad requests
VAE, CGAN = "/v1/models/vae_mlp_2d_mnist", "/v1/models/cgan_mnist"
BAD = [
    # (method, path, body (dict, or bytes sent as is), status, words the error must contain)
    ("GET", "/v1/models/no_such_model", None, 404, "model 'no_such_model' not found"),
    ("POST", "/v1/models/no_such_model:predict", {"inputs": {"seed": [0]}}, 404, "not found"),
    ("GET", f"{VAE}/versions/9", None, 404, "no version 9"),
    ("POST", f"{VAE}/versions/9:predict", {"inputs": {"seed": [0]}}, 404, "no version 9"),
    ("POST", f"{VAE}:predict", {"signature_name": "paint", "inputs": {"seed": [0]}}, 400, "no signature 'paint'"),
    ("POST", f"{VAE}:predict", b'{"signature_name": "sample", "inputs": {"seed": [0', 400, "malformed JSON"),
    ("POST", f"{VAE}:predict", b"", 400, "empty request body"),
    ("POST", f"{VAE}:predict", b"[1, 2]", 400, "must be a JSON object"),
    ("POST", f"{VAE}:predict", b'{"inputs": "\xff"}', 400, "not UTF-8"),
    ("POST", f"{VAE}:predict", b"[" * 100000, 400, "malformed JSON"),
    ("POST", f"{VAE}:predict", {"signature_name": "sample"}, 400, "exactly one of instances"),
    ("POST", f"{VAE}:predict", {"instances": [0], "inputs": {"seed": [0]}}, 400, "exactly one of instances"),
    ("POST", f"{VAE}:predict", {"inputs": {"seed": [0]}, "model": "x"}, 400, "unknown key 'model'"),
    ("POST", f"{VAE}:predict", {"signature_name": 3, "inputs": [0]}, 400, "signature_name must be a string"),
    ("POST", f"{VAE}:predict", {"instances": []}, 400, "non-empty list"),
    # CAP: max_batch in the export's keras_gen.json, else the server's 1024
    ("POST", f"{VAE}:predict", {"inputs": {"seed": "CAP+1"}}, 400, "batch of CAP+1 is over this server's cap of CAP"),
    ("POST", f"{VAE}:predict", {"instances": "CAP+1"}, 400, "batch of CAP+1 is over"),
    ("POST", f"{VAE}:predict", {"signature_name": "generate", "inputs": {"z": "CAP+1"}}, 400, "batch of CAP+1 is over"),
    ("POST", f"{VAE}:predict", b'{"signature_name": "generate", "inputs": {"z": [[NaN, 0.0]]}}', 400,
     "NaN or infinite"),
    ("POST", f"{VAE}:predict", b'{"signature_name": "generate", "inputs": {"z": [[Infinity, 0.0]]}}', 400,
     "NaN or infinite"),
    ("POST", f"{VAE}:predict", {"signature_name": "generate", "inputs": {"z": [[1e39, 0.0]]}}, 400,
     "without loss of precision"),
    ("POST", f"{VAE}:predict", b'{"signature_name": "generate", "inputs": {"z": [[1e400, 0.0]]}}', 400,
     "NaN or infinite"),
    ("POST", f"{VAE}:predict", {"signature_name": "generate", "inputs": {"z": [[0.0, 0.0, 0.0]]}}, 400,
     "must have shape [B, 2]"),
    ("POST", f"{VAE}:predict", {"signature_name": "generate", "inputs": {"z": [0.0, 0.0]}}, 400,
     "must have shape [B, 2]"),
    ("POST", f"{VAE}:predict", {"signature_name": "generate", "inputs": {"z": [[0.0, 0.0], [1.0]]}}, 400,
     "not a rectangular array"),
    ("POST", f"{VAE}:predict", {"signature_name": "generate", "inputs": {"z": [["a", "b"]]}}, 400, "strings"),
    ("POST", f"{VAE}:predict", {"signature_name": "encode", "inputs": {"images": [[[[0.0]]]]}}, 400,
     "must have shape [B, 28, 28, 1]"),
    ("POST", f"{VAE}:predict", {"inputs": {"seed": [2 ** 31]}}, 400, "must fit in int32"),
    ("POST", f"{VAE}:predict", {"inputs": {"seed": [-(2 ** 31) - 1]}}, 400, "must fit in int32"),
    ("POST", f"{VAE}:predict", {"inputs": {"seed": [10 ** 30]}}, 400, "must fit in int32"),
    ("POST", f"{VAE}:predict", {"inputs": {"seed": [1.5]}}, 400, "must be integers"),
    ("POST", f"{VAE}:predict", {"inputs": {"seed": [True]}}, 400, "booleans"),
    ("POST", f"{VAE}:predict", {"inputs": {"seed": [None]}}, 400, "seed"),
    ("POST", f"{VAE}:predict", {"inputs": {"seeds": [0]}}, 400, "unknown input 'seeds'"),
    ("POST", f"{CGAN}:predict", {"inputs": {"seed": [0]}}, 400, "missing input 'label'"),
    ("POST", f"{CGAN}:predict", {"inputs": [0]}, 400, "object keyed by input name"),
    ("POST", f"{CGAN}:predict", {"inputs": {"seed": [0, 1], "label": [1]}}, 400, "disagree on the batch size"),
    ("POST", f"{CGAN}:predict", {"inputs": {"seed": [0], "label": [10]}}, 400, "label 10 is out of range"),
    ("POST", f"{CGAN}:predict", {"inputs": {"seed": [0], "label": [-1]}}, 400, "label -1 is out of range"),
    ("POST", f"{VAE}:predict", {"inputs": {"seed": [True, 1]}}, 400, "not of expected type: int32"),
    ("POST", f"{VAE}:predict", {"signature_name": "generate", "inputs": {"z": [[1.0, False]]}}, 400,
     "not of expected type: float32"),
    ("POST", f"{VAE}:classify", {"examples": []}, 400, "use :predict"),
    # TF Serving's json_tensor_test.cc (SingleUnnamedTensorErrors, MultipleNamedTensorErrors) and the
    # checks of json_tensor.cc it exercises, for the dtypes an export takes (int32, float32): TF
    # Serving's phrase in brackets, our words around it.
    ("POST", f"{VAE}:predict", {"signature_name": 5, "instances": [0]}, 400,
     "'signature_name' key must be a string value"),
    ("POST", f"{VAE}:predict", {"instances": [0], "inputs": [0]}, 400,
     "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist"),
    ("POST", f"{VAE}:predict", {"signature_name": "sample"}, 400, "Missing 'inputs' or 'instances' key"),
    ("POST", f"{VAE}:predict", {"instances": []}, 400, "No values in 'instances' array"),
    ("POST", f"{VAE}:predict", {"signature_name": "generate", "instances": [[1, 2], [3, 4], [5, 6, 7]]}, 400,
     "Expecting tensor size: 2 but got: 3"),
    ("POST", f"{VAE}:predict", {"signature_name": "generate", "instances": [[1, 2], [3, 4], [[5, 6]]]}, 400,
     "Expecting shape [2] but got: [1, 2]"),
    ("POST", f"{VAE}:predict", {"instances": [1, [1]]}, 400, "Expecting shape [] but got: [1]"),
    ("POST", f"{VAE}:predict", {"signature_name": "generate", "instances": [[1, 2], ["a", "b"]]}, 400,
     "not of expected type: float32"),
    ("POST", f"{VAE}:predict", {"signature_name": "generate", "inputs": {"z": [[1.7976931348623157e308, 0]]}},
     400, "without loss of precision"),
    ("POST", f"{VAE}:predict", {"signature_name": "generate", "inputs": {"z": [[16777217, 0]]}}, 400,
     "without loss of precision"),
    ("POST", f"{VAE}:predict", {"signature_name": "generate", "inputs": {"z": [[1, 2], [3, 4, 5]]}}, 400,
     "Encountered list at unexpected size"),
    ("POST", f"{CGAN}:predict", {"instances": [{"seed": 0, "label": 1}, [1, 20, 30]]}, 400,
     "Expecting object but got list at item 1 of input list"),
    ("POST", f"{VAE}:predict", {"instances": [0, {"seed": 1}]}, 400,
     "Expecting value/list but got object at item 1 of input list"),
    ("POST", f"{CGAN}:predict", {"instances": [0, 1]}, 400,
     "instances is a plain list, but expecting list of objects as multiple input tensors required"),
    ("POST", f"{CGAN}:predict", {"inputs": [0, 1]}, 400,
     "inputs is a plain value/list, but expecting an object as multiple input tensors required"),
    ("POST", f"{CGAN}:predict", {"inputs": {"seed": [0]}}, 400, "Missing named input: label"),
    ("POST", f"{CGAN}:predict", {"instances": [{"seed": 0}]}, 400, "keys must be equal to: label,seed"),
    ("POST", f"{VAE}:predict", {"instances": [{"seeds": 0}]}, 400, "does not have named input: seeds"),
    ("GET", "/v2/anything", None, 400, "Malformed request"),
    # TF Serving's HttpRestApiHandlerTest (UnsupportedApiCalls, PredictModelNameVersionErrors,
    # PredictRequestErrors): the same status for the same request, our own words after its phrase.
    ("GET", "/v1/foo", None, 400, "Malformed request"),
    ("POST", "/v1/foo", {}, 400, "Malformed request"),
    ("GET", "/v1/models", None, 400, "Missing model name"),
    ("GET", "/v1/models/debug/model_name", None, 400, "Malformed request"),
    ("POST", "/v1/models", {}, 400, "Malformed request"),
    ("GET", f"{VAE}:predict", None, 400, "Malformed request"),
    ("GET", f"{VAE}/version/50:predict", None, 400, "Malformed request"),
    ("POST", f"{VAE}/version/50:regress", {}, 400, "Malformed request"),
    ("POST", f"{VAE}/versions/HELLO:regress", {}, 400, "Malformed request"),
    ("POST", f"{VAE}/versions/{2 ** 64 - 1}:regress", {}, 400, "Failed to convert version"),
    ("POST", f"{VAE}/versions/{2 ** 64 - 1}:predict", {"instances": [0]}, 400, "Failed to convert version"),
    ("POST", f"{VAE}/metadata", {}, 400, "Malformed request"),
    ("POST", f"{VAE}/label/some_label:regress", {}, 400, "Malformed request"),
    ("POST", f"{VAE}/versions/50/labels/some_label:regress", {}, 400, "Malformed request"),
    ("POST", f"{VAE}/versions/some_label:regress", {}, 400, "Malformed request"),
    ("POST", VAE, {}, 400, "Malformed request"),
    ("POST", f"{VAE}:explain", {}, 400, "Malformed request"),
    ("POST", "/v1/models/foo:predict", {"instances": [1]}, 404, "not found"),
    ("POST", "/v1/models/foo/versions/50:predict", {"instances": [1]}, 404, "not found"),
    ("POST", f"{VAE}/versions/99:predict", {"instances": [1]}, 404, "no version 99"),
    ("POST", f"{VAE}:predict", b"instances = [1, 2]", 400, "malformed JSON"),
    ("POST", f"{VAE}:predict", {"instances": ["x", "y"]}, 400, "strings"),
    ("POST", f"{VAE}/labels/nonexistent:predict", {"instances": [0]}, 400, "Unrecognized servable version label"),
    ("GET", f"{VAE}/labels/stable", None, 400, "Unrecognized servable version label: stable"),
    ("GET", f"{VAE}/labels/stable/metadata", None, 400, "Unrecognized servable version label"),
    ("GET", f"{VAE}/labels/stable:predict", None, 400, "Malformed request"),
]


def test_bad_requests_get_a_clear_error_and_the_server_keeps_serving(server, root):
    meta = json.loads((root / "vae_mlp_2d_mnist" / "1" / "assets" / "keras_gen.json").read_text())
    cap = meta.get("max_batch", 1024)
    over = {"seed": list(range(cap + 1)), "instances": list(range(cap + 1)), "z": [[0.0, 1.0]] * (cap + 1)}
    for method, path, body, status, words in BAD:
        if isinstance(body, dict) and "CAP+1" in json.dumps(body):
            body = {k: ({n: over[n] for n in v} if isinstance(v, dict) else over[k]) if "CAP" in json.dumps(v) else v
                    for k, v in body.items()}
            words = words.replace("CAP+1", str(cap + 1)).replace("CAP", str(cap))
        raw = body if isinstance(body, bytes) else None
        got, reply = http(method, server["url"] + path, None if raw is not None else body, raw=raw)
        assert got == status, (method, path, got, reply)
        assert set(reply) == {"error"} and words in reply["error"], (path, words, reply)
    assert http("GET", f"{server['url']}{VAE}")[0] == 200
    status, reply = predict(server, "vae_mlp_2d_mnist", {"signature_name": "sample", "inputs": {"seed": [0]}})
    assert status == 200 and np.asarray(reply["outputs"]).shape == (1, 28, 28, 1)
    assert server["proc"].poll() is None
    assert "Traceback" not in server["log"].read_text()


def test_a_loopback_server_refuses_other_host_headers(server):
    """No DNS rebinding: a page on another site cannot reach the server through its own name."""
    request = urllib.request.Request(f"{server['url']}{VAE}", headers={"Host": "attacker.example"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=30)
    assert err.value.code == 403


def test_allowed_hosts_add_a_proxys_name(tmp_path):
    """--allowed-host NAME: the loopback names and NAME (any port), nothing else; on a public bind
    without it, any Host."""
    from werkzeug.test import Client

    from keras_gen.cli.serve import allowed_hosts
    from keras_gen.serving.repository import ModelRepository
    from keras_gen.serving.rest import RestApp

    assert allowed_hosts("0.0.0.0") is None
    assert allowed_hosts("0.0.0.0", ["Models.Internal"]) == {"127.0.0.1", "localhost", "::1", "models.internal"}
    client = Client(RestApp(ModelRepository([tmp_path]), allowed_hosts=allowed_hosts("127.0.0.1", ["models.internal"])))
    assert client.get("/v1/keras_gen/models", headers={"Host": "models.internal:8080"}).status_code == 200
    refused = client.get("/v1/keras_gen/models", headers={"Host": "attacker.example"})
    assert refused.status_code == 403 and "--allowed-host" in refused.get_json()["error"]


# --------------------------------------------------------------------------- exports added while serving
def test_new_models_and_versions_are_picked_up(server, root):
    url = server["url"]
    assert http("GET", f"{url}/v1/models/late_vae_mnist")[0] == 404
    source = root / "vae_mlp_2d_mnist" / "1"
    staging = root.parent / "staging"
    shutil.copytree(source, staging / "1")
    os.rename(staging, root / "late_vae_mnist")  # appears whole, as an export's atomic rename makes it
    status, reply = http("GET", f"{url}/v1/models/late_vae_mnist")
    assert status == 200 and [v["version"] for v in reply["model_version_status"]] == ["1"]

    meta = json.loads((source / "assets" / "keras_gen.json").read_text())
    meta["max_batch"] = 4  # the export's own cap wins over the server's
    shutil.copytree(source, staging / "2")
    (staging / "2" / "assets" / "keras_gen.json").write_text(json.dumps(meta))
    os.rename(staging / "2", root / "late_vae_mnist" / "2")
    status, reply = http("GET", f"{url}/v1/models/late_vae_mnist")
    # A model keras_gen never published (copied in by hand): its newest version, TF Serving's default policy.
    assert [v["version"] for v in reply["model_version_status"]] == ["2"]
    assert all(v["state"] == "AVAILABLE" for v in reply["model_version_status"])
    assert http("GET", f"{url}/v1/models/late_vae_mnist/metadata")[1]["model_spec"]["version"] == "2"
    status, reply = predict(server, "late_vae_mnist", {"signature_name": "sample", "inputs": {"seed": [0] * 5}})
    assert status == 400 and "batch of 5 is over this server's cap of 4" in reply["error"]
    assert predict(server, "late_vae_mnist", {"signature_name": "sample", "inputs": {"seed": [0] * 4}})[0] == 200
    status, reply = predict(server, "late_vae_mnist", {"signature_name": "sample", "inputs": {"seed": [0] * 4}},
                            version=1)
    assert status == 404 and "no version 1 served (it serves 2" in reply["error"]  # on disk, not served
    listing = {m["name"]: m for m in http("GET", f"{url}/v1/keras_gen/models")[1]["models"]}
    assert [v["max_batch"] for v in listing["late_vae_mnist"]["versions"]] == [4]

    del meta["max_batch"]  # an export without max_batch (keras_gen 0.1): the server's cap, 1024
    shutil.copytree(source, staging / "3")
    (staging / "3" / "assets" / "keras_gen.json").write_text(json.dumps(meta))
    os.rename(staging / "3", root / "late_vae_mnist" / "3")
    status, reply = predict(server, "late_vae_mnist", {"signature_name": "latent", "inputs": {"seed": [0] * 1025}})
    assert status == 400 and "batch of 1025 is over this server's cap of 1024" in reply["error"]
    assert predict(server, "late_vae_mnist", {"signature_name": "latent", "inputs": {"seed": [0] * 1024}})[0] == 200

    shutil.rmtree(root / "late_vae_mnist")  # removed: gone from the next request on
    assert http("GET", f"{url}/v1/models/late_vae_mnist")[0] == 404


# --------------------------------------------------------------------------- the command line
def test_command_line_errors_are_one_line(server, root, tmp_path):
    """A busy port, and paths that are not an export root: one line on stderr, exit status 2."""
    port = server["url"].rsplit(":", 1)[1]
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    cases = {
        "port": (["serve", root, "--port", port], ["cannot listen on 127.0.0.1:" + port, "--port"]),
        "missing": (["serve", tmp_path / "nowhere"], ["does not exist", "export root"]),
        "file": (["serve", tmp_path / "file.txt"], ["is not a directory"]),
        "empty": (["serve", tmp_path / "empty"], ["holds no exports"]),
        "version": (["serve", root / "vae_mlp_2d_mnist" / "1"], ["is an export version, not an export root",
                                                                  str(root)]),
        "explore": (["explore", tmp_path / "empty", "--no-browser"], ["holds no exports"]),
        "bad_port": (["serve", root, "--port", "99999"], ["port number"]),
    }
    procs = {k: subprocess.Popen(command(*args), cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for k, (args, _) in cases.items()}  # their TF imports overlap
    for key, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=240)
        assert_one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr),
                              *cases[key][1])
    assert http("GET", f"{server['url']}{VAE}")[0] == 200  # the first server is untouched


def test_the_explorer_forwards_predict_calls_to_a_serving_url(server, root):
    """``keras-gen explore --serving-url``: the page's /v1/models calls go to that server (here the
    module's keras-gen serve, standing in for TF Serving); the model list stays local."""
    from werkzeug.test import Client

    from keras_gen.serving.explorer_app import create_explorer_app

    client = Client(create_explorer_app([root], serving_url=server["url"] + "/"))
    body = {"signature_name": "latent", "inputs": {"seed": [3]}}
    reply = client.post("/v1/models/vae_mlp_2d_mnist:predict", json=body)
    assert reply.status_code == 200 and reply.get_json() == predict(server, "vae_mlp_2d_mnist", body)[1]
    reply = client.post("/v1/models/vae_mlp_2d_mnist:predict", json={"inputs": {"seed": [2 ** 31]}})
    assert reply.status_code == 400 and "int32" in reply.get_json()["error"]  # the server's own error, passed on
    assert client.get("/v1/models/nope").status_code == 404
    assert {m["name"] for m in client.get("/v1/keras_gen/models").get_json()["models"]} == {"vae_mlp_2d_mnist",
                                                                                          "cgan_mnist"}
    assert client.get("/v1/keras_gen/config").get_json()["serving_url"] == server["url"]
    page = client.get("/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["Content-Security-Policy"]
    unreachable = Client(create_explorer_app([root], serving_url="http://127.0.0.1:9"))
    reply = unreachable.post("/v1/models/vae_mlp_2d_mnist:predict", json=body)
    assert reply.status_code == 502 and "cannot reach TF Serving at http://127.0.0.1:9" in reply.get_json()["error"]


def test_the_explorer_serves_a_fixed_test_sample(root):
    from werkzeug.test import Client

    from keras_gen.serving.explorer_app import create_explorer_app

    client = Client(create_explorer_app([root]))
    reply = client.get("/v1/keras_gen/models/vae_mlp_2d_mnist/testset?n=5")
    assert reply.status_code == 200
    sample = reply.get_json()
    assert sample["shape"] == [5, 28, 28, 1] and sample["split"] == "test" and len(sample["labels"]) == 5
    assert sample["source_name"] == sample["source"]  # the test set lies outside the working directory

    import base64

    from keras_gen.datasets.idx import load_idx_arrays

    images, labels = load_idx_arrays(Path(sample["source"]), "test")
    pixels = np.frombuffer(base64.b64decode(sample["pixels"]), np.uint8).reshape(sample["shape"])
    np.testing.assert_array_equal(pixels, images[:5].reshape(5, 28, 28, 1))  # the first 5, as stored
    assert sample["labels"] == labels[:5].tolist()
    assert client.get("/v1/keras_gen/models/vae_mlp_2d_mnist/testset?n=0").status_code == 400
    assert client.get("/v1/keras_gen/models/nope/testset").status_code == 404


def test_the_page_names_a_dataset_below_the_working_directory_relatively(tmp_path, monkeypatch):
    """The map's caption (and so a screenshot) says data/mnist, not the machine's absolute path."""
    from keras_gen.utils.fileio import display_path

    (tmp_path / "data" / "mnist").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert display_path(tmp_path / "data" / "mnist") == "data/mnist"
    assert display_path("/usr/share/datasets/fashion-mnist") == "/usr/share/datasets/fashion-mnist"


# The REST app in a fresh process: which modules serving a predict call imports.
PROBE = r'''
import json, sys
from werkzeug.test import Client
from keras_gen.serving.rest import create_app
client = Client(create_app([sys.argv[1]]))
reply = client.post("/v1/models/cgan_mnist:predict", json={"inputs": {"seed": [0], "label": [2]}})
print(json.dumps({"status": reply.status_code, "imported": sorted(m for m in sys.modules if m.startswith(
    ("models_zoo", "keras_gen.families", "keras_gen.training", "keras_gen.datasets", "keras_gen.export",
     "tensorflow_probability")))}))
'''


def test_the_server_runs_signatures_without_model_code(server):
    """The app loads exports with tf.saved_model.load only: no zoo, family or training module, no TFP."""
    stdout, stderr = server["probe"].communicate(timeout=240)
    assert server["probe"].returncode == 0, stderr[-3000:]
    assert json.loads(stdout.strip().splitlines()[-1]) == {"status": 200, "imported": []}


def test_help_answers_without_importing_tensorflow():
    probe = "import sys; from keras_gen.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n" \
            "print('tensorflow imported:', 'tensorflow' in sys.modules)"
    for cmd in ("serve", "explore"):
        proc = subprocess.run([sys.executable, "-c", probe, cmd, "--help"], cwd=REPO, env=env(), capture_output=True,
                              text=True, timeout=60)
        assert "usage:" in proc.stdout and proc.stdout.rstrip().endswith("tensorflow imported: False"), proc.stdout


def test_the_explorer_stops_cleanly_while_it_is_still_loading_its_models(tmp_path):
    """``keras-gen explore`` answers at once and loads the exports in a background thread; stopped
    as soon as its page answers (the models still loading), it waits for the model being loaded and
    exits 0. Exiting while that thread was inside TensorFlow's loader aborted the process (SIGABRT,
    "terminate called after throwing an instance of ..."; 3 of 3 tries on the shipped models, which
    take seconds to load where this module's tiny ones take less than the page's first answer)."""
    proc, url = start_server(["explore", REPO / "saved_models", "--no-browser", "--port", "0"],
                             tmp_path / "explore.log", r"explorer: (http://\S+/) ")
    try:
        while True:  # the page answers before the models are loaded
            try:
                with urllib.request.urlopen(url, timeout=30) as reply:
                    assert reply.status == 200
                break
            except urllib.error.URLError:
                assert proc.poll() is None, (tmp_path / "explore.log").read_text()[-3000:]
    finally:
        stop(proc)
    log = (tmp_path / "explore.log").read_text()
    assert proc.returncode == 0 and "terminate called" not in log and "Traceback" not in log, log[-3000:]
