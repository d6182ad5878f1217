"""Serving: exports that TF Serving, saved_model_cli, TFLite and ONNX Runtime all run (issue 6).

Two models (a VAE and a GAN) train for two real steps on real MNIST through ``train`` (a real run
directory with a checkpoint, exported at the end as ``train.py`` does), are re-exported from the
checkpoint with ``keras-gen export`` in every format, and are then run in fresh processes that never
import keras_gen or models_zoo: plain TensorFlow, TFLite's interpreter, ONNX Runtime, the TF Serving
protos, ``saved_model_cli`` and ``keras-gen sample``/``interpolate``. Every output is compared with
the Keras model's for the same inputs. The subprocesses start together, so their TensorFlow imports
overlap.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import models_zoo
from keras_gen.cli import main as cli_main
from keras_gen.config import resolve_config
from keras_gen.export.convert import export_onnx, export_tflite
from keras_gen.export.from_run import export_run
from keras_gen.export.saved_model import WARMUP_BATCH_SIZES, _from_unit, export_model, portability_problems
from keras_gen.serving import runtime as serving
from keras_gen.training.run import train
from keras_gen.utils.errors import UserError

from conftest import REPO, assert_one_line_error

MODELS = ("vae_mlp_2d", "mlp_gan_wide")
SEEDS = np.array([0, 1, 2, 7], np.int32)
BIN = Path(sys.executable).parent

# Runs every signature of every format on the same inputs with no keras_gen code, and parses the TF
# Serving files with the serving protos. argv: spec.json out_dir. Writes <out_dir>/<model>.npz.
PLAIN_RUNNER = r'''
import json, sys
import numpy as np
import onnxruntime as ort
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.config import model_server_config_pb2

spec, out_dir = json.load(open(sys.argv[1])), sys.argv[2]
summary = {}
for name, job in spec["models"].items():
    feeds = dict(np.load(job["inputs"]))
    outputs, info = {}, {}
    m = tf.saved_model.load(job["saved_model"])
    for sig, fn in m.signatures.items():
        args = {k: tf.constant(feeds[k]) for k in fn.structured_input_signature[1]}
        for key, value in fn(**args).items():
            outputs[f"saved_model/{sig}/{key}"] = value.numpy()
    z = m.signatures["latent"](seed=tf.constant(feeds["seed"]))["z"]
    outputs["saved_model/generate_of_latent/images"] = m.signatures["generate"](z=z)["images"].numpy()
    interpreter = tf.lite.Interpreter(model_path=job["tflite"])
    info["tflite_signatures"] = {k: v for k, v in interpreter.get_signature_list().items()}
    for sig, io_names in interpreter.get_signature_list().items():
        runner = interpreter.get_signature_runner(sig)
        for key, value in runner(**{k: feeds[k] for k in io_names["inputs"]}).items():
            outputs[f"tflite/{sig}/{key}"] = value
    info["onnx_inputs"] = {}
    for sig in job["onnx_signatures"]:
        session = ort.InferenceSession(f"{job['onnx_dir']}/{sig}.onnx", providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        info["onnx_inputs"][sig] = names
        for out, value in zip(session.get_outputs(), session.run(None, {k: feeds[k] for k in names})):
            outputs[f"onnx/{sig}/{out.name}"] = value
    warmup = []
    for record in tf.data.TFRecordDataset(job["saved_model"] + "/assets.extra/tf_serving_warmup_requests"):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        warmup.append({"model": request.model_spec.name, "signature": request.model_spec.signature_name,
                       "inputs": {k: tf.make_ndarray(v).shape[0] for k, v in request.inputs.items()}})
    info["warmup"] = warmup
    np.savez(f"{out_dir}/{name}.npz", **outputs)
    summary[name] = info
config = text_format.Parse(open(spec["models_config"]).read(), model_server_config_pb2.ModelServerConfig())
summary["models_config"] = [[c.name, c.base_path, c.model_platform] for c in config.model_config_list.config]
summary["keras_gen_imported"] = any(k.startswith(("keras_gen", "models_zoo")) for k in sys.modules)
print(json.dumps(summary))
'''

# keras-gen sample and interpolate as the console script runs them, then which modules they imported.
CLI_RUNNER = r'''
import json, sys
from keras_gen.cli import main
codes = [main(args) for args in json.loads(sys.argv[1])]
print(json.dumps({"codes": codes, "model_code_imported": sorted(
    k for k in sys.modules if k.startswith(("models_zoo", "keras_gen.models", "keras_gen.training")))}))
'''


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _start(args, **kwargs):
    return subprocess.Popen([str(a) for a in args], cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _finish(proc, timeout=300) -> str:
    stdout, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"{proc.args} exited {proc.returncode}\n{stdout}\n{stderr[-3000:]}"
    return stdout


def _references(model, images) -> dict:
    """What each signature must return, computed by the Keras model itself."""
    z = np.random.default_rng(0).standard_normal((len(SEEDS), model.latent_dim)).astype(np.float32)
    refs = {"sample/images": model.sample(tf.constant(SEEDS)), "latent/z": model.latent_from_seeds(SEEDS),
            "generate/images": model.generate_unit(z)}
    if model.family == "vae":
        z_mean, z_log_var = model.encode(images)
        refs.update({"encode/z_mean": z_mean, "encode/z_log_var": z_log_var, "decode/images": model.generate_unit(z),
                     "reconstruct/images": model.reconstruct(images)})
    else:
        refs["discriminate/score"] = model.score(_from_unit(images, model.value_range))
    return {"seed": SEEDS, "z": z, "images": images}, {k: np.asarray(v) for k, v in refs.items()}


def _train(name, tmp, root, data_dir):
    config = resolve_config(name, dataset="mnist", data_dir=str(data_dir), epochs=1, steps_per_epoch=2, batch_size=16,
                            run_dir=str(tmp / "runs" / name), export_dir=str(root), verbose=0)
    return train(config, out=lambda *a: None)  # exports version 1 at the end, as train.py does


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_mnist_dir, mnist_test):
    """Train, export in every format and run every check subprocess; each subprocess starts as soon as
    what it reads exists, so its TensorFlow import overlaps the work still going on here."""
    tmp = tmp_path_factory.mktemp("serving")
    root = tmp / "saved_models"
    images = (mnist_test[0][:len(SEEDS)].astype(np.float32) / 255.0)  # real digits in [0, 1], [4, 28, 28, 1]
    models, procs, printed = {}, {}, io.StringIO()

    vae = _train("vae_mlp_2d", tmp, root, tiny_mnist_dir)
    procs["show"] = _start([BIN / "saved_model_cli", "show", "--dir", vae.export_path, "--all"])
    procs["run"] = _start([BIN / "saved_model_cli", "run", "--dir", vae.export_path, "--tag_set", "serve",
                           "--signature_def", "sample", "--input_exprs", f"seed={SEEDS.tolist()}",
                           "--outdir", tmp / "cli_run", "--overwrite"])
    with contextlib.redirect_stdout(printed):  # the export command line, in this process
        for fmt in ("tflite", "onnx"):
            assert cli_main(["export", str(vae.run_dir), "--format", fmt]) == 0
    models["vae_mlp_2d"] = vae

    gan = _train("mlp_gan_wide", tmp, root, tiny_mnist_dir)
    cli_jobs = [["sample", str(vae.export_path.parent), "--n", "16", "--seed", "3", "--out", str(tmp / "grid.png")],
                ["sample", str(vae.export_path), "--n", "4", "--out", str(tmp / "grid.npy")],
                ["interpolate", str(vae.export_path), "--from-seed", "1", "--to-seed", "2", "--steps", "10",
                 "--out", str(tmp / "strip.png")],
                ["interpolate", str(gan.export_path), "--from-seed", "1", "--to-seed", "2", "--steps", "5",
                 "--spherical", "--out", str(tmp / "strip.npy")]]
    procs["cli"] = _start([sys.executable, "-c", CLI_RUNNER, json.dumps(cli_jobs)])
    export_tflite(gan.export_path, root)  # the Python API this time
    export_onnx(gan.export_path, root)
    models["mlp_gan_wide"] = gan
    # A second SavedModel version of the VAE, through the command line (served unmeasured): models.config
    # is rewritten.
    with contextlib.redirect_stdout(printed):
        assert cli_main(["export", str(vae.run_dir), "--publish"]) == 0

    spec, info = {"models": {}, "models_config": str(root / "models.config")}, {}
    for name, result in models.items():
        feeds, refs = _references(result.model, images)
        np.savez(tmp / f"{name}_inputs.npz", **feeds)
        onnx_dir, tflite_dir = (root / fmt / f"{name}_mnist" / "1" for fmt in ("onnx", "tflite"))
        info[name] = {"model": result.model, "run_dir": result.run_dir, "export": result.export_path, "refs": refs,
                      "onnx_dir": onnx_dir, "tflite_dir": tflite_dir}
        spec["models"][name] = {"saved_model": str(result.export_path), "inputs": str(tmp / f"{name}_inputs.npz"),
                                "tflite": str(tflite_dir / "model.tflite"), "onnx_dir": str(onnx_dir),
                                "onnx_signatures": read_metadata_file(onnx_dir)["signatures"]}
    (tmp / "spec.json").write_text(json.dumps(spec))
    (tmp / "plain").mkdir()
    procs["plain"] = _start([sys.executable, "-c", PLAIN_RUNNER, tmp / "spec.json", tmp / "plain"])
    outputs = {key: _finish(proc) for key, proc in procs.items()}
    return {"tmp": tmp, "root": root, "models": info, "outputs": outputs, "printed": printed.getvalue(),
            "plain": json.loads(outputs["plain"].strip().splitlines()[-1]),
            "cli": json.loads(outputs["cli"].strip().splitlines()[-1]),
            "arrays": {name: dict(np.load(tmp / "plain" / f"{name}.npz")) for name in MODELS}}


def read_metadata_file(directory: Path) -> dict:
    return json.loads((directory / "keras_gen.json").read_text())


def _compare(served, name, fmt, atol, *, renamed=None):
    refs, arrays = served["models"][name]["refs"], served["arrays"][name]
    compared = []
    for key, expected in refs.items():
        sig, out = key.split("/")
        got_key = f"{fmt}/{sig}/{(renamed or {}).get(sig, {}).get(out, out)}"
        if got_key not in arrays:
            continue
        np.testing.assert_allclose(arrays[got_key], expected, atol=atol, err_msg=got_key)
        compared.append(sig)
    return set(compared)


@pytest.mark.parametrize("name", MODELS)
def test_saved_model_matches_keras_without_model_code(served, name):
    assert served["plain"]["keras_gen_imported"] is False
    compared = _compare(served, name, "saved_model", 1e-5)
    expected = {"sample", "latent", "generate"} | ({"encode", "decode", "reconstruct"} if name.startswith("vae")
                                                    else {"discriminate"})
    assert compared == expected
    arrays, refs = served["arrays"][name], served["models"][name]["refs"]
    np.testing.assert_allclose(arrays["saved_model/serving_default/images"], refs["sample/images"], atol=1e-5)
    # sample(seed) is generate(latent(seed)): interpolation between seeds starts and ends on samples.
    np.testing.assert_allclose(arrays["saved_model/generate_of_latent/images"], refs["sample/images"], atol=1e-5)
    assert refs["sample/images"].min() >= 0.0 and refs["sample/images"].max() <= 1.0
    # Each weight is stored once (Keras' ExportArchive.track wrote them twice: keras-team/keras#23553).
    reader = tf.train.load_checkpoint(str(served["models"][name]["export"] / "variables" / "variables"))
    stored = sum(int(np.prod(s)) for k, s in reader.get_variable_to_shape_map().items() if k.endswith("VARIABLE_VALUE"))
    assert stored == served["models"][name]["model"].count_params()


def test_saved_model_cli_shows_every_signature_and_runs_sample(served):
    shown = served["outputs"]["show"]
    for sig in ("sample", "serving_default", "generate", "latent", "encode", "decode", "reconstruct"):
        assert f"signature_def['{sig}']" in shown, sig
    assert "dtype: DT_INT32" in shown and "shape: (-1)" in shown and "shape: (-1, 28, 28, 1)" in shown
    assert "DT_HALF" not in shown and "DT_DOUBLE" not in shown
    images = np.load(served["tmp"] / "cli_run" / "images.npy")
    np.testing.assert_allclose(images, served["models"]["vae_mlp_2d"]["refs"]["sample/images"], atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_tflite_matches_keras(served, name):
    """Every signature converts, the seed ones included (noise tables, keras_gen.utils.seeded): a
    seed draws the Keras model's latent bit for bit, and its image to float rounding."""
    meta = read_metadata_file(served["models"][name]["tflite_dir"])
    network = ({"generate", "encode", "decode", "reconstruct"} if name.startswith("vae")
               else {"generate", "discriminate"})
    kept = network | {"sample", "latent", "serving_default"}
    assert set(meta["signatures"]) == kept == set(served["plain"][name]["tflite_signatures"])
    assert meta["left_out"] == {}
    assert _compare(served, name, "tflite", 1e-4) == kept - {"serving_default"}
    arrays = served["arrays"][name]
    np.testing.assert_array_equal(arrays["tflite/latent/z"], served["models"][name]["refs"]["latent/z"])
    np.testing.assert_allclose(arrays["tflite/serving_default/images"], served["models"][name]["refs"]["sample/images"],
                               atol=1e-4)
    if name == "vae_mlp_2d":  # exported with the command line
        assert f"TFLite:      {served['models'][name]['tflite_dir']}" in served["printed"]
        assert "left out" not in served["printed"]


