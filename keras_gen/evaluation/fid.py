"""``keras-gen fid A B``: the standard FID between two sets of images, offline and without PyTorch.

FID (Heusel et al. 2017) on the 2048-d ``pool_3`` features of the 2015-12-05 Inception graph
(:mod:`keras_gen.evaluation.fid_inception`), as ``python -m pytorch_fid A B``, TTUR's ``fid.py`` and
clean-fid's ``legacy_tensorflow`` mode compute it; with options KID (Binkowski et al. 2018,
unbiased at any image count), precision/recall (Kynkaanniemi et al. 2019) and density/coverage
(Naeem et al. 2020) from :mod:`keras_gen.evaluation.metrics`.

Each side is one of (:func:`feature_set`):

* ``DATASET:SPLIT`` -- a dataset found locally as training finds it (``mnist:test``,
  ``fashion_mnist:train``, ``celeba:test``); its features are cached per dataset, split, image
  count, seed and convention, and so are its statistics (:func:`reference_statistics`);
* an image folder: PNG, JPEG, GIF or BMP files, searched recursively; images of other sizes than
  the most common one are resized to it (said in a note), an undecodable file is skipped and
  counted once;
* a ``.npy`` or ``.npz`` array of images: ``[N, H, W]``, ``[N, H, W, C]`` or ``[N, C, H, W]``
  with C in {1, 3}, uint8 or floats in [0, 1];
* a statistics ``.npz`` with float64 ``mu [2048]`` and ``sigma [2048, 2048]``: pytorch-fid's
  ``--save-stats`` and TTUR's precomputed files, or this module's :func:`write_statistics`
  (which adds ``num_images``, ``network`` and ``convention`` beside them; readers that know only
  ``mu`` and ``sigma`` ignore them);
* a run directory or an export: ``num_images`` samples from the seeds ``keras-gen evaluate``
  uses (default 10,000).

``num_images`` picks a random subset of a dataset, folder or array (seeded; more than the set
holds is an error) and the sample count of a model. FID falls as the image count grows (it is
biased for finite samples), so two figures compare only at equal counts: every result names both
sides' counts.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from keras_gen import __version__
from keras_gen.evaluation import metrics
from keras_gen.evaluation.settings import kid_subset_size
from keras_gen.utils.errors import UserError
from keras_gen.utils.fileio import atomic_path
from keras_gen.utils.progress import Progress

DEFAULT_MODEL_SAMPLES = 10_000
CHUNK = 500  # images decoded, sampled or held at a time
STATS_LAYOUT = "a statistics .npz holds float64 mu [D] and sigma [D, D] (pytorch-fid's --save-stats layout)"
INPUTS = ("an image folder, a .npy/.npz array of images, a statistics .npz (mu, sigma), a run or export "
          "directory, or a dataset with its split (mnist:test)")
ARRAY_KEYS = ("images", "x", "samples", "arr_0")


@dataclasses.dataclass
class FeatureSet:
    """One side of a comparison: its features (None for a statistics file) or its statistics."""

    label: str  # what the user passed, as they would recognise it
    kind: str  # "dataset", "folder", "array", "statistics", "model"
    count: int | None  # images behind the figures (None: a statistics file that does not say)
    features: np.ndarray | None = None  # float32 [N, D]
    mu: np.ndarray | None = None  # float64 [D]
    sigma: np.ndarray | None = None  # float64 [D, D]
    notes: list[str] = dataclasses.field(default_factory=list)
    stats_path: Path | None = None  # where its statistics are cached (datasets)

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mu is None:
            self.mu, self.sigma = metrics.feature_statistics(self.features)
        return self.mu, self.sigma

    def describe(self) -> dict:
        return {"input": self.label, "kind": self.kind, "images": self.count, "notes": list(self.notes),
                **({"statistics": str(self.stats_path)} if self.stats_path else {})}


# --------------------------------------------------------------------------- statistics files
def read_statistics(path: str | os.PathLike, *, feature_dim: int | None = None) -> FeatureSet:
    """A statistics ``.npz`` (``mu``, ``sigma``) checked for shape and finiteness."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if "mu" not in data or "sigma" not in data:
                raise UserError(f"{path} holds {', '.join(data.files) or 'nothing'}, not mu and sigma; {STATS_LAYOUT}")
            mu, sigma = np.asarray(data["mu"], np.float64), np.asarray(data["sigma"], np.float64)
            extra = {k: data[k].item() for k in ("num_images", "network", "convention") if k in data}
    except UserError:
        raise
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read {path} as a statistics .npz ({err}); {STATS_LAYOUT}") from None
    d = feature_dim or (mu.shape[0] if mu.ndim == 1 else None)
    if mu.shape != (d,) or sigma.shape != (d, d):
        want = f"mu [{d}] and sigma [{d}, {d}]" if d else "mu [D] and sigma [D, D]"
        raise UserError(f"{path}: mu has shape {list(mu.shape)} and sigma {list(sigma.shape)}; expected {want} "
                        f"(the network's {d} features); {STATS_LAYOUT}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise UserError(f"{path}: mu or sigma holds NaN or infinite values; recompute it from the images")
    notes = []
    if extra.get("convention"):
        notes.append(f"statistics computed with the {extra['convention']} convention")
    count = int(extra["num_images"]) if "num_images" in extra else None
    return FeatureSet(label=str(path), kind="statistics", count=count, mu=mu, sigma=sigma, notes=notes)


def write_statistics(path: str | os.PathLike, mu: np.ndarray, sigma: np.ndarray, *, num_images: int | None,
                     network: str, convention: str | None) -> Path:
    """``mu``/``sigma`` as float64 in pytorch-fid's and TTUR's ``.npz`` layout (written atomically),
    with ``num_images``, ``network`` and ``convention`` beside them."""
    path = Path(path)
    if path.suffix != ".npz":
        raise UserError(f"{path}: statistics are written to a .npz file; name it {path.with_suffix('.npz').name}")
    extra = {"network": np.array(network), "convention": np.array(convention or "")}
    if num_images is not None:
        extra["num_images"] = np.array(int(num_images))
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, mu=np.asarray(mu, np.float64), sigma=np.asarray(sigma, np.float64), **extra)
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror or err}; pass a writable path") from None
    return path


