"""keras_gen.evaluation.metrics and keras_gen.evaluation.extractors: each metric against its closed form or an
independent, deliberately plain implementation written here; the MNIST domain classifier on real
MNIST (trained once per session on a slice, in a temporary cache); VAE likelihood bounds on a
really trained VAE; bad input as one-line UserErrors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.linalg
import scipy.ndimage
import scipy.special

from keras_gen.evaluation import extractors as evaluators
from keras_gen.evaluation import metrics
from keras_gen.utils.errors import UserError

from conftest import TRAIN_LIMIT


# --------------------------------------------------------------------------- plain references
def reference_fid(a, b):
    """FID as the original code computes it: scipy's sqrtm of the covariance product."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean))


def reference_mmd2(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b/d + 1)^3, by explicit loops."""
    m, d = len(x), x.shape[1]

    def k(p, q):
        return (sum(pi * qi for pi, qi in zip(p, q)) / d + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def kth_neighbour_distance(points, i, k):
    dists = sorted(float(np.linalg.norm(points[i] - points[j])) for j in range(len(points)) if j != i)
    return dists[k - 1]


def reference_prdc(real, fake, k_pr, k_dc):
    """Precision/recall (Kynkaanniemi) and density/coverage (Naeem) straight from the papers' definitions."""
    dist = lambda p, q: float(np.linalg.norm(p - q))  # noqa: E731
    r_real_pr = [kth_neighbour_distance(real, i, k_pr) for i in range(len(real))]
    r_fake_pr = [kth_neighbour_distance(fake, j, k_pr) for j in range(len(fake))]
    r_real_dc = [kth_neighbour_distance(real, i, k_dc) for i in range(len(real))]
    precision = np.mean([any(dist(f, r) <= rad for r, rad in zip(real, r_real_pr)) for f in fake])
    recall = np.mean([any(dist(r, f) <= rad for f, rad in zip(fake, r_fake_pr)) for r in real])
    density = sum(dist(f, r) <= rad for f in fake for r, rad in zip(real, r_real_dc)) / (k_dc * len(fake))
    coverage = np.mean([min(dist(r, f) for f in fake) <= rad for r, rad in zip(real, r_real_dc)])
    return precision, recall, density, coverage


def gaussian(rng, n, mean, cov):
    return rng.multivariate_normal(mean, cov, size=n)


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and text
    return text


# --------------------------------------------------------------------------- Frechet distance
def test_frechet_distance_of_gaussian_samples_approaches_the_closed_form():
    rng = np.random.default_rng(0)
    mean_a, mean_b = np.array([0.0, 1.0, -1.0, 0.5]), np.array([0.5, 0.0, -1.0, 1.5])
    base = rng.normal(size=(4, 4))
    cov_a = base @ base.T + 0.5 * np.eye(4)
    cov_b = np.diag([1.0, 2.0, 0.5, 1.5])
    exact = float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
                  - 2 * np.trace(scipy.linalg.sqrtm(cov_a @ cov_b).real))
    errors = []
    for n in (100, 1000, 50_000):
        estimate = metrics.frechet_distance(gaussian(rng, n, mean_a, cov_a), gaussian(rng, n, mean_b, cov_b))
        errors.append(abs(estimate - exact))
    assert errors[-1] < 0.02 * exact, (errors, exact)
    assert errors[-1] < errors[0]


def test_frechet_distance_matches_the_sqrtm_reference_and_is_a_distance():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 12)) @ rng.normal(size=(12, 12))
    b = rng.normal(loc=0.3, size=(300, 12)) @ rng.normal(size=(12, 12))
    value = metrics.frechet_distance(a, b)
    assert value == pytest.approx(reference_fid(a, b), rel=1e-6)
    assert metrics.frechet_distance(b, a) == pytest.approx(value, rel=1e-9)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-7)
    # Fewer samples than features: singular covariances still give a finite, non-negative value.
    singular = metrics.frechet_distance(a[:5], b[:7])
    assert np.isfinite(singular) and singular >= 0
    mean_a, cov_a = metrics.feature_statistics(a)
    mean_b, cov_b = metrics.feature_statistics(b)
    assert metrics.frechet_distance_from_statistics(mean_a, cov_a, mean_b, cov_b) == pytest.approx(value, rel=1e-12)


