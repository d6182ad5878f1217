"""A faster ``Conv2D`` and ``Conv2DTranspose`` on CPU, drop-in for Keras' own (the zoo uses them).

:class:`Conv2D` and
:class:`Conv2DTranspose` compute exactly what the Keras layers compute (same arguments and
weights; outputs, gradients and second-order gradients equal to float rounding:
``tests/test_layers.py``) and differ only in which TensorFlow kernels run. The reason is one
kernel: TensorFlow 2.21's CPU ``Conv2DBackpropInput``, which computes a convolution's *input
gradient* (a GAN discriminator needs it on every generator step) and every transposed
convolution's *forward pass*, is slow where the forward convolution of the same shapes is fast.
Measured on this project's CPU reference (2 cores, AVX2, batch 128 unless noted):

* strided, small output map: the ``dcgan`` discriminator's last layer (4x4x256 -> 2x2x512, 5x5,
  stride 2) takes 1.2 s at 2.7 GFLOP/s, the forward pass of the same layer 24 ms at 141 GFLOP/s;
* stride 1: 1.5 to 3x slower than the equivalent forward convolution on every zoo shape
  (7x7x256 -> 7x7x128, 5x5: 143 ms against 68 ms);
* a transposed convolution that grows a small map (VALID, 3x3 -> 7x7 in ``acgan``'s generator,
  batch 100): 182 ms for 3.3 GFLOP.

:func:`input_gradient` therefore computes the adjoint of a convolution by the fastest of three
exact formulations: a forward convolution with the kernel flipped and its channel axes swapped
(:func:`stride1_adjoint`, stride 1); one matrix product followed by a col2im
(:func:`conv2d_input_gradient`: 41 ms for the first case above, 38 ms for the third); or
TensorFlow's kernel, which is as good or better on large strided maps. :class:`Conv2D` uses it as
its input gradient (stride 1, or outputs of at most :data:`COL2IM_MAX_POSITIONS` positions; the
rest stays on Keras' path), :class:`Conv2DTranspose` as its forward pass at stride 1 (strided ones
keep TensorFlow's kernel, which col2im does not beat there); forward convolutions and filter
gradients are TensorFlow's. ``benchmarks/layer_speed.py`` measures every layer of a zoo model
(``--keras-path``: beside Keras' own layer with the same weights).

The strided col2im pays only where TensorFlow's kernel is slow: on a CPU with AVX-512, oneDNN's
strided input gradient (``brgconv_strided``) is as fast or faster, and in bfloat16 much faster
(:func:`strided_col2im_pays`). Measured on a 2-core AMD EPYC with AVX-512 and AVX512-BF16, batch
128, forward + backward of the layer: ``dcgan_32``'s 8x8x64 -> 4x4x128 (4x4, stride 2) 13.2 ms
with col2im against 8.6 ms through Keras in float32, 77 against 8.0 ms in bfloat16; ``dcgan``'s
7x7x128 -> 4x4x256 (5x5, stride 2) 53 against 47 ms in float32, 481 against 40 ms in bfloat16
(col2im's shifted sums run as bfloat16 element-wise ops, which have no native kernels). There,
strided layers take Keras' path whole, bias and activation fused: ``dcgan_32`` trains at 733
images/s in float32 (635 with col2im) and 846 in bfloat16 (447), ``dcgan`` at 193 in bfloat16 (91)
(``benchmarks/README.md``, "bfloat16").

Both are serialized as ``keras_gen>Conv2D`` / ``keras_gen>Conv2DTranspose``; summaries still read
``Conv2D`` and ``Conv2DTranspose``.
"""

from __future__ import annotations

from keras_gen.utils.cpu import onednn_avx512
from keras_gen.utils.native import import_tensorflow

import_tensorflow()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

# Strided convolutions whose output maps have at most this many positions take the col2im input
# gradient (see the module docstring; benchmarks/layer_speed.py measures it per layer). Measured
# with oneDNN on (keras_gen's default, see keras_gen/__init__.py): oneDNN's input gradient of the
# 14x14x64 -> 7x7x128 (49 positions) dcgan layer beats col2im, and dcgan trains at 138-152 images/s
# at 16 against 115-125 at 64; with oneDNN off the two are equal within noise.
COL2IM_MAX_POSITIONS = 16
# Stride-1 adjoints whose output is more than this many times their input's size take col2im too.
GROWTH_LIMIT = 1.5
# Strided convolutions whose output maps have at most this many positions take the im2col filter
# gradient (measured, batch 128: 4x4x256 -> 2x2x512, 5x5 s2 in 57 ms against TensorFlow's 159; at
# 4x4 outputs and larger TensorFlow's Conv2DBackpropFilter is as fast or faster).
IM2COL_FILTER_MAX_POSITIONS = 4