@pytest.mark.parametrize("name", MODELS)
def test_onnx_matches_keras(served, name):
    onnx_dir = served["models"][name]["onnx_dir"]
    meta = read_metadata_file(onnx_dir)
    network = ({"generate", "encode", "decode", "reconstruct"} if name.startswith("vae")
               else {"generate", "discriminate"})
    kept = network | {"sample", "latent", "serving_default"}
    assert set(meta["signatures"]) == kept == {p.stem for p in onnx_dir.glob("*.onnx")}
    assert meta["left_out"] == {} and meta["opset"] == 18
    if name.startswith("vae"):  # ONNX names each value once: reconstruct's output is renamed
        assert meta["renamed_outputs"] == {"reconstruct": {"images": "images_out"}}
        assert served["plain"][name]["onnx_inputs"]["encode"] == ["images"]
    assert served["plain"][name]["onnx_inputs"]["generate"] == ["z"]
    assert _compare(served, name, "onnx", 1e-4, renamed=meta["renamed_outputs"]) == kept - {"serving_default"}
    assert served["plain"][name]["onnx_inputs"]["sample"] == ["seed"]
    np.testing.assert_array_equal(served["arrays"][name]["onnx/latent/z"], served["models"][name]["refs"]["latent/z"])


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
@pytest.mark.parametrize("name", MODELS)
def test_converted_exports_run_through_load_export(served, name, fmt):
    """keras_gen.load_export runs a TFLite or ONNX conversion as it runs the SavedModel, with the
    same outputs under the SavedModel's names, and checks shapes before the runtime sees them."""
    model = served["models"][name]
    export = serving.load_export(model[f"{fmt}_dir"])
    assert export.format == fmt and "sample" in export.signatures
    refs = model["refs"]
    np.testing.assert_allclose(export.sample(SEEDS), refs["sample/images"], atol=1e-4)
    np.testing.assert_array_equal(export.latent(SEEDS), refs["latent/z"])
    if name == "vae_mlp_2d":  # reconstruct's output keeps its name although ONNX renamed it
        images = np.asarray(served["models"][name]["model"].generate_unit(refs["latent/z"]), np.float32)
        np.testing.assert_allclose(export.run("reconstruct", {"images": images}, "images"),
                                   np.asarray(served["models"][name]["model"].reconstruct(images)), atol=1e-4)
    latent = export.latent_dim
    with pytest.raises(UserError, match=re.escape(f"latents must be a float array of shape [B, {latent}], got "
                                                  f"float32 [4, {latent + 1}]")):
        export.generate(np.zeros((4, latent + 1), np.float32))
    with pytest.raises(UserError, match=re.escape("generate's input z must be float32 of shape "
                                                  f"[B, {latent}], got int32 [4, {latent}]")):
        export.run("generate", {"z": np.zeros((4, latent), np.int32)}, "images")
    with pytest.raises(UserError, match="has no 'nope' signature"):
        export.run("nope", {"z": np.zeros((1, latent), np.float32)}, "images")


