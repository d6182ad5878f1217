"""keras_gen.utils.seeded: the noise tables behind ``sample(seeds)`` and ``latent``, and the hashed
uniforms of a mixture prior."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

import models_zoo
from keras_gen.utils import seeded


@pytest.mark.parametrize("n", [2, 3, 20, 100, 200])
def test_a_seed_draws_the_same_numbers_whatever_else_is_in_the_batch(n):
    rng = np.random.default_rng(n)
    reference = seeded.normal(tf.constant([42], tf.int32), n).numpy()[0]
    for size in (1, 2, 7, 64, 1000, 2345):
        seeds = rng.integers(-2**31, 2**31, size).astype(np.int32)
        position = int(rng.integers(0, size))
        seeds[position] = 42
        got = seeded.normal(tf.constant(seeds), n).numpy()
        np.testing.assert_array_equal(got[position], reference)  # bit for bit, not to a tolerance
    assert reference.shape == (n,) and np.all(np.isfinite(reference))


def test_draws_are_standard_normal_and_independent():
    z = seeded.normal(tf.range(100_000), 16).numpy()
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01
    assert stats.kstest(z.ravel(), "norm").pvalue > 1e-3
    corr = np.corrcoef(z.T)
    assert np.abs(corr - np.eye(16)).max() < 0.02  # dimensions of one latent
    assert abs(np.corrcoef(z[:-1, 0], z[1:, 0])[0, 1]) < 0.02  # consecutive seeds
    assert 4.0 < np.abs(z).max() < 6.2  # tails drawn; two tables' extremes sum to 6.1 at most


def test_a_latent_is_the_sum_of_two_table_windows_at_weyl_offsets():
    """The generator is what the module documents, bit for bit: windows of both tables at
    ``(seed * C) >> 16``, wrapping past the end of a table."""
    seeds = np.array([0, 1, 5, -1, -2**31, 2**31 - 1, 123_456_789], np.int32)
    n = 40
    z = seeded.normal(tf.constant(seeds), n).numpy()
    for row, seed in zip(z, seeds.astype(np.uint32)):
        expected = np.zeros(n, np.float32)
        for which, constant in enumerate(seeded.WEYL):
            offset = int((np.uint64(seed) * np.uint64(constant)) % 2**32) >> 16
            expected += seeded.table(which)[(offset + np.arange(n)) % seeded.TABLE_SIZE]
        np.testing.assert_array_equal(row, expected)


def test_tables_hold_each_normal_quantile_once_and_differ():
    a, b = seeded.table(0), seeded.table(1)
    quantiles = stats.norm.ppf((np.arange(seeded.TABLE_SIZE) + 0.5) / seeded.TABLE_SIZE) / np.sqrt(2)
    np.testing.assert_allclose(np.sort(a), quantiles, atol=1e-6)
    np.testing.assert_array_equal(np.sort(a), np.sort(b))
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.02 and abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 0.02


def test_consecutive_seeds_never_share_a_window():
    """No two of 28,657 consecutive seeds start at the same place in the first table, nor of 52,007
    in the second, wherever the run of seeds starts: their latents never correlate through a shared
    window. (The offsets are the module's formula, which the test above holds the graph to.)"""
    for start in (0, 1_000_003, -2**31, 2**31 - 28_657, 987_654_321):
        seeds = (np.arange(start, start + 52_007, dtype=np.int64) % 2**32).astype(np.uint64)
        for constant, run in zip(seeded.WEYL, (28_657, 52_007)):
            offsets = (seeds[:run] * np.uint64(constant)) % 2**32 >> 16
            assert len(np.unique(offsets)) == len(offsets)


def test_uniform_streams_differ_and_cover_the_open_interval():
    a, b = seeded.uniform(tf.range(50_000), 2).numpy(), seeded.uniform(tf.range(50_000), 2, stream=1).numpy()
    alone, in_batch = seeded.uniform(tf.constant([3]), 4).numpy()[0], seeded.uniform(tf.constant([7, 3]), 4).numpy()[1]
    np.testing.assert_array_equal(alone, in_batch)
    assert 0.0 < a.min() and a.max() < 1.0 and stats.kstest(a.ravel(), "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(a[:, 0], b[:, 0])[0, 1]) < 0.02


def test_every_int32_seed_is_valid_and_distinct_seeds_give_distinct_latents():
    seeds = tf.constant([-2**31, -1, 0, 1, 2**31 - 1], tf.int32)
    z = seeded.normal(seeds, 8).numpy()
    assert np.all(np.isfinite(z)) and len({row.tobytes() for row in z}) == 5


def test_model_latents_come_from_the_generator_in_one_op():
    """latent_from_seeds draws the whole batch with seeded.normal (no per-seed loop in the graph)."""
    model = models_zoo.build("mlp_gan")
    np.testing.assert_array_equal(model.latent_from_seeds(tf.constant([3, 9])), seeded.normal(tf.constant([3, 9]), 100))
    graph = tf.function(model.latent_from_seeds).get_concrete_function(tf.TensorSpec([None], tf.int32)).graph
    assert not {op.type for op in graph.get_operations()} & {"While", "StatelessWhile", "TensorListReserve"}