def is_statistics_file(path: Path) -> bool:
    if path.suffix != ".npz" or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            return "mu" in data.files and "sigma" in data.files
    except (OSError, ValueError):
        return False


# --------------------------------------------------------------------------- inputs
def parse_dataset(text: str) -> tuple[str, str] | None:
    """``("mnist", "test")`` for ``"mnist:test"`` when ``mnist`` is a registered dataset, else None."""
    from keras_gen.datasets import dataset_names

    name, sep, split = text.partition(":")
    if not sep or name not in dataset_names():
        return None
    return name, split


def _subset(total: int, num_images: int | None, seed: int, what: str) -> np.ndarray | None:
    """Indices of a random ``num_images`` of ``total`` (None: all of them); more is an error."""
    from keras_gen.evaluation.extractors import subset_indices

    if num_images is None or num_images == total:
        return None
    if num_images > total:
        raise UserError(f"--num-images {num_images:,} is more than the {total:,} images of {what}; pass at most "
                        f"{total:,}")
    return subset_indices(total, num_images, seed)


def _check_split(dataset: str, split: str) -> None:
    from keras_gen.datasets.files import SPLITS

    if split not in SPLITS:
        raise UserError(f"unknown split {split!r} of {dataset}; choose one of {', '.join(SPLITS)} ({dataset}:test)")


def _check_count(count: int, what: str) -> None:
    if count < 2:
        raise UserError(f"{what} has {count} image{'s' * (count != 1)}; FID needs at least 2 (and thousands for a "
                        "figure worth comparing)")


def _pass(evaluator, batches, total: int, what: str) -> np.ndarray:
    """Features of an iterable of image batches, with one progress bar over ``total`` images."""
    parts = []
    with Progress(total, f"{evaluator.name} features of {what}") as bar:
        for batch in batches:
            parts.append(evaluator.features(batch, progress=bar))
    return np.concatenate(parts) if parts else np.zeros((0, evaluator.feature_dim), np.float32)


def _array_images(path: Path) -> tuple[np.ndarray, list[str]]:
    """Images ``[N, H, W, C]`` from a ``.npy``/``.npz`` (NCHW transposed, 3-d given a channel)."""
    try:
        if path.suffix == ".npy":
            x = np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as data:
                keys = [k for k in ARRAY_KEYS if k in data.files] or (data.files if len(data.files) == 1 else [])
                if not keys:
                    raise UserError(f"{path} holds {', '.join(data.files) or 'nothing'}; expected one array of "
                                    f"images (or one named {', '.join(ARRAY_KEYS[:3])}), or {STATS_LAYOUT}")
                x = data[keys[0]]
    except UserError:
        raise
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read {path} ({err}); expected a .npy or .npz array of images") from None
    return image_array(x, str(path))