@pytest.mark.parametrize("name", MODELS)
def test_warmup_records_parse_with_serving_protos(served, name):
    warmup = served["plain"][name]["warmup"]
    signatures = {"sample", "latent", "generate"} | ({"encode", "decode", "reconstruct"} if name.startswith("vae")
                                                      else {"discriminate"})
    assert {w["signature"] for w in warmup} == signatures
    assert len(warmup) == len(signatures) * len(WARMUP_BATCH_SIZES)
    assert {w["model"] for w in warmup} == {f"{name}_mnist"}
    for w in warmup:
        assert set(w["inputs"].values()) <= set(WARMUP_BATCH_SIZES)
        assert len(set(w["inputs"].values())) == 1  # every input of a request has the same batch
    assert {tuple(w["inputs"]) for w in warmup if w["signature"] == "sample"} == {("seed",)}


def test_models_config_lists_every_export(served):
    root = served["root"]
    assert served["plain"]["models_config"] == [
        [f"{name}_mnist", str((root / f"{name}_mnist").resolve()), "tensorflow"] for name in sorted(MODELS)]
    assert sorted(p.name for p in (root / "vae_mlp_2d_mnist").iterdir()) == ["1", "2"]  # the CLI's re-export
    assert str(root / "vae_mlp_2d_mnist" / "2") in served["printed"]
    assert not [p for p in root.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]  # locks stay
    mode = (root / "vae_mlp_2d_mnist" / "2").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o777 & ~umask  # readable by a server running as another user


