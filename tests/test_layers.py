"""keras_gen.layers computes what keras.layers computes: outputs, gradients for the input and the
weights, and second-order gradients (WGAN-GP differentiates the input gradient), against the
plain Keras layers with the same weights, for every formulation the layers choose between.

The references run in float64, which TensorFlow computes with Eigen whatever TF_ENABLE_ONEDNN_OPTS
says: keras_gen turns oneDNN on, and oneDNN's own Conv2DBackpropFilter is wrong on some shapes (a
1x1 kernel at stride 2 on an 8x8 input), so a float32 Keras layer is no reference there."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_gen import layers as kg_layers

CONV_CASES = [
    # (input h, in channels, filters, kernel, stride, padding): which input-gradient path runs
    (4, 16, 24, 5, 2, "same"),  # col2im: the dcgan discriminator's last layer, scaled down
    (7, 8, 12, 5, 2, "same"),  # col2im, odd size
    (5, 3, 4, 3, 2, "valid"),  # col2im, and the im2col filter gradient of a 2x2 output
    (3, 4, 6, 3, 2, "same"),  # a 2x2 output, padding on the far side only
    (7, 3, 5, 3, 2, "valid"),  # col2im, valid: rows no window reaches get zero gradient
    (8, 4, 6, 4, 2, "same"),  # col2im, even kernel
    (9, 2, 3, 2, 3, "valid"),  # col2im, stride 3
    (6, 4, 6, 1, 2, "same"),  # col2im, 1x1 kernel
    (20, 3, 4, 5, 2, "same"),  # 10x10 output = 100 positions: Keras' own path
    (8, 3, 4, 1, 2, "valid"),  # a 1x1 kernel at stride 2: oneDNN's filter gradient is wrong here
    (12, 3, 4, 1, 2, "same"),  # the same at 36 positions: keras_gen's path, the input cropped
    (5, 2, 3, 3, 1, "same"),  # stride 1: the flipped forward convolution
    (6, 3, 4, 4, 1, "same"),  # stride 1, even kernel: asymmetric padding
    (6, 3, 4, 3, 1, "valid"),  # stride 1, valid, input 2.25x the output: col2im
    (9, 3, 4, 2, 1, "valid"),  # stride 1, valid, input 1.3x the output: the flipped convolution
]
TRANSPOSE_CASES = [
    (7, 16, 8, 5, 1, "same", False),  # the dcgan generator's first transposed convolution, scaled down
    (5, 3, 4, 4, 1, "same", True),
    (5, 3, 4, 4, 1, "valid", True),
    (1, 8, 6, 4, 1, "valid", False),  # 1x1 -> 4x4, as dcgan_32's first layer: col2im
    (3, 12, 6, 5, 1, "valid", True),  # 3x3 -> 7x7, as acgan's first layer: col2im
    (7, 4, 3, 5, 2, "same", True),  # stride 2: the Keras path
]


def paired(ref_layer, new_layer, input_shape):
    """``ref_layer`` (a float32 Keras layer's arguments) rebuilt in float64, and ``new_layer``, with equal weights."""
    ref_layer = ref_layer.__class__.from_config({**ref_layer.get_config(), "dtype": "float64"})
    ref_layer.build(input_shape)
    new_layer.build(input_shape)
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in ref_layer.get_weights()]
    ref_layer.set_weights(weights)
    new_layer.set_weights(weights)
    return ref_layer, new_layer


def derivatives(layer, x):
    """Output, gradients of a nonlinear loss for the input and every weight, and the gradient
    for the weights of the squared input-gradient norm (a gradient penalty's second order)."""
    x = tf.cast(x, layer.compute_dtype)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(tf.sin(3.0 * y))
        grads = tape.gradient(loss, [x, *layer.trainable_variables])
        penalty = tf.reduce_sum(tf.square(grads[0]))
    second = outer.gradient(penalty, layer.trainable_variables)
    return [y, *grads, *second]


def assert_same(ref, new, rtol=1e-4):
    """Equal to float32 rounding against a float64 reference (a wrong path is off by 0.1 or more)."""
    for a, b in zip(ref, new):
        a, b = np.asarray(a), np.asarray(b)
        a, b = a.astype(np.float64), b.astype(np.float64)
        assert a.shape == b.shape
        scale = np.abs(a).max() + 1e-12
        assert np.abs(a - b).max() / scale < rtol, np.abs(a - b).max() / scale


@pytest.fixture(params=[True, False], ids=["col2im", "no-col2im"])
def strided_col2im(request, monkeypatch):
    """Both choices of :func:`keras_gen.layers.strided_col2im_pays` on any machine: col2im (CPUs
    without AVX-512) and TensorFlow's strided input gradient (oneDNN on AVX-512)."""
    monkeypatch.setattr(kg_layers, "STRIDED_COL2IM", request.param)
    return request.param