def test_streaming_frechet_metric_matches_the_function():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(600, 8)).astype(np.float32)
    fake = (rng.normal(size=(500, 8)) * 1.3 + 0.2).astype(np.float32)
    expected = metrics.frechet_distance(real, fake)

    metric = metrics.FrechetDistance(8)
    assert np.isnan(float(metric.result()))
    for r, f in zip(np.array_split(real, 3), np.array_split(fake, 3)):
        metric.update_state(r, f)
    assert float(metric.result()) == pytest.approx(expected, rel=1e-6)
    metric.reset_state()
    assert np.isnan(float(metric.result()))

    fixed = metrics.FrechetDistance(8, reference=metrics.feature_statistics(real))
    for f in np.array_split(fake, 4):
        fixed.update_state(None, f)
    assert float(fixed.result()) == pytest.approx(expected, rel=1e-6)
    fixed.reset_state()  # keeps the reference
    fixed.update_state(None, fake)
    assert float(fixed.result()) == pytest.approx(expected, rel=1e-6)


# --------------------------------------------------------------------------- kernel distance
def test_kernel_distance_matches_the_loop_reference():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 5)), rng.normal(loc=0.5, size=(30, 5))
    expected = reference_mmd2(x, y)
    assert metrics.mmd2_unbiased(x, y) == pytest.approx(expected, rel=1e-9)
    # Subsets as large as the sets are the sets: the full-set value, and no spread measured (not ± 0).
    mean, std = metrics.kernel_distance(x, y, subsets=5, subset_size=30)
    assert mean == pytest.approx(expected, rel=1e-9) and std is None
    mean, std = metrics.kernel_distance(x, y, subsets=20, subset_size=10, seed=4)
    assert std > 0 and metrics.kernel_distance(x, y, subsets=20, subset_size=10, seed=4) == (mean, std)


def test_kid_subset_size_leaves_a_spread_to_measure():
    from keras_gen.evaluation.settings import EvalSettings, kid_subset_size

    assert [kid_subset_size(n) for n in (200, 1000, 1999, 2000, 10_000)] == [100, 500, 999, 1000, 1000]
    assert EvalSettings(samples=200).kid_subset_size == 100  # --samples 200 printed "± 0.0000" with 200
    rng = np.random.default_rng(0)
    assert metrics.kernel_distance(rng.normal(size=(200, 4)), rng.normal(size=(200, 4)), subsets=10,
                                   subset_size=kid_subset_size(200))[1] > 0


def test_kernel_distance_of_one_distribution_is_centred_on_zero():
    rng = np.random.default_rng(5)
    cov = np.diag(np.linspace(0.5, 2.0, 16))
    same = [metrics.kernel_distance(gaussian(rng, 300, np.zeros(16), cov), gaussian(rng, 300, np.zeros(16), cov),
                                    subsets=1, subset_size=300)[0] for _ in range(30)]
    spread = np.std(same) / math.sqrt(len(same))
    assert abs(np.mean(same)) < 3 * spread, (np.mean(same), spread)
    assert min(same) < 0 < max(same)  # unbiased: single estimates fall on both sides of 0
    shifted = metrics.kernel_distance(gaussian(rng, 300, np.zeros(16), cov), gaussian(rng, 300, np.full(16, 0.5), cov),
                                      subsets=1, subset_size=300)[0]
    assert shifted > np.mean(same) + 20 * np.std(same)