@pytest.mark.parametrize("name", MODELS)
def test_exports_have_no_device_pins_and_run_on_cpu_and_gpu(served, name):
    assert portability_problems(served["models"][name]["export"]) == []


def test_portability_check_finds_device_pins(tmp_path):
    class Pinned(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="z")])
        def generate(self, z):
            with tf.device("/device:CPU:0"):
                return {"images": tf.cast(tf.cast(z, tf.float64) * 2.0, tf.float32)}

    module = Pinned()
    tf.saved_model.save(module, str(tmp_path), signatures={"generate": module.generate})
    problems = portability_problems(tmp_path)
    assert any("pinned to /device:CPU:0" in p for p in problems), problems
    assert any("DT_DOUBLE, not float32" in p for p in problems), problems


def test_cli_sample_and_interpolate_write_pngs_without_model_code(served):
    tmp, cli = served["tmp"], served["cli"]
    assert cli["codes"] == [0, 0, 0, 0] and cli["model_code_imported"] == []
    grid = tf.io.decode_png(tf.io.read_file(str(tmp / "grid.png")))
    assert grid.shape[:2] == (4 * 29 - 1, 4 * 29 - 1)  # 16 images: 4x4 with 1-pixel gutters
    strip = tf.io.decode_png(tf.io.read_file(str(tmp / "strip.png")))
    assert strip.shape[:2] == (28, 10 * 29 - 1)  # one row of 10
    vae = served["models"]["vae_mlp_2d"]
    np.testing.assert_allclose(np.load(tmp / "grid.npy"), vae["model"].sample(tf.range(4)), atol=1e-5)
    gan = served["models"]["mlp_gan_wide"]
    strip = np.load(tmp / "strip.npy")
    assert strip.shape == (5, 28, 28, 1)
    # The path starts and ends on the two seeds' samples.
    np.testing.assert_allclose(strip[[0, -1]], gan["model"].sample(tf.constant([1, 2])), atol=1e-5)


