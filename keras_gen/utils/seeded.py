"""Counter-based random numbers for ``sample(seeds)``: a whole batch of seeds in a few elementwise
ops, and the same numbers for a seed whatever else is in the batch.

TensorFlow's stateless generators take one key per call, so drawing one latent per seed needed a
``tf.map_fn`` over the seeds (one Philox call each), which cost 3.5-5.8x the generator network
itself at 1,024 seeds, and ``tf.vectorized_map`` cannot vectorize ``StatelessRandomGetKeyCounter``.
Here each number is a hash of ``(seed, stream, index)``, as in counter-based generators (Salmon et
al. 2011, "Parallel random numbers: as easy as 1, 2, 3"): the integer finalizer of Wellons'
"hash prospector" (xor-shift / multiply rounds) over the seed's key plus the index's hashed offset;
uniforms from its top 24 bits, normals by Box-Muller (both outputs used). The integer part is
uint32 arithmetic, whose wrap-around is defined on every backend, so the same seed gives the same
bits everywhere (ONNX Runtime included). Normals are cut at about 5.9 standard
deviations (the smallest uniform is 2**-25), which no latent prior of the zoo notices.

keras_gen 0.2 switched ``sample``/``latent`` to this generator: a seed gives another image than
under 0.1 (exports made by 0.1 keep their own graph, so their seeds are unchanged).
"""

from __future__ import annotations

import math

import tensorflow as tf

NAME = "hash32-box-muller/1"  # recorded in every export's keras_gen.json
# The "lowbias32" finalizer's constants (Wellons' hash prospector): odd, so each round is a bijection.
_M1, _M2 = 0x7FEB352D, 0x846CA68B
_GOLDEN = 0x9E3779B9  # the counter's step: 2**32 / golden ratio, odd


def _u32(value):
    return tf.constant(value, tf.uint32)


def _mix(x):
    """A bijective 32-bit mixer on uint32 (multiplication wraps modulo 2**32, as unsigned C does)."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(16)))
    x = x * _u32(_M1)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(15)))
    x = x * _u32(_M2)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(16)))


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


def normal(seeds, n: int, stream: int = 0):
    """``[B]`` int seeds -> ``[B, n]`` float32 standard normals (Box-Muller on :func:`uniform`)."""
    # Rows padded to a multiple of 16 floats: Eigen computes log/cos/sin in SIMD packets (up to 16
    # floats with AVX-512) and a buffer's tail one by one, which differs in the last bit; with
    # every row a whole number of packets a seed's numbers never depend on the batch around it
    # (under TensorFlow's kernels, which exports use; XLA's own log/cos may differ in the last bit).
    pairs = -(-n // 32) * 16
    u = uniform(seeds, 2 * pairs, stream)  # [B, 2 * pairs]
    radius = tf.sqrt(-2.0 * tf.math.log(u[:, :pairs]))  # [B, pairs]
    angle = (2.0 * math.pi) * u[:, pairs:]
    return tf.concat([radius * tf.cos(angle), radius * tf.sin(angle)], axis=1)[:, :n]