# --------------------------------------------------------------------------- classifier score, histogram
def test_classifier_score_matches_the_formula_and_its_extremes():
    rng = np.random.default_rng(6)
    probs = scipy.special.softmax(rng.normal(scale=3.0, size=(200, 10)), axis=1)
    marginal = probs.mean(axis=0)
    kl = [sum(p[c] * math.log(p[c] / marginal[c]) for c in range(10)) for p in probs]
    assert metrics.classifier_score(probs, splits=1) == (pytest.approx(math.exp(np.mean(kl)), rel=1e-9), 0.0)
    score, std = metrics.classifier_score(probs, splits=4)
    parts = [metrics.classifier_score(part, splits=1)[0] for part in np.array_split(probs, 4)]
    assert (score, std) == (pytest.approx(np.mean(parts)), pytest.approx(np.std(parts)))
    one_hot = np.eye(10)[np.arange(200) % 10]
    assert metrics.classifier_score(one_hot, splits=2)[0] == pytest.approx(10.0)
    assert metrics.classifier_score(np.tile(probs[:1], (200, 1)))[0] == pytest.approx(1.0)


def test_class_histogram_counts_entropy_and_covered_classes():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 19 + [3])
    hist = metrics.class_histogram(labels, 5)
    assert hist["counts"] == [50, 30, 19, 1, 0]
    freq = np.array([50, 30, 19, 1]) / 100
    assert hist["entropy"] == pytest.approx(-sum(f * math.log(f) for f in freq))
    assert hist["max_entropy"] == pytest.approx(math.log(5))
    assert hist["classes_covered"] == 3  # class 3's single sample is under a tenth of its fair share (2)
    assert metrics.class_histogram(labels, 5, min_fraction=0.0)["classes_covered"] == 4
    probs = np.eye(5)[labels] * 0.9 + 0.02
    assert metrics.class_histogram(probs, 5)["counts"] == hist["counts"]
    collapsed = metrics.class_histogram(np.full(100, 2), 5)
    assert collapsed["classes_covered"] == 1 and collapsed["entropy"] == 0.0


# --------------------------------------------------------------------------- nearest-neighbour metrics
def test_precision_recall_density_coverage_match_the_papers_definitions():
    rng = np.random.default_rng(7)
    real = rng.normal(size=(120, 6))
    fake = np.concatenate([rng.normal(scale=0.7, size=(80, 6)), rng.normal(loc=3.0, size=(20, 6))])  # outliers
    precision, recall, density, coverage = reference_prdc(real, fake, 3, 5)
    assert metrics.precision_recall(real, fake, k=3) == (pytest.approx(precision), pytest.approx(recall))
    assert metrics.density_coverage(real, fake, k=5) == (pytest.approx(density), pytest.approx(coverage))
    together = metrics.manifold_metrics(real, fake)
    assert together == pytest.approx({"precision": precision, "recall": recall, "density": density,
                                      "coverage": coverage})
    assert 0 < precision < 1 and 0 < recall < 1  # the test exercises both outcomes


def test_nearest_neighbour_distance_matches_brute_force():
    rng = np.random.default_rng(8)
    fake, train = rng.normal(size=(40, 7)) + 5.0, rng.normal(size=(90, 7)) + 5.0
    dist, index = metrics.nearest_neighbour_distance(fake, train, return_indices=True)
    brute = np.array([[np.linalg.norm(f - t) for t in train] for f in fake])
    np.testing.assert_allclose(dist, brute.min(axis=1), rtol=1e-5)
    np.testing.assert_array_equal(index, brute.argmin(axis=1))
    assert metrics.nearest_neighbour_distance(train[:10], train) == pytest.approx(np.zeros(10), abs=1e-3)


# --------------------------------------------------------------------------- sharpness
def test_sharpness_is_the_variance_of_the_laplacian_and_drops_with_blur(mnist_test):
    images = mnist_test[0][:64]
    grey = images[..., 0].astype(np.float64) / 255.0
    expected = [scipy.ndimage.laplace(im)[1:-1, 1:-1].var() for im in grey]
    np.testing.assert_allclose(metrics.laplacian_variance(images), expected, rtol=1e-10)
    blurred = np.stack([scipy.ndimage.gaussian_filter(im, 1.0) for im in grey])[..., None]
    assert metrics.sharpness(blurred) < 0.3 * metrics.sharpness(images)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    assert metrics.sharpness(rgb) == pytest.approx(metrics.sharpness(images))


