"""Datasets in their official formats (issue 4): CIFAR-10 python batches, CelebA's aligned layout,
Char74K's English folders and any image folder, written here in miniature exactly as the
archives lay them out (real pickles, real JPEG/PNG files), loaded, checked pixel by pixel, and
trained on for a few steps with ``train.py``; Fashion-MNIST from the Debian package; bad input.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from keras_gen.datasets import char74k, pipeline, registry
from keras_gen.utils.errors import UserError

from conftest import REPO, assert_one_line_error, run_in_process

CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
    "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
    "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
    "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
    "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()
CIFAR_PER_BATCH = 12
CELEBA_N = 40  # 000001-000030 train, 000031-000035 validation, 000036-000040 test
FASHION_DEBIAN = Path("/usr/share/datasets/fashion-mnist")


# --------------------------------------------------------------------------- writers
def write_cifar10(root: Path, rng) -> dict:
    """cifar-10-batches-py/ as in cifar-10-python.tar.gz: five training batches, a test batch, meta."""
    batches = root / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    arrays = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, size=(CIFAR_PER_BATCH, 32, 32, 3), dtype=np.uint8)  # channel-last truth
        labels = [int(v) for v in rng.integers(0, 10, size=CIFAR_PER_BATCH)]
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": images.transpose(0, 3, 1, 2).reshape(CIFAR_PER_BATCH, 3072),  # 1024 R, 1024 G, 1024 B
            b"filenames": [f"img_{i}.png".encode() for i in range(CIFAR_PER_BATCH)],
        }
        (batches / name).write_bytes(pickle.dumps(batch, protocol=2))
        arrays[name] = (images, np.array(labels))
    meta = {b"num_cases_per_batch": 10000, b"num_vis": 3072,
            b"label_names": [n.encode() for n in "airplane automobile bird cat deer dog frog horse ship truck".split()]}
    (batches / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return arrays


def celeba_value(i: int) -> int:
    return 40 + 4 * i  # the face square of image i is this grey level; bands above and below are 250


def write_celeba(root: Path) -> None:
    """img_align_celeba/000001.jpg... (178 wide, 218 high) with the two official annotation files."""
    images = root / "img_align_celeba"
    images.mkdir(parents=True)
    for i in range(1, CELEBA_N + 1):
        image = np.full((218, 178, 3), 250, np.uint8)
        image[20:198] = celeba_value(i)  # the centre 178x178 square that a centre crop keeps
        (images / f"{i:06d}.jpg").write_bytes(tf.io.encode_jpeg(image, quality=95).numpy())
    parts = [0] * 30 + [1] * 5 + [2] * 5
    (root / "list_eval_partition.txt").write_text(
        "".join(f"{i:06d}.jpg {p}\n" for i, p in enumerate(parts, 1)))
    rows = [f"{CELEBA_N}\n", " ".join(CELEBA_ATTRIBUTES) + " \n"]
    for i in range(1, CELEBA_N + 1):
        values = [(1 if i % 2 else -1) if a == "Male" else -1 for a in CELEBA_ATTRIBUTES]
        rows.append(f"{i:06d}.jpg " + " ".join(f"{v:2d}" for v in values) + "\n")  # aligned, as the original
    (root / "list_attr_celeba.txt").write_text("".join(rows))


def char_value(label: int, k: int) -> int:
    return 50 + 3 * label + k


def write_char74k(root: Path) -> None:
    """English/Fnt/SampleNNN (EnglishFnt.tgz, 128x128 grey PNGs) and English/Hnd/Img/SampleNNN (RGB)."""
    for label in range(62):
        sample = f"Sample{label + 1:03d}"
        for k in range(2):
            path = root / "English" / "Fnt" / sample / f"img{label + 1:03d}-{k + 1:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image = np.full((128, 128, 1), char_value(label, k), np.uint8)
            path.write_bytes(tf.io.encode_png(image).numpy())
        path = root / "English" / "Hnd" / "Img" / sample / f"img{label + 1:03d}-001.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(tf.io.encode_png(np.full((90, 120, 3), char_value(label, 0), np.uint8)).numpy())


def write_folder(root: Path, rng, *, classes=("cat", "dog"), per_class=12, broken=True) -> None:
    """Class sub-directories of JPEGs and PNGs of mixed sizes, plus two files that are not images."""
    for c, name in enumerate(classes):
        for i in range(per_class):
            h, w = (40, 56) if i % 2 else (64, 64)
            image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) if c else np.full((h, w, 3), 30, np.uint8)
            path = root / name / (f"{i:03d}.jpg" if i % 3 else f"{i:03d}.png")
            path.parent.mkdir(parents=True, exist_ok=True)
            encoded = tf.io.encode_png(image) if path.suffix == ".png" else tf.io.encode_jpeg(image)
            path.write_bytes(encoded.numpy())
    if broken:
        (root / classes[1] / "zz_empty.jpg").write_bytes(b"")
        (root / classes[0] / "zz_notes.png").write_text("not an image\n")


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """$KERAS_GEN_DATA-style root: cifar10/, celeba/, char74k/, folder/ in their official layouts."""
    root = tmp_path_factory.mktemp("datasets")
    rng = np.random.default_rng(0)
    arrays = write_cifar10(root / "cifar10", rng)
    write_celeba(root / "celeba")
    write_char74k(root / "char74k")
    write_folder(root / "folder", rng)
    return root, arrays


def elements(ds) -> tuple[np.ndarray, np.ndarray]:
    pairs = list(ds.as_numpy_iterator())
    return [p[0] for p in pairs], np.array([p[1] for p in pairs])


# --------------------------------------------------------------------------- train.py, three at once
def train_runs(root: Path, out: Path) -> dict:
    common = ["--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4"]

    def args(name, *extra):
        return ["train.py", *extra, *common, "--run-dir", out / name / "run", "--export-dir", out / name / "export"]

    jobs = {
        # dcgan_32-style: CIFAR-10 at 32x32x3 via --data-dir (the parent of cifar-10-batches-py), exported
        "cifar10": (args("cifar10", "--model", "dcgan", "--dataset", "cifar10", "--image-size", "32",
                         "--data-dir", root / "cifar10"), None),
        # found through $KERAS_GEN_DATA/celeba, Male as the label, first 30 images, centre crop to 32x32
        "celeba": (args("celeba", "--model", "vae_mlp_2d", "--dataset", "celeba", "--attribute", "Male",
                        "--limit", "30", "--image-size", "32", "--no-export"), {"KERAS_GEN_DATA": str(root)}),
        # the handwritten subset at the model's 28x28x1, from RGB PNGs
        "char74k": (args("char74k", "--model", "mlp_gan_wide", "--dataset", "char74k", "--subset", "hnd",
                         "--data-dir", root / "char74k", "--no-export"), None),
    }
    # What train.py makes of each format, through its main in this process (one after another: a call
    # holds the process's working directory and output): no TensorFlow start per job.
    return {name: run_in_process(a, env=env) for name, (a, env) in jobs.items()}


@pytest.fixture(scope="session")
def cli_runs(data_root, tmp_path_factory):
    root, _ = data_root
    out = tmp_path_factory.mktemp("cli_runs")
    return out, train_runs(root, out)


def check_trained(proc: subprocess.CompletedProcess, run_dir: Path) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run_dir / "samples" / "latest.png").is_file()
    assert (run_dir / "checkpoints" / "latest.json").is_file()
    assert not (run_dir / "data_cache").exists()
    return json.loads((run_dir / "config.json").read_text())


def test_train_py_on_cifar10_celeba_char74k(cli_runs):
    out, procs = cli_runs
    config = check_trained(procs["cifar10"], out / "cifar10" / "run")
    assert config["image_shape"] == [32, 32, 3] and config["dataset"] == "cifar10"
    assert list((out / "cifar10" / "export").rglob("saved_model.pb"))

    config = check_trained(procs["celeba"], out / "celeba" / "run")
    assert config["image_shape"] == [32, 32, 3] and config["attribute"] == "Male" and config["limit"] == 30

    config = check_trained(procs["char74k"], out / "char74k" / "run")
    assert config["image_shape"] == [28, 28, 1] and config["subset"] == "hnd"


# --------------------------------------------------------------------------- loaders, in process
def test_cifar10_batches_load_channel_last(data_root, tmp_path):
    root, arrays = data_root
    for where in (root / "cifar10", root / "cifar10" / "cifar-10-batches-py"):  # the parent or the folder
        source = registry.find_source("cifar10", where)
        assert source.num_classes == 10
        images, labels = elements(source.load("train"))
        expected = np.concatenate([arrays[f"data_batch_{i}"][0] for i in range(1, 6)])
        np.testing.assert_array_equal(np.stack(images), expected)  # [N, 32, 32, 3], channel order kept
        np.testing.assert_array_equal(labels, np.concatenate([arrays[f"data_batch_{i}"][1] for i in range(1, 6)]))
        images, labels = elements(source.load("test"))
        np.testing.assert_array_equal(np.stack(images), arrays["test_batch"][0])

    # A pickle that would run code is refused, not executed.
    evil = tmp_path / "cifar-10-batches-py"
    evil.mkdir()
    for f in (root / "cifar10" / "cifar-10-batches-py").iterdir():
        (evil / f.name).write_bytes(f.read_bytes())
    (evil / "test_batch").write_bytes(b"cos\nsystem\n(S'touch pwned'\ntR.")
    with pytest.raises(UserError, match=r"test_batch is not a readable CIFAR-10 .*os\.system"):
        registry.find_source("cifar10", tmp_path).load("test")
    (evil / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(UserError, match=r"test_batch: b'data' is uint8 \[2, 100\]"):
        registry.find_source("cifar10", tmp_path).load("test")


def test_celeba_splits_attribute_and_centre_crop(data_root, capsys):
    root, _ = data_root
    source = registry.find_source("celeba", root / "celeba")
    assert source.num_classes is None
    images, labels = elements(source.load("train"))
    assert len(images) == 30 and images[0].shape == (218, 178, 3) and set(labels) == {-1}
    assert len(list(source.load("test"))) == 5 and len(list(source.load("validation"))) == 5

    male = registry.find_source("celeba", root / "celeba", options={"attribute": "Male"})
    assert male.num_classes == 2
    _, labels = elements(male.load("train"))
    np.testing.assert_array_equal(labels, [1 if i % 2 else 0 for i in range(1, 31)])

    # Centre crop (drops the 20-row bands above and below) then resize: only the face grey is left.
    batches = pipeline.build_train_set(male.load("train"), image_shape=(64, 64, 3), value_range="zero_one",
                                   batch_size=30, seed=0, shuffle=False)
    (batch, batch_labels), = list(batches.as_numpy_iterator())
    assert batch.shape == (30, 64, 64, 3) and batch.dtype == np.float32
    for i, image in enumerate(batch, 1):
        assert abs(image.mean() * 255 - celeba_value(i)) < 2, i
        assert np.abs(image * 255 - celeba_value(i)).max() < 16, i

    with pytest.raises(UserError, match=r"--attribute 'male' is not a column of .*list_attr_celeba.txt; did you "
                                        r"mean 'Male'\?"):
        registry.find_source("celeba", root / "celeba", options={"attribute": "male"}).load("train")
    with pytest.raises(UserError, match=r"dataset celeba does not take --subset \(it takes --attribute\)"):
        registry.find_source("celeba", root / "celeba", options={"subset": "fnt"})


def test_char74k_classes_subsets_and_grayscale(data_root):
    root, _ = data_root
    source = registry.find_source("char74k", root / "char74k")
    assert source.num_classes == 62 and char74k.CHAR74K_CLASSES[10] == "A" and char74k.CHAR74K_CLASSES[36] == "a"
    train, test = (elements(source.load(split)) for split in ("train", "test"))
    assert len(train[0]) + len(test[0]) == 124 and 0 < len(test[0]) < 30  # disjoint, stable hold-out
    for image, label in zip(train[0] + test[0], np.concatenate([train[1], test[1]])):
        assert image.shape == (128, 128, 1)
        assert int(image[0, 0, 0]) in (char_value(label, 0), char_value(label, 1))  # Sample{label+1:03d}
    assert sorted(set(train[1]) | set(test[1])) == list(range(62))

    images, labels = elements(registry.find_source("char74k", root / "char74k",
                                                   options={"subset": "hnd"}).load("train"))
    assert images[0].shape == (90, 120, 1)  # RGB PNG read as grey
    assert all(abs(int(im[0, 0, 0]) - char_value(y, 0)) <= 1 for im, y in zip(images, labels))

    with pytest.raises(UserError, match=r"has no Char74K img images; .*it has fnt, hnd: pass --subset fnt"):
        registry.find_source("char74k", root / "char74k", options={"subset": "img"}).load("train")
    with pytest.raises(UserError, match=r"--subset must be one of fnt, hnd, img for char74k, got 'bad'"):
        registry.find_source("char74k", root / "char74k", options={"subset": "bad"}).load("train")


def test_folder_classes_skips_files_that_are_not_images(data_root, tmp_path, capsys):
    root, _ = data_root
    source = registry.find_source("folder", root / "folder")
    assert source.num_classes == 2  # cat, dog
    train, test = (elements(source.load(split)) for split in ("train", "test"))
    err = capsys.readouterr().err
    assert "dog/zz_empty.jpg: empty file" in err and "cat/zz_notes.png: not a JPEG, PNG, GIF or BMP" in err
    assert err.count("warning: ") == 1 and "skipped 2 of 26 image files" in err  # counted once, over every file
    assert len(train[0]) + len(test[0]) == 24
    for image, label in zip(train[0] + test[0], np.concatenate([train[1], test[1]])):
        assert image.shape[2] == 3 and image.shape[:2] in ((40, 56), (64, 64))
        assert label in (0, 1) and (label == 1 or int(np.abs(image.astype(int) - 30).max()) <= 2)

    flat = tmp_path / "flat"
    write_folder(flat, np.random.default_rng(1), classes=("only",), per_class=10, broken=False)
    unlabelled = registry.find_source("folder", flat)
    assert unlabelled.num_classes is None
    assert set(elements(unlabelled.load("train"))[1]) == {-1}

    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"--data-dir .*empty does not hold folder: expected a directory of"):
        registry.find_source("folder", tmp_path / "empty")
    (tmp_path / "junk" / "a").mkdir(parents=True)
    (tmp_path / "junk" / "a" / "x.jpg").write_text("<html>")
    with pytest.raises(UserError, match=r"no decodable image in .*junk: all 1 files fail \(a/x.jpg: not a JPEG"):
        registry.find_source("folder", tmp_path / "junk").load("train")


def test_file_cache_and_corrupt_image_data(tmp_path, monkeypatch):
    """Too big for memory -> tf.data file cache, same batches; a JPEG corrupt past its header is dropped."""
    folder = tmp_path / "faces"
    write_folder(folder, np.random.default_rng(2), classes=("a", "b"), per_class=6, broken=False)
    good = (folder / "b" / "001.jpg").read_bytes()
    (folder / "b" / "zz_cut.jpg").write_bytes(good[:200])  # valid JPEG header, truncated data
    source = registry.find_source("folder", folder)
    n = pipeline.count_examples(source.load("train"))

    def batches(cache_dir):
        ds = pipeline.build_train_set(source.load("train"), image_shape=(16, 16, 3), value_range="minus_one_one",
                                  batch_size=4, seed=1, drop_remainder=False, cache_dir=cache_dir)
        return [(x.numpy(), y.numpy()) for x, y in ds] + [(x.numpy(), y.numpy()) for x, y in ds]

    in_memory = batches(None)
    monkeypatch.setattr(pipeline, "MEMORY_CACHE_FRACTION", 0.0)
    on_disk = batches(tmp_path / "cache")
    assert list((tmp_path / "cache").glob("images*.index"))
    assert sum(len(y) for _, y in in_memory) == 2 * (n - 1)  # both epochs lack the truncated file
    for (xa, ya), (xb, yb) in zip(in_memory, on_disk, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
        assert xa.min() >= -1 and xa.max() <= 1


# --------------------------------------------------------------------------- registry and CLI, in process
def test_list_datasets_shows_every_dataset_and_where(data_root, monkeypatch):
    from keras_gen.cli import train as cli

    root, _ = data_root
    monkeypatch.setenv("KERAS_GEN_DATA", str(root))
    lines = []
    cli.list_datasets(out=lines.append)
    rows = {line.split()[0]: line for line in lines}
    assert set(rows) >= {"mnist", "fashion_mnist", "cifar10", "celeba", "char74k", "folder"}
    for name in ("cifar10", "celeba", "char74k", "folder"):
        assert str(root / name) in rows[name], rows[name]
    assert "32x32x3" in rows["cifar10"] and "classes 10" in rows["cifar10"]
    assert "218x178x3" in rows["celeba"] and "2 with --attribute" in rows["celeba"]
    assert "any x1" in rows["char74k"] and "classes 62" in rows["char74k"]
    assert "classes 2 " in rows["folder"]

    monkeypatch.setenv("KERAS_GEN_DATA", str(root / "nowhere"))
    lines.clear()
    cli.list_datasets(out=lines.append)
    rows = {line.split()[0]: line for line in lines}
    assert "not found; extract cifar-10-python.tar.gz" in rows["cifar10"]
    assert "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html" in rows["celeba"]


def main_error(capsys, argv) -> subprocess.CompletedProcess:
    """``train.py ARGV`` in this process (saves a TensorFlow import per case), as a CompletedProcess."""
    from keras_gen.cli.train import main as train_main

    with pytest.raises(SystemExit) as exit_info:
        train_main([str(a) for a in argv])
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(argv, exit_info.value.code, captured.out, captured.err)


def test_bad_input_is_one_line(data_root, tmp_path, capsys, monkeypatch):
    root, _ = data_root
    monkeypatch.setenv("KERAS_GEN_DATA", str(tmp_path / "nowhere"))
    base = ["--model", "dcgan", "--run-dir", tmp_path / "run", "--epochs", "1", "--steps-per-epoch", "1"]
    missing = tmp_path / "missing"
    assert_one_line_error(main_error(capsys, [*base, "--dataset", "celeba", "--data-dir", missing]),
                          f"--data-dir {missing} does not exist", "img_align_celeba/")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(main_error(capsys, [*base, "--dataset", "folder", "--data-dir", tmp_path / "empty"]),
                          "empty does not hold folder", "one per class")
    (tmp_path / "partial" / "cifar-10-batches-py").mkdir(parents=True)
    (tmp_path / "partial" / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"")
    assert_one_line_error(main_error(capsys, [*base, "--dataset", "cifar10", "--data-dir", tmp_path / "partial"]),
                          "does not hold cifar10", "data_batch_1..data_batch_5, test_batch")
    truncated = tmp_path / "truncated" / "cifar-10-batches-py"
    truncated.mkdir(parents=True)
    for f in (root / "cifar10" / "cifar-10-batches-py").iterdir():
        truncated.joinpath(f.name).write_bytes(f.read_bytes())
    whole = (truncated / "data_batch_3").read_bytes()
    (truncated / "data_batch_3").write_bytes(whole[: len(whole) // 2])
    assert_one_line_error(main_error(capsys, [*base, "--dataset", "cifar10", "--data-dir", truncated.parent]),
                          f"{truncated / 'data_batch_3'} is not a readable CIFAR-10 python batch", "b'data'")
    assert_one_line_error(main_error(capsys, [*base, "--dataset", "char74k", "--data-dir", root / "char74k",
                                              "--subset", "img"]), "no Char74K img images", "pass --subset fnt")
    assert_one_line_error(main_error(capsys, [*base, "--dataset", "mnist", "--subset", "fnt"]),
                          "dataset mnist does not take --subset")
    assert_one_line_error(main_error(capsys, [*base, "--dataset", "celeba", "--data-dir", root / "celeba",
                                              "--attribute", "Beard"]), "'Beard' is not a column", "No_Beard")
    # Nothing local: what to put where, and --download as the alternative; never a download by surprise.
    assert_one_line_error(main_error(capsys, [*base, "--dataset", "cifar10"]),
                                 "dataset cifar10 is not on this machine", "cifar-10-batches-py", "--data-dir DIR",
                                 "--download (about 170 MB")
    # --download with a TFDS fall-back that fails (an unknown TFDS name): one line, no traceback.
    monkeypatch.setitem(registry._DATASETS, "cifar10", dataclasses.replace(registry._DATASETS["cifar10"],
                                                                       tfds_name="no_such_tfds_dataset"))
    monkeypatch.setattr(registry, "check_online", lambda spec: None)
    assert_one_line_error(main_error(capsys, [*base, "--dataset", "cifar10", "--download"]),
                          "--download of no_such_tfds_dataset failed", "--data-dir DIR")
    assert not (tmp_path / "run").exists()


def test_fashion_mnist_from_debian_and_a_folder_train_in_process(data_root, tmp_path, monkeypatch, capsys):
    """No flags find /usr/share/datasets/fashion-mnist; a labelled folder with two broken files trains."""
    from keras_gen.config import resolve_config
    from keras_gen.training.run import train

    if not FASHION_DEBIAN.is_dir():
        pytest.skip(f"{FASHION_DEBIAN} missing: apt-get install dataset-fashion-mnist")
    monkeypatch.delenv("KERAS_GEN_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert registry.find_source("fashion_mnist").directory == FASHION_DEBIAN or \
        (REPO / "data" / "fashion_mnist").is_dir()
    common = dict(epochs=1, steps_per_epoch=2, batch_size=16, export=False, verbose=0)
    result = train(resolve_config("vae_mlp_2d", dataset="fashion_mnist", limit=512,
                                  run_dir=str(tmp_path / "fashion"), **common), out=lambda *a: None)
    assert result.epochs_done == 1 and (tmp_path / "fashion" / "samples" / "latest.png").is_file()

    root, _ = data_root
    result = train(resolve_config("mlp_gan_wide", dataset="folder", data_dir=str(root / "folder"), image_size=24,
                                  run_dir=str(tmp_path / "folder"), **common), out=lambda *a: None)
    assert result.config.image_shape == (24, 24, 3) and result.epochs_done == 1  # two broken files skipped


def test_a_grayscale_folder_trains_as_one_channel_with_exact_steps(tmp_path, mnist_test):
    """300 grayscale PNGs and one broken file: 1 channel, the warning counts every file once, each
    epoch runs one pass over the readable training files, and Keras never runs out of data."""
    folder = tmp_path / "digits"
    folder.mkdir()
    images, _ = mnist_test
    for i in range(300):
        tf.io.write_file(str(folder / f"{i:03d}.png"), tf.io.encode_png(images[i]))
    (folder / "zz_broken.png").write_bytes(b"not a png")
    run_dir = tmp_path / "run"
    proc = run_in_process([REPO / "train.py", "--model", "vae_mlp_2d", "--dataset", "folder", "--data-dir", folder,
                           "--epochs", "2", "--batch-size", "64", "--run-dir", run_dir, "--no-export"], cwd=tmp_path,
                          check=True)
    assert proc.stderr.count("skipped 1 of 301 image files") == 1, proc.stderr
    assert "ran out of data" not in proc.stderr
    config = json.loads((run_dir / "config.json").read_text())
    assert config["image_shape"] == [28, 28, 1]
    n_train = len(registry.find_source("folder", folder).load("train"))
    assert 250 <= n_train < 300 and config["steps_per_epoch"] == n_train // 64
    assert json.loads((run_dir / "checkpoints" / "latest.json").read_text())["steps"] == 2 * (n_train // 64)
    assert f"{n_train // 64}/{n_train // 64}" in proc.stdout  # the progress bar counts the steps that run
    rows = (run_dir / "history.csv").read_text().splitlines()
    assert len(rows) == 3