def image_array(x: np.ndarray, what: str) -> tuple[np.ndarray, list[str]]:
    """``x`` as images ``[N, H, W, C]`` (NCHW transposed, 3-d given a channel), with notes on what was done."""
    notes = []
    if x.ndim == 3:
        x = x[..., None]  # [N, H, W] -> [N, H, W, 1]
    if x.ndim == 4 and x.shape[-1] not in (1, 3) and x.shape[1] in (1, 3):
        x = np.moveaxis(x, 1, -1)  # [N, C, H, W] -> [N, H, W, C]
        notes.append("channels-first array read as [N, C, H, W]")
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise UserError(f"{what} holds an array of shape {list(x.shape)}; expected images [N, H, W], [N, H, W, C] "
                        "or [N, C, H, W] with C = 1 or 3")
    if x.dtype != np.uint8 and not np.issubdtype(x.dtype, np.floating):
        raise UserError(f"{what} holds {x.dtype} values; expected uint8 or floats in [0, 1]")
    return x, notes


def _folder_images(root: Path, num_images: int | None, seed: int):
    """``(batches, count, notes, skipped)`` of a folder's images: a generator function of uint8
    batches decoded with Pillow in threads (images of other sizes resized to the most common
    size), the images whose headers read, notes, and the list of undecodable files, which grows
    as the batches find files whose data is damaged behind a good header."""
    from PIL import Image

    from keras_gen.datasets.files import walk_images

    files = walk_images(root)
    if not files:
        raise UserError(f"{root} holds no PNG, JPEG, GIF or BMP images; pass {INPUTS}")
    index = _subset(len(files), num_images, seed, str(root))
    if index is not None:
        files = [files[i] for i in index]

    def header(rel):
        try:
            with Image.open(root / rel) as image:
                return image.size, image.mode
        except Exception:  # noqa: BLE001 - Pillow raises many types for a damaged file
            return None

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        headers = list(pool.map(header, files))
    bad = [rel for rel, h in zip(files, headers) if h is None]
    good = [(rel, h) for rel, h in zip(files, headers) if h is not None]
    if not good:
        raise UserError(f"none of the {len(files):,} image files in {root} can be decoded (first: {bad[0]}); "
                        f"pass {INPUTS}")
    _check_count(len(good), str(root))
    (width, height), _ = collections.Counter(h[0] for _, h in good).most_common(1)[0]
    grey = all(h[1] in ("1", "L", "LA", "I", "I;16") for _, h in good)  # palette images may be colour
    mode, channels = ("L", 1) if grey else ("RGB", 3)
    resized = sum(h[0] != (width, height) for _, h in good)
    skipped = list(bad)

    def decode(rel):
        try:
            with Image.open(root / rel) as image:
                image = image.convert(mode)
                if image.size != (width, height):
                    image = image.resize((width, height), Image.BILINEAR)
                return np.asarray(image, np.uint8).reshape(height, width, channels)
        except Exception:  # noqa: BLE001 - a file whose header reads but whose data is damaged
            skipped.append(rel)
            return None

    def batches():
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            for start in range(0, len(good), CHUNK):
                decoded = [x for x in pool.map(decode, [rel for rel, _ in good[start:start + CHUNK]]) if x is not None]
                if decoded:
                    yield np.stack(decoded)

    notes = []
    if resized:
        notes.append(f"resized {resized:,} of {len(good):,} images to {width}x{height}, the most common size")
    return batches, len(good), notes, skipped


def model_image_shape(spec: str) -> tuple[int, int, int] | None:
    """The image shape a run directory or an export generates (read from its config.json or
    keras_gen.json, without loading it), else None."""
    path = Path(spec).expanduser()
    try:
        if (path / "config.json").is_file():
            return tuple(json.loads((path / "config.json").read_text())["image_shape"])
        from keras_gen.serving.runtime import metadata_file, resolve_export_path

        meta = metadata_file(resolve_export_path(path))
        return tuple(json.loads(meta.read_text())["image_shape"])
    except (OSError, ValueError, KeyError, UserError):
        return None