# --------------------------------------------------------------------------- bad input
def test_too_few_samples_and_bad_arrays_are_one_line_user_errors():
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(50, 4))
    with pytest.raises(UserError) as err:
        metrics.precision_recall(a, b, k=3)
    assert "k=3" in one_line(err) and "got 3" in str(err.value)
    with pytest.raises(UserError) as err:
        metrics.density_coverage(b, b, k=50)
    assert "k=50" in one_line(err)
    with pytest.raises(UserError) as err:
        metrics.kernel_distance(b, b, subset_size=1000)
    assert "subset_size=1000" in one_line(err) and "subset_size <= 50" in str(err.value)
    with pytest.raises(UserError) as err:
        metrics.frechet_distance(b, rng.normal(size=(50, 5)))
    assert "4 features" in one_line(err)
    with pytest.raises(UserError) as err:
        metrics.frechet_distance(b[:1], b)
    one_line(err)
    with pytest.raises(UserError) as err:
        metrics.frechet_distance(np.full((5, 4), np.nan), b)
    assert "NaN" in one_line(err)
    with pytest.raises(UserError) as err:
        metrics.classifier_score(rng.normal(size=(20, 10)))
    assert "logits" in one_line(err)
    with pytest.raises(UserError) as err:
        metrics.classifier_score(np.full((5, 2), 0.5), splits=10)
    one_line(err)
    with pytest.raises(UserError) as err:
        metrics.class_histogram(np.array([0, 7]), 5)
    one_line(err)


# --------------------------------------------------------------------------- the MNIST domain classifier
@pytest.fixture(scope="session")
def real_features(mnist_evaluator, mnist_train, mnist_test):
    """Features and probabilities of 2,000 random test images and 2,000 training images that the
    classifier did not see (on its own training images its features are off the test
    distribution). Random, not the first 2,000: MNIST's first 5,000 test digits are the cleaner
    half, and their FID to the rest is several times the test-train floor."""
    test_index = np.random.default_rng(11).permutation(len(mnist_test[0]))[:2000]
    return {"train": mnist_evaluator.features_and_probs(mnist_train[0][10_000:12_000]),
            "test": mnist_evaluator.features_and_probs(mnist_test[0][test_index]),
            "test_index": test_index}


def test_domain_classifier_is_cached_with_its_accuracy(mnist_evaluator, evaluator_cache, monkeypatch, mnist_test):
    directory = evaluator_cache / "evaluators" / f"mnist-limit{TRAIN_LIMIT}"
    record = json.loads((directory / evaluators.EVALUATOR_FILE).read_text())
    assert (directory / evaluators.CLASSIFIER_FILE).is_file()
    assert record["test_examples"] == 10_000 and record["train_examples"] == TRAIN_LIMIT
    assert 0.85 < record["test_accuracy"] <= 1.0
    assert mnist_evaluator.info() == {
        "extractor": f"domain-classifier/mnist-limit{TRAIN_LIMIT}", "extractor_kind": "domain",
        "extractor_dataset": "mnist", "extractor_test_accuracy": record["test_accuracy"], "feature_dim": 128,
        "extractor_held_out_every": None}
    assert record["held_out_every"] is None and mnist_evaluator.held_out_indices(60_000) is None  # limit: none
    # A second call loads the cache (no training: train_if_missing=False would refuse) with the same weights.
    monkeypatch.setenv(evaluators.CACHE_ENV, str(evaluator_cache))
    again = evaluators.get_evaluator("mnist", limit=TRAIN_LIMIT, train_if_missing=False)
    images = mnist_test[0][:50]
    np.testing.assert_allclose(again.features(images), mnist_evaluator.features(images), rtol=1e-5, atol=1e-5)
    # The default classifier is a different cache entry: refused here rather than trained.
    with pytest.raises(UserError) as err:
        evaluators.get_evaluator("mnist", train_if_missing=False)
    assert "no trained mnist domain classifier" in one_line(err)


