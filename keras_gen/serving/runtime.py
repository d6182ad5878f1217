"""An export used the way a server uses it: ``tf.saved_model.load`` and its signatures."""


from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_gen.serving import DEFAULT_MAX_BATCH, IMAGE_FORMATS, INT32_MAX, INT32_MIN, METADATA_FILE
from keras_gen.utils.errors import UserError
from keras_gen.utils.latent_paths import (  # noqa: F401 (the two interpolations: re-exported)
    check_steps,
    latent_path,
    linear_interpolation,
    spherical_interpolation,
)

CONVERTED_FORMATS = {"tflite": "model.tflite", "onnx": "*.onnx"}  # keras-gen export --format: its files


def _is_version(path: Path) -> bool:
    """A SavedModel export version, or a TFLite/ONNX conversion's (its files beside keras_gen.json)."""
    return (path / "saved_model.pb").is_file() or (
        (path / METADATA_FILE).is_file() and any(any(path.glob(p)) for p in CONVERTED_FORMATS.values()))


def resolve_export_path(path: str | os.PathLike) -> Path:
    """An export version directory: ``path`` itself (a ``.tflite``/``.onnx`` file: its directory), or
    the version under it that its export root publishes (:mod:`keras_gen.serving.published`), else
    its newest numbered version."""
    path = Path(path)
    if path.is_file() and path.suffix in (".tflite", ".onnx"):
        path = path.parent
    if _is_version(path):
        return path
    versions = sorted((int(p.name), p) for p in path.iterdir()
                      if p.is_dir() and re.fullmatch(r"\d+", p.name) and _is_version(p)) if path.is_dir() else []
    if versions:
        from keras_gen.serving.published import served_version

        served = served_version(path.parent, path.name)
        return dict(versions).get(served, versions[-1][1]) if isinstance(served, int) else versions[-1][1]
    raise UserError(f"{path} is not an export (no saved_model.pb, model.tflite or .onnx files in it or in a numbered "
                    "version under it); pass saved_models/<model>_<dataset>[/<version>]")


def check_truncation(psi: float, family: str, model: str) -> None:
    """A UserError unless ``psi`` is a truncation for this model: in [0, 1], and a GAN (whose prior
    is N(0, I), so a scaled latent is the truncated one; a VAE's may be a learned mixture)."""
    if family != "gan":
        raise UserError(f"truncation applies to GANs (their prior is N(0, I)); {model} is a {family.upper()}: "
                        "drop --truncation")
    if isinstance(psi, bool) or not isinstance(psi, (int, float)) or not 0.0 <= psi <= 1.0:
        raise UserError(f"truncation must be a number in [0, 1] (1: no truncation, 0: the prior's mean), got {psi!r}")


def metadata_file(version: Path) -> Path:
    """Where an export version keeps its ``keras_gen.json``: under ``assets/`` in a SavedModel,
    beside the files in a conversion."""
    return version / "assets" / METADATA_FILE if (version / "saved_model.pb").is_file() else version / METADATA_FILE


def _integer_array(values, *, what: str, example: str) -> np.ndarray:
    """``values`` as a 1-d int32 array, or a UserError when they are not integers in int32's range."""
    array = np.asarray(values.numpy() if isinstance(values, tf.Tensor) else values)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.dtype.kind not in "iu":
        raise UserError(f"{what} must be integers (int32), got dtype {array.dtype}; pass e.g. {example}")
    if array.ndim != 1 or array.size == 0:
        raise UserError(f"{what} must be a non-empty 1-d batch, got shape {list(array.shape)}; pass e.g. {example}")
    if array.min() < INT32_MIN or array.max() > INT32_MAX:
        raise UserError(f"{what} must fit in int32 ({INT32_MIN}..{INT32_MAX}), got {array.min()}..{array.max()}")
    return array.astype(np.int32)


def seed_batch(seeds) -> np.ndarray:
    """``[B]`` int32 seeds from any integer sequence or array; a UserError for anything else."""
    return _integer_array(seeds, what="seeds", example="np.arange(8, dtype=np.int32)")