def test_interpolation_linear_and_spherical(served):
    export = serving.load_export(served["models"]["vae_mlp_2d"]["export"])
    z0, z1 = export.latent([5, 9])
    model = served["models"]["vae_mlp_2d"]["model"]
    np.testing.assert_allclose([z0, z1], model.latent_from_seeds(tf.constant([5, 9])), atol=1e-6)
    linear = export.interpolate(5, 9, steps=3)
    np.testing.assert_allclose(linear[1], model.generate_unit((z0[None] + z1[None]) / 2.0)[0], atol=1e-5)
    t = np.linspace(0, 1, 7)
    path = serving.spherical_interpolation(z0.astype(np.float64), z1.astype(np.float64), t)
    np.testing.assert_allclose(path[[0, -1]], [z0, z1], atol=1e-6)
    # Between unit vectors, slerp stays on the sphere and turns at a constant angular speed.
    u0, u1 = (v / np.linalg.norm(v) for v in np.random.default_rng(1).standard_normal((2, 16)))
    arc = serving.spherical_interpolation(u0, u1, t)
    np.testing.assert_allclose(np.linalg.norm(arc, axis=1), 1.0, atol=1e-12)
    steps = 2 * np.arcsin(np.linalg.norm(np.diff(arc, axis=0), axis=1) / 2)
    np.testing.assert_allclose(steps, np.arccos(np.dot(u0, u1)) / 6, atol=1e-12)
    np.testing.assert_allclose(serving.spherical_interpolation(u0, u0, t), np.tile(u0, (7, 1)), atol=1e-12)
    spherical = export.interpolate(5, 9, steps=7, spherical=True)
    np.testing.assert_allclose(spherical, model.generate_unit(path.astype(np.float32)), atol=1e-5)