@pytest.mark.parametrize("h,cin,cout,k,s,padding", CONV_CASES)
def test_conv2d_matches_keras(h, cin, cout, k, s, padding, strided_col2im):
    ref, new = paired(keras.layers.Conv2D(cout, k, strides=s, padding=padding, activation="tanh"),
                      kg_layers.Conv2D(cout, k, strides=s, padding=padding, activation="tanh"), (3, h, h, cin))
    x = tf.random.stateless_normal([3, h, h, cin], seed=[1, 2])
    out = new.compute_output_shape(x.shape)
    small = strided_col2im and out[1] * out[2] <= kg_layers.COL2IM_MAX_POSITIONS
    assert new._fast_path(x) == (s == 1 or k < s or small)
    assert_same(derivatives(ref, x), derivatives(new, x))


@pytest.mark.parametrize("h,k,s,padding", [(20, 5, 2, "same"), (20, 3, 2, "valid"), (6, 3, 1, "same"),
                                           (6, 3, 1, "valid"), (9, 4, 3, "same")])
@pytest.mark.parametrize("formulation", ["col2im", "chosen"])
def test_input_gradient_formulations_match_tensorflow(h, k, s, padding, formulation, strided_col2im):
    """Every formulation of the input gradient (col2im on any shape, and the one input_gradient
    picks, TensorFlow's kernel on large strided maps included) equals Conv2DBackpropInput."""
    x = tf.random.stateless_normal([2, h, h, 3], seed=[7, 8])
    kernel = tf.random.stateless_normal([k, k, 3, 5], seed=[9, 10])
    dy = tf.random.stateless_normal(tf.nn.conv2d(x, kernel, s, padding.upper()).shape, seed=[11, 12])
    expected = tf.raw_ops.Conv2DBackpropInput(input_sizes=x.shape, filter=tf.cast(kernel, tf.float64),
                                              out_backprop=tf.cast(dy, tf.float64),
                                              strides=[1, s, s, 1], padding=padding.upper())
    pads = kg_layers.explicit_padding(padding, (h, h), (k, k), (s, s))
    compute = kg_layers.conv2d_input_gradient if formulation == "col2im" else kg_layers.input_gradient
    assert_same([expected], [compute(dy, kernel, (h, h), strides=(s, s), padding=pads)])


@pytest.mark.parametrize("h,cin,cout,k,s,padding,bias", TRANSPOSE_CASES)
def test_conv2d_transpose_matches_keras(h, cin, cout, k, s, padding, bias):
    ref, new = paired(keras.layers.Conv2DTranspose(cout, k, strides=s, padding=padding, use_bias=bias),
                      kg_layers.Conv2DTranspose(cout, k, strides=s, padding=padding, use_bias=bias), (3, h, h, cin))
    assert new._fast_path() == (s == 1)
    x = tf.random.stateless_normal([3, h, h, cin], seed=[3, 4])
    x64 = tf.cast(x, tf.float64)
    with tf.GradientTape() as tape_ref, tf.GradientTape() as tape_new:
        tape_ref.watch(x64)
        tape_new.watch(x)
        y_ref, y_new = ref(x64), new(x)
        loss_ref, loss_new = (tf.reduce_sum(tf.sin(3.0 * y)) for y in (y_ref, y_new))
    assert_same([y_ref, *tape_ref.gradient(loss_ref, [x64, *ref.trainable_variables])],
                [y_new, *tape_new.gradient(loss_new, [x, *new.trainable_variables])])


@pytest.mark.parametrize("h,k,s,padding", [(4, 5, 2, "same"), (5, 3, 2, "valid"), (3, 3, 2, "same"),
                                           (8, 5, 2, "same"), (20, 3, 2, "valid"), (8, 1, 2, "valid"),
                                           (12, 1, 2, "same"), (11, 2, 3, "valid")])
def test_filter_gradient_matches_tensorflow(h, k, s, padding):
    """The im2col filter gradient (outputs of at most 4 positions) and TensorFlow's (larger ones,
    cropped to the windows' extent where a kernel smaller than its stride leaves rows unread)
    equal Conv2DBackpropFilter computed in float64."""
    x = tf.random.stateless_normal([3, h, h, 4], seed=[1, 3])
    kernel_shape = [k, k, 4, 6]
    dy = tf.random.stateless_normal(tf.nn.conv2d(x, tf.zeros(kernel_shape), s, padding.upper()).shape, seed=[2, 4])
    expected = tf.raw_ops.Conv2DBackpropFilter(input=tf.cast(x, tf.float64), filter_sizes=kernel_shape,
                                               out_backprop=tf.cast(dy, tf.float64),
                                               strides=[1, s, s, 1], padding=padding.upper())
    pads = kg_layers.explicit_padding(padding, (h, h), (k, k), (s, s))
    assert_same([expected], [kg_layers.filter_gradient(x, dy, kernel_shape, strides=(s, s), padding=pads)])


