"""``keras-gen fit-sampler RUN``: fit a finished VAE run's ex-post latent sampler and export it.

The VAE's aggregate posterior (the encoder's means over the training images) is fitted with a
mixture of Gaussians, full or diagonal covariances (:meth:`keras_gen.families.VAE.fit_latent_sampler`); the model with
its sampler is kept beside the run's checkpoints and exported as the run's next version, whose
``sample`` and ``latent`` signatures draw from the mixture. The run's checkpoints are not touched:
resuming trains on from them, and the sampler is refitted afterwards.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from keras_gen.config import RunConfig
from keras_gen.datasets import build_train_set, find_source
from keras_gen.export.from_run import export_checkpoint
from keras_gen.export.publish import MODELS_CONFIG
from keras_gen.rundir.checkpoints import find_checkpoint, load_checkpoint
from keras_gen.utils.errors import UserError
from keras_gen.utils.fileio import atomic_path, write_json
from keras_gen.utils.mixture import ITERATIONS

SAMPLER_FILE = "latent_sampler.keras"  # in the run directory: the model with its fitted sampler
SAMPLER_INFO = "latent_sampler.json"


def em_progress(out, every: float = 15.0):
    """A ``fit_gmm`` progress callback that prints its first EM iteration, then one line per ``every``
    seconds: a fit of many full-covariance components runs for minutes."""
    start, shown = time.perf_counter(), [None]

    def progress(iteration: int, log_likelihood: float) -> None:
        now = time.perf_counter()
        if shown[0] is None or now - shown[0] >= every:
            shown[0] = now
            out(f"EM iteration {iteration}: mean log-density {log_likelihood:.2f} "
                f"({(now - start) / iteration:.1f} s an iteration, at most {ITERATIONS})")

    return progress


def fit_sampler(run_dir: str | os.PathLike, *, components: int = 10, covariance: str = "full",
                checkpoint: str = "latest", out=print) -> tuple:
    """Fit the sampler of ``run_dir``'s checkpoint ``checkpoint`` on the run's training images and
    write ``latent_sampler.keras`` and ``latent_sampler.json`` in the run; return ``(model, info)``:
    the VAE sampling from the mixture, and the fit's figures."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise UserError(f"{run_dir} is not a run directory (no config.json); pass a VAE run train.py wrote")
    if isinstance(components, bool) or not isinstance(components, int) or components < 1:
        raise UserError(f"--components must be a positive integer, got {components!r}")
    config = RunConfig.load(run_dir / "config.json")
    record = find_checkpoint(run_dir, checkpoint)
    model = load_checkpoint(record["path"])
    if model.family != "vae":
        raise UserError(f"{config.model} is a {model.family.upper()}: a latent sampler is fitted to a VAE's encoder; "
                        "pass a VAE run")
    source = find_source(config.dataset, config.data_dir, options={"subset": config.subset,
                                                                   "attribute": config.attribute})
    data = build_train_set(source.load("train"), image_shape=config.image_shape, value_range=model.value_range,
                           batch_size=256, seed=0, limit=config.limit, shuffle=False, drop_remainder=False)
    out(f"fitting a {components}-component mixture ({covariance} covariances) to {config.model}'s codes of "
        f"{source.spec.name}'s training images (checkpoint of epoch {record['epoch']})")
    try:
        info = model.fit_latent_sampler(data, components=components, covariance=covariance,
                                        progress=em_progress(out))
    except ValueError as err:
        raise UserError(f"{err}; pass fewer --components") from None
    info.update(checkpoint=str(record["path"]), epoch=record["epoch"])
    with atomic_path(run_dir / SAMPLER_FILE, suffix=".keras") as tmp:
        model.save(tmp)
    write_json(run_dir / SAMPLER_INFO, info)
    out(f"mean log-density of the codes: {info['log_likelihood']:.2f} under the mixture, "
        f"{info['prior_log_likelihood']:.2f} under the N(0, I) prior")
    return model, info


def fit_run_sampler(run_dir: str | os.PathLike, *, components: int = 10, covariance: str = "full",
                    checkpoint: str = "latest", export: bool = True, export_dir: str | os.PathLike | None = None,
                    publish: str = "auto", out=print) -> dict:
    """``keras-gen fit-sampler``: :func:`fit_sampler`, then export the model with its sampler as the
    run's next version (the run's export root unless ``export_dir``; served by ``publish``, see
    keras_gen.export.publish). Returns the fit's figures (and ``export``: where)."""
    run_dir = Path(run_dir)
    model, info = fit_sampler(run_dir, components=components, covariance=covariance, checkpoint=checkpoint, out=out)
    if export:
        config = RunConfig.load(run_dir / "config.json")
        path = export_checkpoint(run_dir, config, which=checkpoint, export_dir=export_dir, model=model,
                                 publish=publish, log=out, extra={"latent_sampler": info})
        out(f"SavedModel:  {path}")
        out(f"TF Serving:  {path.parent.parent / MODELS_CONFIG}")
        info["export"] = str(path)
        write_json(run_dir / SAMPLER_INFO, info)
    out(f"sampler: {run_dir / SAMPLER_FILE}")
    return info
