"""Counter-based random numbers for ``sample(seeds)``: a whole batch of seeds in a few ops, and the
same numbers for a seed whatever else is in the batch.

TensorFlow's stateless generators take one key per call, so drawing one latent per seed needed a
``tf.map_fn`` over the seeds (one Philox call each), which cost 3.5-5.8x the generator network
itself at 1,024 seeds, and ``tf.vectorized_map`` cannot vectorize ``StatelessRandomGetKeyCounter``.

**Normals** (:func:`normal`, what ``sample`` and ``latent`` draw) come from a shared noise table, as
in Salimans et al. 2017 ("Evolution strategies as a scalable alternative to reinforcement learning",
section 2.3): two fixed tables of 2**16 numbers each, and a seed's latent is the sum of one window of
each, at offsets taken from the seed by Weyl (multiplicative) hashing: ``(seed * C) >> 16`` with an
odd constant per table. Each table holds the standard normal's 2**16 quantiles at ``(k + 0.5) / 2**16``
scaled by 1/sqrt(2), in an order fixed by a hash, so each coordinate of a latent is a sum of two
independent draws, normal to within 1e-5 in distribution, with tails to about 6.1 standard deviations.
The graph is a uint32 multiply, a shift, an add, a gather and a sum (9 ops): the uint32 hash with
Box-Muller of keras_gen 0.2 took 14 integer ops per number, which TFLite's XNNPACK delegate does not
vectorise, and made ``sample`` up to 1.9x ``generate`` for small MLP generators in TFLite
(``benchmarks/export_latency.py``). What a table costs, and why it is acceptable for latents:
  * Windows of consecutive seeds are spread by the golden ratio: no two of 28,657 consecutive seeds
    share a window of the first table, nor of 52,007 of the second. Two random seeds share one with
    probability 2**-15 (their latents then correlate at 0.5; both, with probability 2**-32), and
    windows overlap at a shift (the same numbers on other coordinates, which a generator's first
    layer treats as another latent) with probability about 4 * latent / 2**16.
  * The tables are constants of each export, about 0.5 MB (2 x (2**16 + latent) float32) in each
    signature that draws (vae_mlp's saved_model.pb: 1.2 MB, beside 5.2 MB of weights), so a seed
    gives the same latent, bit for bit, in TensorFlow, TFLite and ONNX Runtime.

**Uniforms** (:func:`uniform`, one per seed for a mixture prior's component) hash ``(seed, stream,
index)``, as counter-based generators do (Salmon et al. 2011, "Parallel random numbers: as easy as
1, 2, 3"): the "lowbias32" finalizer of Wellons' hash prospector on uint32, whose wrap-around is
defined on every backend; uniforms from its top 24 bits.

keras_gen 0.3 switched ``sample``/``latent`` to the tables: a seed gives another image than under
0.2 (hash and Box-Muller) and 0.1 (Philox). Exports keep the graph they were made with, so their
seeds never change; ``seed_generator`` in keras_gen.json names it.
"""

from __future__ import annotations

import functools
import statistics

import numpy as np
import tensorflow as tf

NAME = "noise-table-2x65536/3"  # recorded in every export's keras_gen.json
TABLE_BITS = 16
TABLE_SIZE = 1 << TABLE_BITS
# Weyl constants, odd: 2**32 / golden ratio, and the hash's first multiplier (chosen among a few for
# the longest run of seeds without a repeated window: 52,007).
WEYL = (0x9E3779B9, 0x7FEB352D)
# The "lowbias32" finalizer's constants (Wellons' hash prospector): odd, so each round is a bijection.
_M1, _M2 = 0x7FEB352D, 0x846CA68B
_GOLDEN = 0x9E3779B9


def _u32(value):
    return tf.constant(value, tf.uint32)


def _mix(x):
    """A bijective 32-bit mixer on uint32 (multiplication wraps modulo 2**32, as unsigned C does)."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(16)))
    x = x * _u32(_M1)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(15)))
    x = x * _u32(_M2)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(16)))


def _mix_np(x: np.ndarray) -> np.ndarray:
    """:func:`_mix` in NumPy (uint32 arrays wrap as TensorFlow's do)."""
    x = np.asarray(x, np.uint32)
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(_M1)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(_M2)
    return x ^ (x >> np.uint32(16))


@functools.lru_cache(maxsize=None)
def table(which: int) -> np.ndarray:
    """Table ``which`` (0 or 1): ``[2**16]`` float32, the standard normal's quantiles at
    ``(k + 0.5) / 2**16`` times 1/sqrt(2), ordered by the hash of ``k`` salted with ``which``.

    Built from the standard library's ``NormalDist.inv_cdf`` in float64 and rounded once to float32,
    so every machine builds the same table (and exports carry it as a constant)."""
    inv_cdf = statistics.NormalDist().inv_cdf
    quantiles = np.array([inv_cdf((k + 0.5) / TABLE_SIZE) for k in range(TABLE_SIZE)]) * 0.5**0.5
    salt = _mix_np(np.array([2 * which + 1], np.uint32))
    order = np.argsort(_mix_np(np.arange(TABLE_SIZE, dtype=np.uint32) ^ salt), kind="stable")  # a permutation
    return quantiles[order].astype(np.float32)


def normal(seeds, n: int):
    """``[B]`` int seeds -> ``[B, n]`` float32 standard normals; row b depends on seeds[b] only."""
    # Each table padded with its own first n - 1 numbers: a window starting near the end wraps.
    padded = np.concatenate([np.concatenate([t, t[: n - 1]]) for t in (table(0), table(1))])  # [2 (T + n - 1)]
    windows = np.arange(2)[:, None] * (TABLE_SIZE + n - 1) + np.arange(n)[None, :]  # [2, n]
    # Nine ops in ONNX and TFLite (each costs ~2 us per call in ONNX Runtime, whatever the batch).
    seeds = tf.cast(tf.cast(tf.reshape(seeds, [-1, 1]), tf.int32), tf.uint32)  # [B, 1]; -1 -> 2**32 - 1
    offsets = tf.bitwise.right_shift(seeds * tf.constant(WEYL, tf.uint32), _u32(32 - TABLE_BITS))  # [B, 2]
    index = tf.reshape(tf.cast(offsets, tf.int32), [-1, 2, 1]) + tf.constant(windows, tf.int32)  # [B, 2, n]
    return tf.reduce_sum(tf.gather(tf.constant(padded), index), axis=1)  # [B, n]: a sum of two, in any order


def uniform(seeds, n: int, stream: int = 0):
    """``[B]`` int seeds -> ``[B, n]`` float32 uniforms in (0, 1); row b depends on seeds[b] only."""
    seeds = tf.cast(tf.cast(tf.reshape(seeds, [-1]), tf.int32), tf.uint32)  # [B], two's complement: -1 -> 2**32 - 1
    key = _mix(tf.bitwise.bitwise_xor(seeds, _mix(_u32(stream * 2 + 1))))  # [B]
    # Each index's offset is itself hashed (a constant of the graph): two seeds' streams never run
    # as shifted copies of each other, as plain key + i * step would, and each number costs one mix.
    offsets = _mix(tf.cast(tf.range(n), tf.uint32) * _u32(_GOLDEN))  # [n]
    x = _mix(key[:, None] + offsets[None, :])  # [B, n]
    top = tf.cast(tf.bitwise.right_shift(x, _u32(8)), tf.float32)  # 24 bits: exact in float32
    return (top + 0.5) * (1.0 / (1 << 24))