def matching_sizes(inputs: list[str]) -> dict:
    """How a dataset side and a model side are brought to one image size, as ``feature_set``
    keywords: a model trained on the dataset padded (MNIST's 28x28 in 32x32 for ``dcgan_32``) has
    its samples cropped back (``crop_to``), so the reference stays the dataset's own images and
    their cached statistics; a model of another size has the dataset fitted to it (``image_size``)
    as training fits it. Nothing when there is no such pair."""
    from keras_gen.datasets import get_dataset_spec
    from keras_gen.evaluation.extractors import crop_offsets

    models = [shape for shape in map(model_image_shape, inputs) if shape]
    datasets = [tuple(get_dataset_spec(parse_dataset(spec)[0]).image_shape) for spec in inputs
                if not Path(spec).expanduser().exists() and parse_dataset(spec)]
    if not models or not datasets or models[0] == datasets[0]:
        return {}
    model, data = models[0], datasets[0]
    if None not in data and crop_offsets(model, data) is not None:
        return {"crop_to": data}
    return {"image_size": model[0]}  # also for a dataset of no fixed size (celeba)


def check_input(spec: str, *, feature_dim: int, data_dir=None) -> None:
    """The checks of :func:`feature_set` that need no network: a missing path, an empty folder, a
    bad statistics file, an unknown dataset or split are errors before the network loads."""
    from keras_gen.datasets.files import has_image

    path = Path(spec).expanduser()
    if not path.exists():
        dataset = parse_dataset(spec)
        if dataset is None:
            raise UserError(f"{spec} does not exist and is not a dataset with its split; pass {INPUTS}")
        _check_split(*dataset)
        from keras_gen.datasets import find_source

        find_source(dataset[0], data_dir)  # not found here: one line saying what to put where
    elif is_statistics_file(path):
        read_statistics(path, feature_dim=feature_dim)
    elif path.is_dir() and not any((path / n).exists() for n in ("config.json", "saved_model.pb")) \
            and not has_image(path) and not any(p.name.isdigit() for p in path.iterdir()):
        raise UserError(f"{path} holds no PNG, JPEG, GIF or BMP images; pass {INPUTS}")


def feature_set(spec: str, evaluator, *, num_images: int | None = None, seed: int = 0, data_dir=None,
                image_size: int | None = None, crop_to=None) -> FeatureSet:
    """The features (or statistics) of one side, ``spec`` being any of the module docstring's inputs;
    ``image_size`` fits a dataset side, ``crop_to`` crops a model's samples (:func:`matching_sizes`)."""
    path = Path(spec).expanduser()
    dataset = None if path.exists() else parse_dataset(spec)
    if dataset is not None:
        return reference_statistics(evaluator, *dataset, num_images=num_images, seed=seed, data_dir=data_dir,
                                    image_size=image_size)
    if not path.exists():
        raise UserError(f"{spec} does not exist and is not a dataset with its split; pass {INPUTS}")
    if path.is_file() and is_statistics_file(path):
        return read_statistics(path, feature_dim=evaluator.feature_dim)
    if path.is_file() and path.suffix in (".npy", ".npz"):
        return array_feature_set(*_array_images(path), evaluator, label=str(path), num_images=num_images, seed=seed)
    if path.is_file():
        raise UserError(f"{path} is a {path.suffix or 'suffix-less'} file; pass {INPUTS}")
    if (path / "config.json").is_file() or (path / "saved_model.pb").is_file() or \
            any(p.name.isdigit() and (p / "saved_model.pb").is_file() for p in path.iterdir() if p.is_dir()):
        return _model_features(path, evaluator, num_images=num_images, seed=seed, crop_to=crop_to)
    batches, count, notes, skipped = _folder_images(path, num_images, seed)
    features = _pass(evaluator, batches(), count, f"{path.name}/")
    if skipped:
        notes.append(f"skipped {len(skipped):,} file{'s' * (len(skipped) != 1)} that cannot be decoded "
                     f"({', '.join(skipped[:3])}{', ...' if len(skipped) > 3 else ''})")
    _check_count(len(features), str(path))
    return FeatureSet(label=str(path), kind="folder", count=len(features), features=features, notes=notes)