# Whether strided convolutions take the col2im input gradient: None = as :func:`strided_col2im_pays`
# finds for this machine; True or False to force one path (tests, benchmarks).
STRIDED_COL2IM: bool | None = None


def strided_col2im_pays() -> bool:
    """Whether col2im beats TensorFlow's strided ``Conv2DBackpropInput`` here: not where TensorFlow
    runs oneDNN on a CPU with AVX-512 (its ``brgconv_strided`` kernels; module docstring), yes on
    the others (AVX2: 41 ms against 1.2 s on the ``dcgan`` shape). ``STRIDED_COL2IM`` overrides."""
    if STRIDED_COL2IM is not None:
        return STRIDED_COL2IM
    return not onednn_avx512()


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding ``(before, after)`` along one axis (the odd row goes after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv2d_input_gradient(dy, kernel, input_hw: tuple[int, int], *, strides: tuple[int, int],
                          padding: tuple[tuple[int, int], tuple[int, int]]):
    """dL/dx of ``y = conv2d(x, kernel)`` (NHWC, no dilation) from ``dy`` ``[B, OH, OW, O]``.

    ``kernel`` ``[KH, KW, C, O]``; ``padding`` the explicit ``((top, bottom), (left, right))``
    of the forward pass. With ``xp`` the padded input, ``y[b, i, j] = sum xp[b, s*i + di, t*j + dj]
    . kernel[di, dj]``, so every tap ``(di, dj)`` sends ``g[b, i, j, di, dj] = dy[b, i, j] .
    kernel[di, dj]^T`` (one matrix product for all taps) to ``xp[b, s*i + di, t*j + dj]``. Grouped
    by phase ``(di mod s, dj mod t)`` those writes land on a stride-1 grid, where the taps of one
    phase are shifted copies summed together; the phases are then interleaved and the padding
    cropped. Returns ``[B, H, W, C]``.
    """
    kh, kw, c, o = kernel.shape
    (sh, sw), (h, w) = strides, input_hw
    (pt, _), (pl, _) = padding
    batch = tf.shape(dy)[0]
    oh, ow = dy.shape[1], dy.shape[2]
    g = tf.matmul(tf.reshape(dy, [-1, o]), tf.reshape(kernel, [kh * kw * c, o]), transpose_b=True)
    g = tf.reshape(g, [batch, oh, ow, kh, kw, c])  # [B, OH, OW, KH, KW, C]
    mh, mw = -(-kh // sh), -(-kw // sw)  # taps per phase along each axis
    ph, pw = oh + mh - 1, ow + mw - 1  # the phase grid: padded rows s*I + r for I < ph
    rows = []
    for r in range(sh):
        row = []
        for q in range(sw):
            acc = tf.zeros(tf.stack([batch, ph, pw, c]), dy.dtype)
            for m in range(mh):
                for n in range(mw):
                    di, dj = r + sh * m, q + sw * n
                    if di < kh and dj < kw:  # tap (di, dj) writes phase (r, q) shifted by (m, n)
                        acc += tf.pad(g[:, :, :, di, dj, :], [[0, 0], [m, ph - oh - m], [n, pw - ow - n], [0, 0]])
            row.append(acc)
        rows.append(tf.stack(row, axis=3))  # [B, PH, PW, SW, C]
    full = tf.reshape(tf.stack(rows, axis=2), [batch, ph * sh, pw * sw, c])  # [B, PH*SH, PW*SW, C] interleaved
    short_h, short_w = max(0, pt + h - ph * sh), max(0, pl + w - pw * sw)  # rows no window reaches (VALID)
    if short_h or short_w:
        full = tf.pad(full, [[0, 0], [0, short_h], [0, short_w], [0, 0]])
    return full[:, pt:pt + h, pl:pl + w, :]


def explicit_padding(padding: str, input_hw, kernel_hw, strides) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((top, bottom), (left, right))`` of a convolution with Keras' ``same``/``valid`` padding."""
    if padding.lower() == "valid":
        return (0, 0), (0, 0)
    return tuple(same_padding(size, k, s) for size, k, s in zip(input_hw, kernel_hw, strides))


def _flip(kernel):
    """The kernel of the adjoint of a stride-1 correlation: flipped in space, channel axes swapped."""
    return tf.transpose(kernel[::-1, ::-1], [0, 1, 3, 2])


def stride1_adjoint(dy, kernel, padding):
    """The adjoint of a stride-1 ``conv2d(x, kernel)`` padded by ``padding`` (explicit pads),
    applied to ``dy``: a forward convolution with the flipped kernel, padded by ``k - 1 - pad``."""
    kh, kw = kernel.shape[0], kernel.shape[1]
    (pt, pb), (pl, pr) = padding
    pads = [[0, 0], [kh - 1 - pt, kh - 1 - pb], [kw - 1 - pl, kw - 1 - pr], [0, 0]]
    return tf.nn.conv2d(tf.pad(dy, pads), _flip(kernel), strides=1, padding="VALID")


def input_gradient(dy, kernel, input_hw, *, strides: tuple[int, int], padding):
    """dL/dx of a ``conv2d`` with explicit ``padding``, by the fastest formulation measured here
    (see the module docstring): at stride 1, :func:`stride1_adjoint` (a forward convolution)
    unless the input is more than 1.5x the output's size (a VALID convolution, whose adjoint would
    mostly multiply padding zeros), then :func:`conv2d_input_gradient`; at larger strides
    :func:`conv2d_input_gradient` on output maps of at most :data:`COL2IM_MAX_POSITIONS`
    positions where :func:`strided_col2im_pays`, else TensorFlow's ``Conv2DBackpropInput``."""
    (h, w), (oh, ow) = input_hw, (dy.shape[1], dy.shape[2])
    if tuple(strides) == (1, 1):
        if h * w > GROWTH_LIMIT * oh * ow:
            return conv2d_input_gradient(dy, kernel, input_hw, strides=strides, padding=padding)
        return stride1_adjoint(dy, kernel, padding)
    if oh * ow <= COL2IM_MAX_POSITIONS and strided_col2im_pays():
        return conv2d_input_gradient(dy, kernel, input_hw, strides=strides, padding=padding)
    (pt, pb), (pl, pr) = padding
    return tf.raw_ops.Conv2DBackpropInput(input_sizes=tf.stack([tf.shape(dy)[0], h, w, kernel.shape[2]]),
                                          filter=kernel, out_backprop=dy, strides=[1, *strides, 1],
                                          padding="EXPLICIT", explicit_paddings=[0, 0, pt, pb, pl, pr, 0, 0])


def filter_gradient(x, dy, kernel_shape, *, strides: tuple[int, int], padding):
    """dL/dkernel of ``y = conv2d(x, kernel)`` with explicit ``padding``: on output maps of at most
    :data:`IM2COL_FILTER_MAX_POSITIONS` positions one matrix product of the input's patches with
    ``dy`` (im2col), where TensorFlow's ``Conv2DBackpropFilter`` is slow (a 2x2 map of a 5x5x256x512
    kernel: 2.8x); else TensorFlow's kernel. ``[KH, KW, C, O]``."""
    kh, kw, c, o = kernel_shape
    if dy.shape[1] * dy.shape[2] > IM2COL_FILTER_MAX_POSITIONS:
        (pt, pb), (pl, pr) = padding
        used_h, used_w = (dy.shape[1] - 1) * strides[0] + kh, (dy.shape[2] - 1) * strides[1] + kw
        if x.shape[1] + pt + pb > used_h or x.shape[2] + pl + pr > used_w:
            # Rows or columns past the last window (a kernel smaller than its stride, or VALID
            # leftovers): oneDNN's Conv2DBackpropFilter (TensorFlow 2.21, TF_ENABLE_ONEDNN_OPTS=1)
            # returns wrong values for some of these shapes, e.g. a 1x1 kernel at stride 2 on an
            # 8x8 input (tests/test_layers.py). Cropped to the windows' extent, it is exact.
            x = tf.pad(x, [[0, 0], *padding, [0, 0]])[:, :used_h, :used_w]
            pt = pb = pl = pr = 0
        return tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=kernel_shape, out_backprop=dy,
                                               strides=[1, *strides, 1], padding="EXPLICIT",
                                               explicit_paddings=[0, 0, pt, pb, pl, pr, 0, 0])
    xp = tf.pad(x, [[0, 0], *padding, [0, 0]])
    patches = tf.image.extract_patches(xp, sizes=[1, kh, kw, 1], strides=[1, *strides, 1], rates=[1, 1, 1, 1],
                                       padding="VALID")  # [B, OH, OW, KH*KW*C]
    patches = patches[:, :dy.shape[1], :dy.shape[2]]  # VALID windows past the output's are none of its
    dk = tf.matmul(tf.reshape(patches, [-1, kh * kw * c]), tf.reshape(dy, [-1, o]), transpose_a=True)
    return tf.reshape(dk, kernel_shape)  # [KH*KW*C, O] -> [KH, KW, C, O]


def conv2d(x, kernel, *, strides: tuple[int, int], padding: str):
    """``tf.nn.conv2d`` (NHWC, no dilation) whose input gradient is :func:`input_gradient` and
    filter gradient :func:`filter_gradient`; the forward pass is TensorFlow's. Differentiable twice
    (the gradient penalty of WGAN-GP needs it)."""
    h, w = x.shape[1], x.shape[2]
    pads = explicit_padding(padding, (h, w), kernel.shape[:2], strides)
    tf_padding = padding.upper()
    tf_strides = [1, *strides, 1]

    @tf.custom_gradient
    def op(x, kernel):
        def grad(dy):
            dx = input_gradient(dy, kernel, (h, w), strides=strides, padding=pads)
            return dx, filter_gradient(x, dy, kernel.shape, strides=strides, padding=pads)

        return tf.nn.conv2d(x, kernel, strides=tf_strides, padding=tf_padding), grad

    return op(x, kernel)


def conv2d_transpose_stride1(x, kernel, *, padding: str):
    """``conv2d_transpose`` at stride 1 (NHWC; ``kernel`` ``[KH, KW, out, in]``): the adjoint of the
    stride-1 ``conv2d(., kernel)``, i.e. that convolution's :func:`input_gradient` applied to ``x``
    (a flipped forward convolution, or col2im when the output is more than 1.5x the input: VALID
    layers that grow a small map, like the 1x1 -> 4x4 and 3x3 -> 7x7 first layers of generators).
    Its own input gradient is that ``conv2d`` itself; the filter gradient is TensorFlow's, with
    ``dy`` in the role of the input."""
    kh, kw = kernel.shape[0], kernel.shape[1]
    h, w = x.shape[1], x.shape[2]
    if padding.lower() == "valid":
        pads, out_hw = ((0, 0), (0, 0)), (h + kh - 1, w + kw - 1)
    else:
        pads, out_hw = (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)), (h, w)  # conv2d's SAME at stride 1
    tf_padding = padding.upper()

    @tf.custom_gradient
    def op(x, kernel):
        def grad(dy):
            dx = tf.nn.conv2d(dy, kernel, strides=1, padding=tf_padding)
            dk = tf.raw_ops.Conv2DBackpropFilter(input=dy, filter_sizes=kernel.shape, out_backprop=x,
                                                 strides=[1, 1, 1, 1], padding=tf_padding)
            return dx, dk

        return input_gradient(x, kernel, out_hw, strides=(1, 1), padding=pads), grad

    return op(x, kernel)