def test_the_fast_paths_also_hold_at_the_zoo_size():
    """The dcgan discriminator's last convolution at full width (4x4x256 -> 2x2x512)."""
    ref, new = paired(keras.layers.Conv2D(512, 5, strides=2, padding="same"),
                      kg_layers.Conv2D(512, 5, strides=2, padding="same"), (8, 4, 4, 256))
    x = tf.random.stateless_normal([8, 4, 4, 256], seed=[5, 6])
    assert_same(derivatives(ref, x), derivatives(new, x), rtol=1e-3)  # sums of 6,400 float32 terms, twice


def test_layers_stand_in_for_keras_layers(tmp_path):
    """Drop-in for Keras' own: summaries read Conv2D; saved models load back."""
    model = keras.Sequential([keras.Input((8, 8, 1)), kg_layers.Conv2D(4, 3, strides=2, padding="same"),
                              kg_layers.Conv2DTranspose(2, 3, padding="same")])
    lines = []
    model.summary(print_fn=lambda line, *a, **k: lines.append(line))
    assert any("(Conv2D)" in line for line in lines) and any("(Conv2DTranspose)" in line for line in lines)
    config = json.dumps(keras.saving.serialize_keras_object(model))
    assert "keras_gen>Conv2D" in config and "keras_gen>Conv2DTranspose" in config
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(1).normal(size=(2, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6, atol=1e-6)
    assert isinstance(loaded.layers[0], kg_layers.Conv2D)


def test_the_zoo_uses_them():
    import models_zoo

    gan = models_zoo.build("dcgan")
    assert all(isinstance(layer, kg_layers.Conv2D) for layer in gan.discriminator.layers
               if isinstance(layer, keras.layers.Conv2D))
    assert isinstance(gan.generator.layers[4], kg_layers.Conv2DTranspose)


@pytest.mark.parametrize("step,calls", [("fresh", 2), ("reuse", 1)])
def test_generator_step_reuses_the_fake_batch(step, calls):
    """``reuse`` generates one fake batch per iteration and updates both networks on it."""
    import models_zoo
    from keras_gen.families import GAN

    base = models_zoo.build("mlp_gan")
    gan = GAN(base.generator, base.discriminator, latent_dim=base.latent_dim, image_shape=base.image_shape,
              generator_step=step)
    gan.compile(g_optimizer=keras.optimizers.SGD(0.01), d_optimizer=keras.optimizers.SGD(0.01))
    generated = []
    original = gan.generate

    def counting(z, labels=None, training=False):
        generated.append(z)
        return original(z, labels, training=training)

    gan.generate = counting
    before = [w.numpy().copy() for w in gan.generator.trainable_variables]
    logs = gan.train_step(tf.random.uniform([16, 28, 28, 1], -1.0, 1.0, seed=1))
    assert len(generated) == calls
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert any(not np.allclose(b, w.numpy()) for b, w in zip(before, gan.generator.trainable_variables))
    assert GAN.from_config(gan.get_config()).generator_step == step
    with pytest.raises(ValueError, match="generator_step"):
        GAN(base.generator, base.discriminator, latent_dim=100, image_shape=(28, 28, 1), generator_step="both")


def test_strided_col2im_follows_the_cpu(monkeypatch):
    """Unforced, col2im is chosen except where TensorFlow runs oneDNN on a CPU with AVX-512, whose
    strided input gradient is as fast or faster (keras_gen/layers.py; benchmarks/layer_speed.py
    --keras-path measures both)."""
    from keras_gen.utils.cpu import cpu_model_and_flags, onednn_enabled

    monkeypatch.setattr(kg_layers, "STRIDED_COL2IM", None)
    onednn_avx512 = onednn_enabled() and "avx512f" in cpu_model_and_flags()[1]
    assert kg_layers.strided_col2im_pays() is (not onednn_avx512)
    layer = kg_layers.Conv2D(8, 4, strides=2, padding="same")  # 8x8 -> 4x4: col2im's size, not im2col's
    x = tf.zeros([1, 8, 8, 3])
    layer.build(x.shape)
    assert layer._fast_path(x) is (not onednn_avx512)