def array_feature_set(images: np.ndarray, notes: list[str], evaluator, *, label: str, num_images: int | None = None,
                      seed: int = 0) -> FeatureSet:
    """The features of an array of images ``[N, H, W, C]`` (:func:`image_array`), ``num_images`` of them."""
    index = _subset(len(images), num_images, seed, label)
    if index is not None:
        images = images[index]
    _check_count(len(images), label)
    features = _pass(evaluator, (np.asarray(images[i:i + CHUNK]) for i in range(0, len(images), CHUNK)),
                     len(images), Path(label).name or label)
    return FeatureSet(label=label, kind="array", count=len(features), features=features, notes=notes)


def _model_features(path: Path, evaluator, *, num_images: int | None, seed: int, crop_to=None) -> FeatureSet:
    from keras_gen.evaluation.evaluate import open_subject, sample_batches
    from keras_gen.evaluation.extractors import crop_offsets

    subject = open_subject(path)
    count = num_images or DEFAULT_MODEL_SAMPLES
    _check_count(count, str(path))
    batches = (images for images, _ in sample_batches(subject, count, seed))
    info = subject.info
    notes = [f"{info['model']} ({info['checkpoint_label']}, {info['steps']:,} steps): {count:,} samples, seed {seed}"]
    if crop_to is not None:
        (dy, dx), (h, w) = crop_offsets(subject.image_shape, crop_to), crop_to[:2]
        batches = (images[:, dy:dy + h, dx:dx + w, :] for images in batches)  # [B, h, w, C]: the padding undone
        notes.append(f"cropped from {subject.image_shape[0]}x{subject.image_shape[1]} to {h}x{w}, undoing the "
                     "padding training added")
    features = _pass(evaluator, batches, count, f"{subject.name}'s samples")
    return FeatureSet(label=str(path), kind="model", count=count, features=features, notes=notes)


# --------------------------------------------------------------------------- cached reference statistics
def reference_statistics(evaluator, dataset: str, split: str, *, num_images: int | None = None, seed: int = 0,
                         data_dir=None, image_size: int | None = None) -> FeatureSet:
    """A dataset split's features and statistics, computed once per dataset, split, image count,
    seed and network convention: the features by :meth:`Evaluator.dataset_features` (its feature
    cache), the statistics written beside them as ``stats-<dataset>-<split>[-nN-seedS].npz`` in
    pytorch-fid's layout, which other tools read too."""
    from keras_gen.datasets import find_source
    from keras_gen.evaluation.extractors import load_split, source_key

    _check_split(dataset, split)
    source = find_source(dataset, data_dir)
    shape = tuple(source.spec.image_shape)
    if None in shape:
        if image_size is None:
            raise UserError(f"{dataset} images have no fixed size; pass --image-size N (the size your model "
                            "generates)")
        shape = (image_size, image_size, source.channels)
    elif image_size is not None and image_size != shape[0]:
        shape = (image_size, image_size, shape[2])
    subset = None
    if num_images is not None:  # more than the split holds is an error before the network's pass
        total = len(load_split(source, split, image_shape=shape)[1])
        subset = None if _subset(total, num_images, seed, f"{dataset}:{split}") is None else num_images
    suffix = "" if subset is None else f"-n{subset}-seed{seed}"
    key = f"{source_key(source, shape)}-{split}{suffix}"
    stats_path = evaluator.cache_dir / f"stats-{key}.npz" if evaluator.cache_dir is not None else None
    label = f"{dataset}:{split}"
    feats = evaluator.dataset_features(source, split, image_shape=shape, subset=subset, seed=seed)
    features = feats["features"]
    _check_count(len(features), label)
    notes = [] if shape == tuple(source.spec.image_shape) else \
        [f"fitted to {shape[0]}x{shape[1]} as training fits it (padded or resized)"]
    result = FeatureSet(label=label, kind="dataset", count=len(features), features=features, stats_path=stats_path,
                        notes=notes)
    if stats_path is not None:
        try:
            cached = read_statistics(stats_path, feature_dim=evaluator.feature_dim)
            if cached.count == len(features):
                result.mu, result.sigma = cached.mu, cached.sigma
        except UserError:
            pass  # missing or damaged: written below
        if result.mu is None:
            mu, sigma = result.statistics()
            write_statistics(stats_path, mu, sigma, num_images=len(features), network=evaluator.name,
                             convention=evaluator.details.get("convention"))
    return result