# ------------------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def conditional_export(tmp_path_factory):
    """An (untrained) conditional VAE exported: labels are checked against its 10 classes."""
    model = models_zoo.build("cvae", num_classes=10)
    path = export_model(model, tmp_path_factory.mktemp("cond"), model_name="cvae", dataset="mnist", steps=0)
    return model, serving.load_export(path)


def test_conditional_export_samples_with_labels(conditional_export):
    model, export = conditional_export
    labels = np.array([3, 3, 9, 0], np.int32)
    np.testing.assert_allclose(export.sample(SEEDS, labels), model.sample(tf.constant(SEEDS), tf.constant(labels)),
                               atol=1e-5)
    # Without labels: position % classes, as the training sample grids use.
    np.testing.assert_allclose(export.sample([0, 1]), model.sample(tf.constant([0, 1]), tf.constant([0, 1])),
                               atol=1e-5)
    np.testing.assert_allclose(export.sample([4, 5], 7), model.sample(tf.constant([4, 5]), tf.constant([7, 7])),
                               atol=1e-5)


@pytest.mark.parametrize("call, needle", [
    (lambda e: e.sample([0, 1], [10, 0]), "label 10 is out of range: model cvae has 10 classes (0..9)"),
    (lambda e: e.sample([0, 1], [-1, 0]), "label -1 is out of range"),
    (lambda e: e.sample([0, 1, 2], [1, 2]), "got 2 labels for 3 seeds"),
    (lambda e: e.sample(np.array([0.0, 1.5])), "seeds must be integers (int32), got dtype float64"),
    (lambda e: e.sample(tf.constant([0.0, 1.0])), "seeds must be integers (int32), got dtype float32"),
    (lambda e: e.sample(["a"]), "seeds must be integers"),
    (lambda e: e.sample([2**31]), "seeds must fit in int32"),
    (lambda e: e.sample(np.zeros((2, 2), np.int32)), "non-empty 1-d batch"),
    (lambda e: e.sample([0], [1.0]), "labels must be integers"),
    (lambda e: e.generate(np.zeros((2, 3), np.float32), [0, 0]), "latents must be a float array of shape [B, 2]"),
    (lambda e: e.interpolate(0, 1, steps=1), "steps must be an integer of at least 2"),
])
def test_bad_input_through_python_helpers(conditional_export, call, needle):
    _, export = conditional_export
    with pytest.raises(UserError) as err:
        call(export)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_unconditional_export_rejects_a_label(served):
    export = serving.load_export(served["models"]["vae_mlp_2d"]["export"])
    with pytest.raises(UserError, match="model vae_mlp_2d is not conditional; drop the label"):
        export.sample([0], [1])


@pytest.mark.parametrize("args, needles", [
    (["sample", "{tmp}", "--out", "{tmp}/x.png"], ["is not an export (no saved_model.pb", "saved_models/<model>"]),
    (["interpolate", "{tmp}", "--from-seed", "0", "--to-seed", "1", "--out", "{tmp}/x.png"], ["is not an export"]),
    (["sample", "{cond}", "--label", "12", "--out", "{tmp}/x.png"], ["label 12 is out of range", "0..9"]),
    (["sample", "{cond}", "--seed", "2147483640", "--out", "{tmp}/x.png"], ["do not fit in int32"]),
    (["export", "{tmp}"], ["is not a run directory (no config.json)"]),
    (["export", "{tmp}", "--format", "coreml"], ["invalid choice: 'coreml'"]),
])
def test_bad_input_on_the_command_line(args, needles, conditional_export, tmp_path, capsys):
    args = [a.format(tmp=tmp_path, cond=conditional_export[1].path) for a in args]
    with pytest.raises(SystemExit) as exit_info:
        cli_main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    proc = subprocess.CompletedProcess(args, 2, "", err)
    assert_one_line_error(proc, *needles)
    assert not (tmp_path / "x.png").exists()