class LoadedExport:
    """An export used through its signatures alone, plus its ``keras_gen.json``: a SavedModel
    (:class:`SavedModelExport`) or its TFLite or ONNX conversion (:class:`TFLiteExport`,
    :class:`OnnxExport`). Inputs are checked against the signature's own input shapes and dtypes
    before the runtime sees them, so a wrong shape is a :class:`UserError` naming the expected one
    (the runtimes' own errors, an XNNPack reshape failure for TFLite, do not)."""

    format = "saved_model"

    def __init__(self, path: Path, metadata: dict):
        self.path = path
        self.metadata = metadata

    @property
    def name(self) -> str:
        return f"{self.metadata['model']}_{self.metadata['dataset']}"

    @property
    def num_classes(self) -> int | None:
        return self.metadata.get("num_classes")

    @property
    def latent_dim(self) -> int:
        return int(self.metadata["latent_dim"])

    @property
    def signatures(self) -> list[str]:
        """The signatures this export can run, sorted."""
        raise NotImplementedError

    def input_specs(self, signature: str) -> dict[str, tuple[list, np.dtype]]:
        """``{input: (shape with None for any size, numpy dtype)}`` of ``signature``."""
        raise NotImplementedError

    def call(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One call of ``signature`` on checked numpy ``inputs``: ``{output: array}`` (the
        SavedModel's output names in every format)."""
        raise NotImplementedError

    def check_signature(self, name: str) -> None:
        if name not in self.signatures:
            hint = "; re-export it with keras-gen export RUN_DIR" if name == "latent" else ""
            raise UserError(f"export {self.path} has no {name!r} signature (it has "
                            f"{', '.join(self.signatures)}){hint}")

    def check_inputs(self, signature: str, inputs: dict[str, np.ndarray]) -> None:
        """A UserError naming the expected shape and dtype for an input that does not fit ``signature``."""
        specs = self.input_specs(signature)
        missing, unknown = sorted(set(specs) - set(inputs)), sorted(set(inputs) - set(specs))
        if missing or unknown:
            raise UserError(f"{signature} takes the inputs {', '.join(sorted(specs))}; got {', '.join(sorted(inputs))}")
        for key, (shape, dtype) in specs.items():
            value = inputs[key]
            fits = value.ndim == len(shape) and all(d is None or d == v for d, v in zip(shape, value.shape))
            if not fits or value.dtype != dtype:
                want = "[" + ", ".join("B" if i == 0 and d is None else "?" if d is None else str(d)
                                       for i, d in enumerate(shape)) + "]"
                raise UserError(f"{signature}'s input {key} must be {np.dtype(dtype).name} of shape {want}, got "
                                f"{value.dtype} {list(value.shape)}")

    def label_batch(self, labels, batch_size: int) -> np.ndarray | None:
        """``[B]`` int32 labels for a conditional model (default: position % classes), None otherwise."""
        if self.num_classes is None:
            if labels is not None:
                raise UserError(f"model {self.metadata['model']} is not conditional; drop the label")
            return None
        if labels is None:
            return (np.arange(batch_size) % self.num_classes).astype(np.int32)
        array = _integer_array(labels, what="labels", example="np.zeros(8, dtype=np.int32)")
        if array.size == 1:
            array = np.repeat(array, batch_size)
        if array.size != batch_size:
            raise UserError(f"got {array.size} labels for {batch_size} seeds; pass one label, or one per seed")
        bad = array[(array < 0) | (array >= self.num_classes)]
        if bad.size:
            raise UserError(f"label {int(bad[0])} is out of range: model {self.metadata['model']} has "
                            f"{self.num_classes} classes (0..{self.num_classes - 1})")
        return array

    @property
    def max_batch(self) -> int:
        """The export's batch cap (keras_gen.json ``max_batch``; exports before 0.2 had none)."""
        return int(self.metadata.get("max_batch", DEFAULT_MAX_BATCH))

    def _with_labels(self, inputs: dict, labels, batch_size: int) -> dict:
        labels = self.label_batch(labels, batch_size)
        return inputs if labels is None else {**inputs, "label": labels}

    def run(self, signature: str, inputs: dict, output: str) -> np.ndarray:
        """Call ``signature`` on numpy ``inputs`` in chunks of at most :attr:`max_batch`, so any
        batch size works; an input of the wrong shape or dtype, or a request the export refuses,
        is a UserError naming the reason."""
        self.check_signature(signature)
        inputs = {k: np.asarray(v) for k, v in inputs.items()}
        self.check_inputs(signature, inputs)
        n = len(next(iter(inputs.values())))
        chunks = []
        for start in range(0, max(n, 1), self.max_batch):
            part = {k: v[start:start + self.max_batch] for k, v in inputs.items()}
            try:
                chunks.append(self.call(signature, part)[output])
            except UserError:
                raise
            except Exception as err:  # the runtime's own refusal (a check_numerics op, a bad value)
                raise UserError(f"export {self.path} refused the {signature} request: {_refusal(err)}") from None
        return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]

    def sample(self, seeds, labels=None, truncation: float | None = None) -> np.ndarray:
        """``[B]`` integer seeds (+ labels) -> ``[B, H, W, C]`` float32 images in [0, 1].

        ``truncation`` psi in [0, 1] (GANs): each seed's latent scaled by psi towards the prior's
        mean, through the ``latent`` and ``generate`` signatures (a SavedModel signature has no
        optional inputs, so ``sample`` itself stays as it is); 1.0 or None is ``sample``."""
        seeds = seed_batch(seeds)
        if truncation is None or truncation == 1.0:
            return self.run("sample", self._with_labels({"seed": seeds}, labels, len(seeds)), "images")
        check_truncation(truncation, self.metadata["family"], self.metadata["model"])
        return self.generate(self.latent(seeds) * np.float32(truncation), labels)

    def latent(self, seeds) -> np.ndarray:
        """``[B]`` integer seeds -> ``[B, latent]``: the latents ``sample`` draws for them."""
        return self.run("latent", {"seed": seed_batch(seeds)}, "z")

    def generate(self, z, labels=None) -> np.ndarray:
        """``[B, latent]`` latents (+ labels) -> ``[B, H, W, C]`` images in [0, 1]."""
        z = np.asarray(z)
        if z.dtype.kind != "f" or z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise UserError(f"latents must be a float array of shape [B, {self.latent_dim}], got "
                            f"{z.dtype} {list(z.shape)}")
        if not np.all(np.isfinite(z)):
            raise UserError("latents hold NaN or infinity; pass finite values")
        return self.run("generate", self._with_labels({"z": z.astype(np.float32)}, labels, len(z)), "images")

    def interpolate(self, from_seed: int, to_seed: int, *, steps: int = 10, label=None,
                    spherical: bool = False) -> np.ndarray:
        """``steps`` images on the path between two seeds' latents: ``[steps, H, W, C]``."""
        try:
            check_steps(steps)  # before the export runs
        except ValueError as err:
            raise UserError(str(err)) from None
        z0, z1 = self.latent([from_seed, to_seed])
        path = latent_path(z0, z1, steps, spherical=spherical)
        labels = None if label is None else [label]
        if self.num_classes is not None and label is None:
            labels = [0]
        return self.generate(path.astype(np.float32), labels)


def _refusal(err: Exception) -> str:
    """The telling line of a runtime's error (TensorFlow's start with "Graph execution error")."""
    text = str(getattr(err, "message", "") or err)
    return next((line.strip() for line in text.splitlines()
                 if line.strip() and "Graph execution error" not in line), "invalid input")[:200]


class SavedModelExport(LoadedExport):
    """A SavedModel export, loaded with ``tf.saved_model.load`` as TF Serving loads it."""

    def __init__(self, path: Path):
        meta_path = path / "assets" / METADATA_FILE
        if not meta_path.is_file():
            raise UserError(f"{path} is a SavedModel but not a keras_gen export (no assets/{METADATA_FILE}); "
                            "export it with keras-gen export RUN_DIR")
        super().__init__(path, json.loads(meta_path.read_text()))
        try:
            self.module = tf.saved_model.load(str(self.path))
        except (OSError, ValueError, tf.errors.OpError) as err:
            raise UserError(f"cannot load the SavedModel {self.path}: {str(err).splitlines()[0]}; "
                            "re-export it with keras-gen export RUN_DIR") from None

    @property
    def signatures(self) -> list[str]:
        return sorted(self.module.signatures)

    def signature(self, name: str):
        """The concrete function of signature ``name``."""
        self.check_signature(name)
        return self.module.signatures[name]

    def input_specs(self, signature):
        _, specs = self.signature(signature).structured_input_signature
        return {k: (spec.shape.as_list(), spec.dtype.as_numpy_dtype) for k, spec in specs.items()}

    def call(self, signature, inputs):
        outputs = self.signature(signature)(**{k: tf.constant(v) for k, v in inputs.items()})
        return {k: v.numpy() for k, v in outputs.items()}


class TFLiteExport(LoadedExport):
    """A ``keras-gen export --format tflite`` file, run by TensorFlow's TFLite interpreter."""

    format = "tflite"

    def __init__(self, path: Path):
        import warnings

        from keras_gen.utils.native import quiet_native_stderr

        super().__init__(path, json.loads((path / METADATA_FILE).read_text()))
        with warnings.catch_warnings(), quiet_native_stderr():  # deprecation notice; XNNPACK's INFO line
            warnings.simplefilter("ignore")
            self.interpreter = tf.lite.Interpreter(model_path=str(path / "model.tflite"))
        self._runners = {}

    @property
    def signatures(self):
        return sorted(self.interpreter.get_signature_list())

    def _runner(self, signature):
        if signature not in self._runners:
            self._runners[signature] = self.interpreter.get_signature_runner(signature)
        return self._runners[signature]

    def input_specs(self, signature):
        self.check_signature(signature)
        details = self._runner(signature).get_input_details()
        return {k: ([None if d < 0 else int(d) for d in info["shape_signature"]], np.dtype(info["dtype"]))
                for k, info in details.items()}

    def call(self, signature, inputs):
        return dict(self._runner(signature)(**inputs))


class OnnxExport(LoadedExport):
    """A ``keras-gen export --format onnx`` directory (one ``<signature>.onnx`` each), run by ONNX Runtime."""

    format = "onnx"
    _TYPES = {"tensor(float)": np.float32, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
              "tensor(double)": np.float64, "tensor(uint8)": np.uint8}

    def __init__(self, path: Path):
        super().__init__(path, json.loads((path / METADATA_FILE).read_text()))
        try:
            import onnxruntime
        except ImportError:
            raise UserError("running an ONNX export needs onnxruntime: pip install 'keras-gen[serving]'") from None
        self._ort = onnxruntime
        self._sessions = {}
        # ONNX names each value once: an output named like an input was renamed (images -> images_out).
        self._renamed = {sig: {new: old for old, new in names.items()}
                         for sig, names in self.metadata.get("renamed_outputs", {}).items()}

    @property
    def signatures(self):
        return sorted(p.stem for p in self.path.glob("*.onnx"))

    def _session(self, signature):
        self.check_signature(signature)
        if signature not in self._sessions:
            self._sessions[signature] = self._ort.InferenceSession(
                str(self.path / f"{signature}.onnx"), providers=["CPUExecutionProvider"])
        return self._sessions[signature]

    def input_specs(self, signature):
        return {i.name: ([d if isinstance(d, int) else None for d in i.shape], np.dtype(self._TYPES[i.type]))
                for i in self._session(signature).get_inputs()}

    def call(self, signature, inputs):
        session = self._session(signature)
        names = [o.name for o in session.get_outputs()]
        renamed = self._renamed.get(signature, {})
        return {renamed.get(n, n): v for n, v in zip(names, session.run(names, inputs))}


def load_export(path: str | os.PathLike) -> LoadedExport:
    """Load ``path``: an export version (a SavedModel, or a TFLite/ONNX conversion's directory or
    file), or a model directory (its published version, else its newest)."""
    path = resolve_export_path(path)
    if (path / "saved_model.pb").is_file():
        return SavedModelExport(path)
    fmt = json.loads(metadata_file(path).read_text()).get("format")
    if fmt == "tflite":
        return TFLiteExport(path)
    if fmt == "onnx":
        return OnnxExport(path)
    raise UserError(f"{path}/{METADATA_FILE} names format {fmt!r}, which keras_gen cannot run; "
                    "re-export it with keras-gen export RUN_DIR --format tflite or onnx")


def write_images(path: str | os.PathLike, images: np.ndarray, *, fmt: str | None = None,
                 rows: int | None = None) -> Path:
    """Write ``[N, H, W, C]`` images: a PNG grid (``rows`` rows; square by default) or the array as
    ``.npy``; ``fmt`` defaults to ``npy`` for a ``.npy`` path and ``png`` otherwise."""
    from keras_gen.utils.fileio import atomic_path
    from keras_gen.utils.images import image_grid, save_png

    path = Path(path)
    fmt = fmt or ("npy" if path.suffix.lower() == ".npy" else "png")
    if fmt not in IMAGE_FORMATS:
        raise UserError(f"unknown image format {fmt!r}; expected one of {', '.join(IMAGE_FORMATS)}")
    try:
        if fmt == "npy":
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.save(f, images.astype(np.float32))
        else:
            save_png(path, image_grid(images, rows=rows))
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror or err}; pass a writable --out") from None
    return path
