#!/usr/bin/env python
"""The VAE's ex-post latent sampler fit (``keras_gen.utils.mixture.fit_gmm``, issue 27): seconds per
EM iteration and to convergence, beside scikit-learn's ``GaussianMixture`` on the same codes.

The codes are a finished VAE run's encoder means over its training split (``--run``, what
``keras-gen fit-sampler`` fits), a saved ``[N, D]`` array (``--codes FILE.npy``), or, by default,
60,000 x 32 draws from a random 50-component mixture. For each covariance type and number of
components it prints:

- **s/iteration**: (time of ``1 + n`` EM iterations - time of 1) / n, so the k-means start is left out;
- **to converge**: one fit with tolerance 1e-5 on the mean log-likelihood and at most 200 iterations
  (``fit_gmm``'s defaults; scikit-learn is given the same), its iterations and mean log-likelihood
  per point (higher is better; the two start differently, so they need not agree to the digit).

Both run on NumPy's BLAS in float64, so the ceiling is NumPy's float64 matmul rate, measured in
the same run. scikit-learn is not a keras_gen dependency (with it installed, ``import keras``
imports it, which slows every command's start; see mixture.py): install it anywhere and pass
``--sklearn-site DIR`` (``pip install --target DIR scikit-learn joblib threadpoolctl narwhals``),
or leave it out and get keras_gen's figures alone::

    python benchmarks/mixture_fit.py --run runs/papers/vae_small_l32_fashion_mnist --sklearn-site /tmp/skl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import cpu_info, describe  # noqa: E402
from keras_gen.utils.mixture import fit_gmm  # noqa: E402


def numpy_peak(n: int = 1024, seconds: float = 1.0) -> float:
    """NumPy's float64 matmul GFLOP/s here, now (the BLAS both fits run on)."""
    a, b = np.random.default_rng(0).standard_normal((2, n, n))
    a @ b
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or calls < 3:
        a @ b
        calls += 1
    return 2 * n ** 3 * calls / elapsed / 1e9


def load_codes(args) -> tuple[np.ndarray, str]:
    if args.codes:
        return np.load(args.codes).astype(np.float64), args.codes
    if args.run:
        from keras_gen.datasets import build_train_set, find_source
        from keras_gen.rundir.checkpoints import find_checkpoint, load_checkpoint

        model = load_checkpoint(find_checkpoint(args.run, "latest")["path"])
        config = json.loads((Path(args.run) / "config.json").read_text())
        source = find_source(config["dataset"], config.get("data_dir"))
        data = build_train_set(source.load("train"), image_shape=model.image_shape, value_range=model.value_range,
                               batch_size=256, seed=0, shuffle=False, drop_remainder=False)
        return model.encoder_means(data).astype(np.float64), f"encoder means of {args.run}"
    rng = np.random.default_rng(0)
    centres, scales = rng.standard_normal((50, 32)) * 2, rng.uniform(0.2, 1.0, (50, 32))
    pick = rng.integers(50, size=60_000)
    return centres[pick] + scales[pick] * rng.standard_normal((60_000, 32)), "60,000 x 32 from a 50-component mixture"


def ours(x, k, covariance, iterations, tol=1e-5):
    start = time.perf_counter()
    fit = fit_gmm(x, k, covariance=covariance, iterations=iterations, tol=tol)
    return time.perf_counter() - start, fit["iterations"], fit["log_likelihood"]


def theirs(x, k, covariance, iterations, tol=1e-5):
    import warnings

    from sklearn.mixture import GaussianMixture

    start = time.perf_counter()
    with warnings.catch_warnings():  # a fit cut short warns that it did not converge
        warnings.simplefilter("ignore")
        gmm = GaussianMixture(k, covariance_type=covariance, max_iter=iterations, tol=max(tol, 0.0),
                              reg_covar=1e-6, random_state=0).fit(x)
    return time.perf_counter() - start, int(gmm.n_iter_), float(gmm.score(x))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", help="a finished VAE run directory: fit its encoder means over the training split")
    p.add_argument("--codes", help="an [N, D] .npy array to fit instead")
    p.add_argument("--components", default="10,50,100")
    p.add_argument("--covariance", default="full,diag")
    p.add_argument("--iterations", type=int, default=10, help="EM iterations timed for s/iteration")
    p.add_argument("--sklearn-site", help="a folder holding scikit-learn (put on sys.path for this run only)")
    p.add_argument("--no-converge", action="store_true", help="s/iteration only")
    p.add_argument("--out", help="also write the figures as JSON")
    args = p.parse_args(argv)

    fitters = {"keras_gen": ours}
    if args.sklearn_site:
        sys.path.insert(0, args.sklearn_site)
    try:
        import sklearn
        fitters[f"scikit-learn {sklearn.__version__}"] = theirs
    except ImportError:
        print("scikit-learn not found: keras_gen's figures alone (see --sklearn-site)")
    x, what = load_codes(args)
    peak = numpy_peak()
    print(describe(cpu_info()) + f"; NumPy float64 matmul {peak:.0f} GFLOP/s (n = 1024, measured now)")
    print(f"codes: {what}, {x.shape[0]:,} x {x.shape[1]}\n")
    print("| covariance | K | fitter | s/iteration | to converge | iterations | log-likelihood/point |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for covariance in args.covariance.split(","):
        for k in map(int, args.components.split(",")):
            for name, fit in fitters.items():
                fit(x[:10 * k], k, covariance, 1, tol=-np.inf)  # imports and first calls out of the timing
                one = fit(x, k, covariance, 1, tol=-np.inf)[0]
                many = fit(x, k, covariance, 1 + args.iterations, tol=-np.inf)[0]
                row = {"covariance": covariance, "components": k, "fitter": name,
                       "seconds_per_iteration": (many - one) / args.iterations}
                if not args.no_converge:
                    row["seconds"], row["iterations"], row["log_likelihood"] = fit(x, k, covariance, 200)
                rows.append(row)
                converge = ("| - | - | - |" if args.no_converge else
                            f"| {row['seconds']:.1f} s | {row['iterations']} | {row['log_likelihood']:.3f} |")
                print(f"| {covariance} | {k} | {name} | {row['seconds_per_iteration']:.3f} " + converge, flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": cpu_info(), "numpy_float64_gflops": peak, "codes": what,
                                              "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