@keras.saving.register_keras_serializable(package="keras_gen")
class Conv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` with a faster input gradient (module docstring).

    Takes the same arguments and weights; falls back to the Keras path for dilation, groups,
    ``channels_first`` or unknown spatial sizes.
    """

    def _fast_path(self, inputs) -> bool:
        """Stride 1, a strided convolution with a small output map where col2im wins
        (:func:`strided_col2im_pays`), or a kernel smaller than its stride (see
        :func:`filter_gradient`); the rest gains nothing and stays on Keras' path, which Grappler
        fuses with bias and activation."""
        if not (self.data_format == "channels_last" and self.groups == 1 and tuple(self.dilation_rate) == (1, 1)
                and inputs.shape[1] is not None and inputs.shape[2] is not None
                and keras.backend.backend() == "tensorflow"):
            return False
        if tuple(self.strides) == (1, 1) or any(k < s for k, s in zip(self.kernel_size, self.strides)):
            return True  # a kernel smaller than its stride: Keras' path would meet the oneDNN bug of filter_gradient
        # Where col2im does not pay, strided layers take Keras' path whole: TensorFlow's input
        # gradient through this layer's custom gradient would run with EXPLICIT padding, which
        # oneDNN does not take (Eigen's kernel: 5x slower training of dcgan on AVX-512).
        oh, ow = self.compute_output_shape(inputs.shape)[1:3]
        return strided_col2im_pays() and oh * ow <= COL2IM_MAX_POSITIONS

    def convolution_op(self, inputs, kernel):
        if not self._fast_path(inputs):
            return super().convolution_op(inputs, kernel)
        return conv2d(inputs, tf.convert_to_tensor(kernel), strides=tuple(self.strides), padding=self.padding)


@keras.saving.register_keras_serializable(package="keras_gen")
class Conv2DTranspose(keras.layers.Conv2DTranspose):
    """``keras.layers.Conv2DTranspose``, computed with forward convolutions at stride 1 (module
    docstring); other strides, dilation, ``output_padding`` and ``channels_first`` take the Keras path."""

    def _fast_path(self) -> bool:
        return (self.data_format == "channels_last" and tuple(self.strides) == (1, 1)
                and tuple(self.dilation_rate) == (1, 1) and self.output_padding is None
                and keras.backend.backend() == "tensorflow")

    def call(self, inputs):
        if not self._fast_path():
            return super().call(inputs)
        outputs = conv2d_transpose_stride1(inputs, tf.convert_to_tensor(self.kernel), padding=self.padding)
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        if self.activation is not None:
            return self.activation(outputs)
        return outputs