# --------------------------------------------------------------------------- the figures
@dataclasses.dataclass(frozen=True)
class FidOptions:
    kid: bool = False
    prdc: bool = False  # precision/recall and density/coverage
    kid_subsets: int = 100
    kid_subset_size: int | None = None  # None: kid_subset_size(smaller side)
    pr_k: int = 3
    dc_k: int = 5
    seed: int = 0


def check_has_features(spec: str, flag: str) -> None:
    """A UserError when ``spec`` is a statistics file, which ``flag`` (KID, precision/recall) cannot use."""
    path = Path(spec).expanduser()
    if is_statistics_file(path):
        raise UserError(f"{flag} needs both sides' features, and {spec} is a statistics file (mu and sigma only); "
                        "pass images, a dataset or a model instead, or drop the option")


def _needs_features(side: FeatureSet, what: str) -> np.ndarray:
    if side.features is None:
        raise UserError(f"{what} needs both sides' features, and {side.label} is a statistics file (mu and sigma "
                        "only); pass images, a dataset or a model instead, or drop the option")
    return side.features


def compare(a: FeatureSet, b: FeatureSet, evaluator, options: FidOptions = FidOptions()) -> dict:
    """FID (and, as asked, KID, precision/recall, density/coverage) of ``b`` against ``a``."""
    result = {"fid": metrics.frechet_distance_from_statistics(*a.statistics(), *b.statistics())}
    if options.kid:
        fa, fb = _needs_features(a, "KID"), _needs_features(b, "KID")
        size = options.kid_subset_size or kid_subset_size(min(len(fa), len(fb)))
        result["kid"], result["kid_std"] = metrics.kernel_distance(fa, fb, subsets=options.kid_subsets,
                                                                   subset_size=size, seed=options.seed)
        result["kid_subsets"], result["kid_subset_size"] = options.kid_subsets, size
    if options.prdc:
        fa = _needs_features(a, "precision/recall and density/coverage")
        fb = _needs_features(b, "precision/recall and density/coverage")
        result.update(metrics.manifold_metrics(fa, fb, pr_k=options.pr_k, dc_k=options.dc_k))
        result["pr_k"], result["dc_k"] = options.pr_k, options.dc_k
    notes = []
    if a.count and b.count and a.count != b.count:
        notes.append(f"the sides have {a.count:,} and {b.count:,} images: FID depends on the count, so compare "
                     "it only with figures computed on the same counts (KID does not)")
    counts = [c for c in (a.count, b.count) if c]  # a statistics file may not say
    if counts and min(counts) < evaluator.feature_dim:
        smallest = min(counts)
        notes.append(f"fewer images ({smallest:,}) than features ({evaluator.feature_dim:,}): the covariance is "
                     "singular and FID biased upwards; published figures use 10,000 or 50,000")
    return {**result, "a": a.describe(), "b": b.describe(), "network": evaluator.name.split("/")[0],
            "convention": evaluator.details.get("convention"), "notes": notes, "keras_gen_version": __version__}


def format_result(result: dict) -> str:
    """The printed lines: the figures, each side with its image count, then the notes."""
    def count(side):
        return f"{side['images']:,} images" if side["images"] else "images: not recorded"

    a, b = result["a"], result["b"]
    lines = [f"FID {result['fid']:.4f}  ({result['network']}, {result['convention']} resize; "
             f"{count(a)} against {count(b)})"]
    if "kid" in result:
        spread = f" ± {result['kid_std']:.5f}" if result.get("kid_std") is not None else \
            " (spread not measured: each subset is the whole set)"
        lines.append(f"KID {result['kid']:.5f}{spread}  ({result['kid_subsets']} subsets of "
                     f"{result['kid_subset_size']:,})")
    if "precision" in result:
        lines.append(f"precision {result['precision']:.4f}  recall {result['recall']:.4f}  (k = {result['pr_k']})")
        lines.append(f"density {result['density']:.4f}  coverage {result['coverage']:.4f}  (k = {result['dc_k']})")
    for name, side in (("A", a), ("B", b)):
        extra = "; ".join(side["notes"])
        lines.append(f"{name}: {side['input']} ({side['kind']}, {count(side)}{'; ' + extra if extra else ''})")
    lines += [f"note: {note}" for note in result["notes"]]
    return "\n".join(lines)


def result_json(result: dict) -> str:
    return json.dumps(result, indent=2, sort_keys=True)