def test_export_of_a_run_without_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UserError, match="has no checkpoint .checkpoints/latest.json.; train it"):
        export_run(tmp_path, fmt="onnx")


def test_formats_that_cannot_represent_a_model_are_user_errors(tmp_path):
    """A generate signature that uses an op neither TFLite's built-ins nor ONNX have."""

    class Noisy(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="z")])
        def generate(self, z):
            noise = tf.random.stateless_normal(tf.shape(z), seed=[1, 2])
            return {"images": tf.reshape(tf.sigmoid(z + noise), [-1, 1, 2, 1])}

    module, export = Noisy(), tmp_path / "noisy_mnist" / "1"
    tf.saved_model.save(module, str(export), signatures={"generate": module.generate})
    (export / "assets").mkdir(exist_ok=True)
    (export / "assets" / "keras_gen.json").write_text(json.dumps({"model": "noisy", "dataset": "mnist"}))
    with pytest.raises(UserError, match="TFLite cannot represent model noisy: .*; export it as saved_model or onnx"):
        export_tflite(export, tmp_path / "out")
    with pytest.raises(UserError, match="ONNX cannot represent signature generate of model noisy: .*"
                                        "StatelessRandom.*; export it as saved_model or tflite"):
        export_onnx(export, tmp_path / "out")
    assert not (tmp_path / "out" / "tflite" / "noisy_mnist" / "1").exists()
    with pytest.raises(UserError, match="is not a keras_gen export"):
        export_onnx(tmp_path, tmp_path / "out")


def test_seed_signatures_of_keras_gen_0_1_exports_stay_out_of_conversions(tmp_path):
    """Exports of 0.1 drew latents with TF's Philox kernels (no ``seed_generator`` in keras_gen.json):
    converting them leaves the seed signatures out, saying why and how to get them."""
    from keras_gen.export.convert import split_signatures
    from keras_gen.export.saved_model import export_model

    path = export_model(models_zoo.build("mlp_gan"), tmp_path, model_name="mlp_gan", dataset="mnist", steps=0)
    assert split_signatures(path, fmt="onnx") == (sorted(["discriminate", "generate", "latent", "sample",
                                                          "serving_default"]), {})
    meta_file = path / "assets" / "keras_gen.json"
    meta = json.loads(meta_file.read_text())
    del meta["seed_generator"]
    meta_file.write_text(json.dumps({**meta, "keras_gen_version": "0.1.0"}))
    kept, left_out = split_signatures(path, fmt="tflite")
    assert kept == ["discriminate", "generate"] and set(left_out) == {"latent", "sample", "serving_default"}
    assert "keras_gen 0.1.0" in left_out["sample"] and "Philox" in left_out["sample"]
    assert "re-export the run" in left_out["sample"]


def test_one_default_batch_cap_everywhere(capsys):
    """An export without max_batch (before 0.2) is capped and chunked at one value: the servers'
    --max-batch default and LoadedExport's own chunking (they were 1024 and 4096)."""
    import inspect

    from keras_gen.cli import explore, serve
    from keras_gen.serving import DEFAULT_MAX_BATCH
    from keras_gen.serving.explorer_app import create_explorer_app
    from keras_gen.serving.repository import ModelRepository
    from keras_gen.serving.rest import create_app
    from keras_gen.serving.runtime import LoadedExport

    old = LoadedExport.__new__(LoadedExport)
    old.metadata = {"model": "vae_mlp_2d"}
    assert old.max_batch == DEFAULT_MAX_BATCH
    for function in (create_app, create_explorer_app, ModelRepository.__init__):
        assert inspect.signature(function).parameters["max_batch"].default == DEFAULT_MAX_BATCH
    for module in (serve, explore):
        with pytest.raises(SystemExit):
            module.main(["--help"])
        assert f"sets no max_batch ({DEFAULT_MAX_BATCH})" in " ".join(capsys.readouterr().out.split())