def test_features_and_probabilities_of_real_mnist(mnist_evaluator, real_features, mnist_test):
    features, probs = real_features["test"]
    images, labels = mnist_test[0][real_features["test_index"]], mnist_test[1][real_features["test_index"]]
    assert features.shape == (2000, 128) and probs.shape == (2000, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(probs.argmax(axis=1) == labels) > 0.85
    # uint8 and [0, 1] floats are the same images; batch size does not matter.
    floats = images[:300].astype(np.float32) / 255.0
    np.testing.assert_allclose(mnist_evaluator.features(floats, batch_size=128), features[:300], rtol=1e-4, atol=1e-4)
    # MNIST padded to 32x32 (as training at --image-size 32 does) is cropped back, not refused.
    padded = np.pad(images[:300], ((0, 0), (2, 2), (2, 2), (0, 0)))
    np.testing.assert_allclose(mnist_evaluator.features(padded), features[:300], rtol=1e-4, atol=1e-4)


def test_fid_of_mnist_test_against_train_is_small_and_against_noise_large(mnist_evaluator, real_features):
    (train, _), (test, _) = real_features["train"], real_features["test"]
    noise = mnist_evaluator.features(np.random.default_rng(10).random((2000, 28, 28, 1), dtype=np.float32))
    real_fid, noise_fid = metrics.frechet_distance(test, train), metrics.frechet_distance(test, noise)
    assert real_fid < 0.05 * noise_fid, (real_fid, noise_fid)
    real_kid, noise_kid = (metrics.kernel_distance(test, other, subsets=10, subset_size=1000)[0]
                           for other in (train, noise))
    assert real_kid < 0.01 * noise_kid, (real_kid, noise_kid)
    real_pr = metrics.manifold_metrics(test, train)
    assert real_pr["precision"] > 0.6 and real_pr["recall"] > 0.6 and real_pr["coverage"] > 0.8
    noise_pr = metrics.manifold_metrics(test, noise)
    # Noise features are few, tight clusters: almost no real image lies near them. (Precision is
    # not near 0: real outliers' k-NN balls are wide, the weakness density corrects.)
    assert noise_pr["recall"] < 0.01 and noise_pr["coverage"] < 0.05
    assert noise_pr["density"] < 0.6 * real_pr["density"]


def test_a_collapsed_generator_covers_one_class_with_near_zero_recall(mnist_evaluator, real_features, mnist_train):
    collapsed_images = np.repeat(mnist_train[0][:1], 1000, axis=0)  # one training image, 1,000 times
    features, probs = mnist_evaluator.features_and_probs(collapsed_images)
    test_features, test_probs = real_features["test"]
    histogram = metrics.class_histogram(probs, 10)
    assert histogram["classes_covered"] == 1 and histogram["entropy"] == 0.0
    assert metrics.class_histogram(test_probs, 10)["classes_covered"] == 10
    precision, recall = metrics.precision_recall(test_features, features)
    assert recall < 0.01
    assert metrics.classifier_score(probs)[0] == pytest.approx(1.0, abs=1e-3)
    assert metrics.density_coverage(test_features, features)[1] < 0.01


def test_dataset_features_are_cached(mnist_evaluator, mnist_test):
    first = mnist_evaluator.dataset_features("mnist", "test", limit=500)
    path = mnist_evaluator.cache_dir / "features-mnist-test-limit500.npz"
    assert path.is_file() and first["features"].shape == (500, 128)
    np.testing.assert_array_equal(first["labels"], mnist_test[1][:500])
    stamp = path.stat().st_mtime_ns
    second = mnist_evaluator.dataset_features("mnist", "test", limit=500)
    assert path.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(second["features"], first["features"])


def test_extractor_mismatches_are_one_line_user_errors(mnist_evaluator, evaluator_cache, monkeypatch):
    monkeypatch.setenv(evaluators.CACHE_ENV, str(evaluator_cache))
    with pytest.raises(UserError) as err:
        evaluators.get_evaluator("mnist", image_shape=(128, 128, 3), limit=TRAIN_LIMIT)
    assert "128x128x3" in one_line(err) and "28x28x1" in str(err.value)
    with pytest.raises(UserError) as err:
        mnist_evaluator.features(np.zeros((4, 64, 64, 1), np.float32))
    assert "64x64x1" in one_line(err)
    with pytest.raises(UserError) as err:
        mnist_evaluator.features(np.full((4, 28, 28, 1), 3.0, np.float32))
    assert "[0, 1]" in one_line(err)
    with pytest.raises(UserError) as err:
        evaluators.get_evaluator("mnist", extractor="vgg")
    one_line(err)


def test_inception_without_weights_is_a_clear_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    with pytest.raises(UserError) as err:
        evaluators.get_evaluator("mnist", extractor="inception", allow_download=False)
    message = one_line(err)
    assert evaluators.INCEPTION_FILE in message and str(tmp_path) in message
    # A download that fails (here: a port nothing listens on) is the same kind of error, not a traceback.
    monkeypatch.setattr(evaluators, "INCEPTION_URL", "http://127.0.0.1:9/" + evaluators.INCEPTION_FILE)
    with pytest.raises(UserError) as err:
        evaluators.get_evaluator("mnist", extractor="inception")
    assert "cannot be downloaded" in one_line(err)


# --------------------------------------------------------------------------- VAE likelihood bounds
@pytest.fixture(scope="session")
def trained_vae(mnist_train):
    import keras

    import models_zoo

    keras.utils.set_random_seed(0)
    model = models_zoo.build("vae_mlp_2d")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    images = mnist_train[0][:2048].astype(np.float32) / 255.0
    model.fit(images, epochs=2, batch_size=128, verbose=0)
    return model


@pytest.fixture(scope="session")
def vae_test_batches(mnist_test):
    images = mnist_test[0][:256].astype(np.float32) / 255.0
    return [images[i:i + 128] for i in range(0, len(images), 128)]


def reference_iwae(model, images, k, seed):
    """log (1/k) sum_i p(x, z_i) / q(z_i | x) per image, in numpy from the model's encoder and decoder."""
    z_mean, z_log_var = (t.numpy().astype(np.float64) for t in model.encode(images))
    std = np.exp(0.5 * z_log_var)
    rng = np.random.default_rng(seed)
    bounds = []
    for x, mu, sd in zip(images.reshape(len(images), -1), z_mean, std):
        z = mu + sd * rng.standard_normal((k, len(mu)))  # [k, L]
        logits = model.decode_logits(z.astype(np.float32)).numpy().reshape(k, -1).astype(np.float64)
        log_px = np.sum(x * logits - np.logaddexp(0.0, logits), axis=1)  # Bernoulli, [k]
        log_pz = np.sum(-0.5 * z**2 - 0.5 * math.log(2 * math.pi), axis=1)
        log_qz = np.sum(-0.5 * ((z - mu) / sd) ** 2 - np.log(sd) - 0.5 * math.log(2 * math.pi), axis=1)
        bounds.append(scipy.special.logsumexp(log_px + log_pz - log_qz) - math.log(k))
    return np.array(bounds)


def test_iwae_bound_tightens_with_k_and_stays_below_the_negative_elbo(trained_vae, vae_test_batches):
    results = {k: metrics.vae_test_metrics(trained_vae, vae_test_batches, k=k) for k in (1, 8, 64)}
    neg_elbo = -results[1]["elbo"]
    assert results[1]["num_examples"] == 256
    nll = [results[k]["iwae_nll_bound"] for k in (1, 8, 64)]
    assert nll[0] > nll[1] > nll[2], nll
    assert nll[2] < neg_elbo - 1.0  # the importance-weighted bound is well inside the ELBO's
    assert nll[0] == pytest.approx(neg_elbo, rel=0.02)  # k = 1 is the ELBO (another estimator of it)
    assert results[1]["elbo"] == pytest.approx(-(results[1]["reconstruction_nll"] + results[1]["kl"]))
    # Reproducible from the seed; another seed gives another (close) estimate.
    assert metrics.vae_test_metrics(trained_vae, vae_test_batches, k=8) == results[8]
    # The same bound computed independently in numpy agrees within Monte-Carlo noise.
    images = vae_test_batches[0][:32]
    ours = -metrics.iwae_nll_bound(trained_vae, [images], k=64)
    assert ours == pytest.approx(reference_iwae(trained_vae, images, 64, seed=1).mean(), abs=0.5)


def test_reconstruction_error_and_elbo_helpers(trained_vae, vae_test_batches):
    images = np.concatenate(vae_test_batches)
    expected = np.mean((trained_vae.reconstruct(images).numpy() - images) ** 2)
    assert metrics.reconstruction_error(trained_vae, vae_test_batches) == pytest.approx(expected, rel=1e-5)
    labelled = [(b, np.zeros(len(b), np.int32)) for b in vae_test_batches]  # (images, labels) batches work too
    assert metrics.elbo(trained_vae, labelled) == pytest.approx(metrics.elbo(trained_vae, vae_test_batches))
    assert metrics.elbo(trained_vae, vae_test_batches) < 0


def test_vae_metrics_reject_bad_batches_and_gans(trained_vae, vae_test_batches):
    import models_zoo

    with pytest.raises(UserError) as err:
        metrics.vae_test_metrics(trained_vae, [(vae_test_batches[0] * 255).astype(np.uint8)])
    assert "uint8" in one_line(err)
    with pytest.raises(UserError) as err:
        metrics.vae_test_metrics(trained_vae, [np.zeros((4, 32, 32, 1), np.float32)])
    assert "32x32x1" in one_line(err)
    with pytest.raises(UserError) as err:
        metrics.vae_test_metrics(models_zoo.build("dcgan"), vae_test_batches)
    assert "GAN" in one_line(err)
    with pytest.raises(UserError) as err:
        metrics.vae_test_metrics(trained_vae, [])
    one_line(err)


# --------------------------------------------------------------------------- slow: the real extractors
@pytest.mark.slow
def test_default_mnist_domain_classifier_reaches_99_percent(tmp_path, monkeypatch):
    monkeypatch.setenv(evaluators.CACHE_ENV, str(tmp_path))
    lines = []
    evaluator = evaluators.get_evaluator("mnist", image_shape=(28, 28, 1), log=lines.append)
    record = json.loads((tmp_path / "evaluators" / "mnist" / evaluators.EVALUATOR_FILE).read_text())
    assert evaluator.name == "domain-classifier/mnist" and record["train_examples"] == 48_000
    assert record["held_out_every"] == 5
    np.testing.assert_array_equal(evaluator.held_out_indices(60_000), np.arange(4, 60_000, 5))
    assert record["test_accuracy"] >= 0.99, record
    assert evaluator.test_accuracy == record["test_accuracy"] and len(lines) == 2


@pytest.mark.slow
def test_inception_extractor_with_weights_in_the_keras_cache(tmp_path, monkeypatch, mnist_test):
    """The real InceptionV3 architecture and loading path, with a random-weight file standing in
    for the ImageNet one (which this machine cannot download)."""
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv(evaluators.CACHE_ENV, str(tmp_path / "cache"))
    (tmp_path / "models").mkdir()
    keras.applications.InceptionV3(weights=None).save(str(tmp_path / "models" / evaluators.INCEPTION_FILE))
    evaluator = evaluators.get_evaluator("mnist", extractor="inception", image_shape=(28, 28, 1),
                                         allow_download=False)
    features, probs = evaluator.features_and_probs(mnist_test[0][:8])
    assert features.shape == (8, 2048) and probs.shape == (8, 1000)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
    assert evaluator.info()["extractor"] == "inception-v3/imagenet"
    assert evaluator.features(np.zeros((2, 64, 48, 3), np.float32)).shape == (2, 2048)
