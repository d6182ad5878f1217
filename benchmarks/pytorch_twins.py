#!/usr/bin/env python
"""PyTorch twins of four zoo models, timed the way ``benchmarks/train_speed.py`` times ours, so that
a pair of runs minutes apart compares the frameworks on the same networks and the same training
steps (the PyTorch baseline of issue 7; it replaces ``pytorch_dcgan.py``).

    python -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.13.0 \\
        --index-url https://download.pytorch.org/whl/cpu          # not a keras_gen dependency
    /tmp/torchenv/bin/python benchmarks/pytorch_twins.py --model dcgan --batch-size 128
    .venv/bin/python benchmarks/train_speed.py --models dcgan --batch-size 128   # its pair

Timing as ``train_speed.py``: a fixed synthetic batch in the model's value range, ``--warmup``
steps, then ``--repeats`` timed runs of ``--steps`` steps (default: as many as take ``--seconds``,
3, judged from a second warm-up round); images/s = steps x batch size / median time, counting
generator-batch images (a ``wgan_gp`` step of 5 critic updates and 1 generator update is one step
of ``batch`` images, as Keras counts it). The same process then measures PyTorch's attainable fp32
matmul rate (best of square sizes 512, 1024, 2048, about 1 s each after a warm-up): the ceiling
to read the model's rate against on a shared VM whose speed drifts. The last line is JSON.

Each twin's trainable parameter count per sub-network is asserted against ``EXPECTED_PARAMS``,
the zoo registry's trainable counts (BatchNorm moving statistics: non-trainable weights in Keras,
buffers here). Common to all twins, none of it changing the work done:

* Layout NCHW (Keras: NHWC). A Flatten then orders features differently, so the Dense after it has
  its rows permuted: same count, same FLOPs.
* TensorFlow's "same" padding of strided convolutions is reproduced exactly (:class:`SameConv`:
  the odd row and column go at the bottom and right). Strided "same" *transposed* convolutions are
  PyTorch's idiom ``padding=(k - 1) // 2, output_padding=1``: same shapes, FLOPs and parameters,
  but the output grid is TensorFlow's shifted by one pixel (checked numerically against
  ``tf.nn.conv2d_transpose``: TF's extra padding row is at the end of the equivalent forward
  convolution, PyTorch's ``output_padding`` at the other side). An exact copy needs a larger
  output and a crop, work Keras does not do; the shift changes only which border pixels meet zeros.
* Initialisers are PyTorch's defaults (Keras: Glorot uniform, zero biases). BatchNorm and Adam take
  Keras' constants (BatchNorm epsilon 1e-3, momentum 0.99 = PyTorch's 0.01; Adam epsilon 1e-7).
* A discriminator step does not backpropagate into the generator (``detach``, or ``no_grad`` where
  the generator step draws fresh latents), and the generator step does not compute the
  discriminator's weight gradients (its parameters are frozen for it): Keras' tape asks only for
  the updated network's gradients and its compiled graph drops the rest. PyTorch's DCGAN tutorial
  computes them and lets the next ``zero_grad`` discard them; ``--tutorial-loop`` does that (the
  loop of the former ``pytorch_dcgan.py``, whose figures ``benchmarks/README.md`` reports).
* Losses are per-example, averaged over the batch, as the Keras families.

The twins:

* ``dcgan`` -- ``models_zoo/dcgan.py``, Junnuthula (report 002) §3.1.2: the TF tutorial generator
  (Linear 100 -> 7*7*256 without bias, BatchNorm, LeakyReLU(0.3); ConvTranspose 5x5 to 128
  (stride 1), 64 and 1 (stride 2) without biases, BatchNorm after the first two, tanh) and the
  4-conv discriminator (5x5 stride 2 to 64, 128, 256, 512, LeakyReLU(0.3), Dropout(0.3), Linear to
  a logit). BCE, Adam(1e-4) each, batch 32. ``generator_step="reuse"``: one fake batch per step;
  the discriminator trains on it (and a real batch), then the generator on the same fakes through
  the updated discriminator (PyTorch's DCGAN loop).
* ``vae_conv`` -- ``models_zoo/vae_conv.py``, Junnuthula (report 002) §3.1.1, Fig. 3: encoder
  Conv 3x3 stride 2 VALID to 512 (ReLU) twice (28 -> 13 -> 6), Flatten, Linear to 2 x latent 2
  (mean, log-variance); decoder Linear 2 -> 7*7*32 (ReLU), ConvTranspose 3x3 stride 2 to 512 (ReLU)
  twice, ConvTranspose 3x3 stride 1 to 1 logit map. ``keras_gen/families/vae.py`` with a Bernoulli
  likelihood and ``kl="monte_carlo"``: per image, BCE-with-logits summed over pixels +
  log q(z|x) - log p(z) at the reparameterised sample (TFP's ``MultivariateNormalDiag.log_prob``
  in Keras, written out here); one Adam(1e-4) over both networks, batch 32, inputs in [0, 1].
  The Keras model runs under XLA (its registry's ``jit_compile=True``); this one eagerly.
* ``wgan_gp`` -- ``models_zoo/wgan.py`` ``build_wgan_gp``: beyond the reports (Schulz, report 004,
  §8 "future work"), Gulrajani et al. 2017 Algorithm 1. ``dcgan``'s generator; critic =
  ``dcgan``'s discriminator without Dropout or BatchNorm and without the output bias.
  ``keras_gen/families/wgan.py``: 5 critic updates per generator update, each on a fresh real
  batch (Keras' pipeline delivers 5 batches per step: here 5 fixed batches) and fresh fakes, loss
  D(G(z)) - D(x) + 10 (||grad D(x_hat)||_2 - 1)^2 at x_hat = eps x + (1 - eps) G(z), eps ~ U(0, 1)
  per example (1e-12 under the square root, as Keras); then the generator on fresh latents
  (``generator_step="fresh"``, the GAN default WGAN keeps), loss -D(G(z)). Adam(1e-4, betas 0.5,
  0.9) each, batch 64.
* ``mlp_gan`` -- ``models_zoo/ponnuru_mlp.py`` ``build_mlp_gan``, Ponnuru (report 000) §4.2:
  G 100 -> 256 (ReLU) -> 256 (ReLU) -> 784 tanh, D 784 -> 256 LeakyReLU(0.2) -> 1 logit;
  ``keras_gen/families/gan.py`` with d_steps 1, BCE, the non-saturating generator loss on fresh
  latents (``generator_step="fresh"``); Adam(2e-4) each, batch 64. The Keras model runs under XLA
  with 64 steps per call (``steps_per_execution``): a step takes milliseconds, so per-call
  overhead, which this eager loop pays every step, is part of what the pair measures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import time
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

# Trainable parameters per sub-network: the zoo registry's ``parameters[name][1]``
# (``python -c "import models_zoo; print(models_zoo.get('dcgan').parameters)"``).
EXPECTED_PARAMS = {
    "dcgan": {"generator": 2_305_472, "discriminator": 4_305_409},
    "vae_conv": {"encoder": 2_438_660, "decoder": 2_517_089},
    "wgan_gp": {"generator": 2_305_472, "critic": 4_305_408},
    "mlp_gan": {"generator": 293_136, "discriminator": 201_217},
}
DEFAULT_BATCH = {"dcgan": 32, "vae_conv": 32, "wgan_gp": 64, "mlp_gan": 64}  # the registry's batch_size
LATENT = {"dcgan": 100, "vae_conv": 2, "wgan_gp": 100, "mlp_gan": 100}
IMAGE = (1, 28, 28)  # MNIST, NCHW

# Keras' constants where PyTorch's defaults differ (BatchNormalization, Adam).
BN = {"eps": 1e-3, "momentum": 0.01}  # Keras momentum 0.99 weights the old statistic; PyTorch's the new one
ADAM_EPS = 1e-7


# -- TensorFlow's "same" padding -----------------------------------------------------------------
def same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) along one axis (the odd row goes after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv(nn.Module):
    """Conv2d with TensorFlow's "same" padding for a square ``size`` input: the convolution's own
    padding when symmetric, else an explicit ``F.pad`` with the extra row and column at the end."""

    def __init__(self, cin: int, cout: int, size: int, kernel: int = 5, stride: int = 2, bias: bool = True):
        super().__init__()
        before, after = same_pad(size, kernel, stride)
        self.pad = None if before == after else (before, after, before, after)
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=before if self.pad is None else 0, bias=bias)

    def forward(self, x):
        return self.conv(x if self.pad is None else F.pad(x, self.pad))


# -- networks -------------------------------------------------------------------------------------
def dcgan_generator(latent: int = 100) -> nn.Module:
    """``models_zoo/dcgan.py`` ``dcgan_generator``: z [B, latent] -> [B, 1, 28, 28] in [-1, 1]."""
    return nn.Sequential(
        nn.Linear(latent, 7 * 7 * 256, bias=False), nn.BatchNorm1d(7 * 7 * 256, **BN), nn.LeakyReLU(0.3),
        nn.Unflatten(1, (256, 7, 7)),
        nn.ConvTranspose2d(256, 128, 5, stride=1, padding=2, bias=False), nn.BatchNorm2d(128, **BN),
        nn.LeakyReLU(0.3),  # [B, 128, 7, 7]
        # TF "same" at stride 2 doubles the map: padding 2 and output_padding 1 (one pixel shifted, see above).
        nn.ConvTranspose2d(128, 64, 5, stride=2, padding=2, output_padding=1, bias=False), nn.BatchNorm2d(64, **BN),
        nn.LeakyReLU(0.3),  # [B, 64, 14, 14]
        nn.ConvTranspose2d(64, 1, 5, stride=2, padding=2, output_padding=1, bias=False), nn.Tanh(),  # [B, 1, 28, 28]
    )


def conv_discriminator(*, dropout: float, output_bias: bool = True) -> nn.Module:
    """``models_zoo/dcgan_upsample.py`` ``conv_discriminator`` without BatchNorm, LeakyReLU(0.3):
    [B, 1, 28, 28] -> logit or critic score [B, 1]. ``dcgan``: dropout 0.3, output bias; the
    ``wgan_gp`` critic: neither."""
    layers, cin, size = [], IMAGE[0], IMAGE[1]
    for cout in (64, 128, 256, 512):  # feature maps 14, 7, 4, 2
        layers += [SameConv(cin, cout, size), nn.LeakyReLU(0.3)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        cin, size = cout, -(-size // 2)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512 * 2 * 2, 1, bias=output_bias))


def vae_conv_encoder(latent: int = 2, filters: int = 512) -> nn.Module:
    """``models_zoo/vae_conv.py`` ``conv_encoder``: [B, 1, 28, 28] -> [B, 2*latent] (mean, log-variance)."""
    return nn.Sequential(
        nn.Conv2d(IMAGE[0], filters, 3, stride=2), nn.ReLU(),  # VALID: [B, 512, 13, 13]
        nn.Conv2d(filters, filters, 3, stride=2), nn.ReLU(),  # [B, 512, 6, 6]
        nn.Flatten(), nn.Linear(filters * 6 * 6, 2 * latent),  # [B, 18432] -> [B, 4]
    )


def vae_conv_decoder(latent: int = 2, filters: int = 512) -> nn.Module:
    """``models_zoo/vae_conv.py`` ``conv_decoder``: z [B, latent] -> Bernoulli logits [B, 1, 28, 28]."""
    return nn.Sequential(
        nn.Linear(latent, 7 * 7 * 32), nn.ReLU(), nn.Unflatten(1, (32, 7, 7)),
        nn.ConvTranspose2d(32, filters, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # [B, 512, 14, 14]
        nn.ConvTranspose2d(filters, filters, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # [B, 512, 28, 28]
        nn.ConvTranspose2d(filters, IMAGE[0], 3, stride=1, padding=1),  # stride 1: TF's padding exactly
    )


def mlp_generator(latent: int = 100) -> nn.Module:
    """``build_mlp_gan``'s generator: z [B, 100] -> [B, 1, 28, 28] in [-1, 1]."""
    return nn.Sequential(
        nn.Linear(latent, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
        nn.Linear(256, math.prod(IMAGE)), nn.Tanh(), nn.Unflatten(1, IMAGE),
    )


def mlp_discriminator() -> nn.Module:
    """``build_mlp_gan``'s discriminator: [B, 1, 28, 28] -> logit [B, 1]."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(IMAGE), 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))


def adam(net: nn.Module, lr: float, betas=(0.9, 0.999)) -> torch.optim.Optimizer:
    return torch.optim.Adam(net.parameters(), lr, betas=betas, eps=ADAM_EPS)


# -- training steps: each builder returns ({sub-network name: module}, step) -------------------------
Twin = tuple[dict[str, nn.Module], Callable[[], None]]


@contextlib.contextmanager
def frozen(net: nn.Module, tutorial_loop: bool):
    """Stops ``net``'s weight gradients (a generator step's discriminator) unless ``tutorial_loop``."""
    if not tutorial_loop:
        net.requires_grad_(False)
    try:
        yield
    finally:
        net.requires_grad_(True)


def gan_twin(g: nn.Module, d: nn.Module, *, lr: float, batch: int, latent: int, reuse: bool,
             tutorial_loop: bool) -> Twin:
    """``keras_gen/families/gan.py`` with d_steps 1, BCE on logits, the non-saturating generator loss."""
    g_opt, d_opt = adam(g, lr), adam(d, lr)
    real = torch.rand(batch, *IMAGE) * 2 - 1  # [-1, 1]
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)

    def step():
        z = torch.randn(batch, latent)
        if reuse:  # the generator step below trains on this batch: keep its graph
            fake = g(z)
        else:
            with torch.no_grad():  # BatchNorm statistics still update, as Keras' training=True
                fake = g(z)
        d_opt.zero_grad(set_to_none=True)
        d_loss = (F.binary_cross_entropy_with_logits(d(real), ones)
                  + F.binary_cross_entropy_with_logits(d(fake.detach()), zeros))
        d_loss.backward()
        d_opt.step()
        if not reuse:
            fake = g(torch.randn(batch, latent))
        g_opt.zero_grad(set_to_none=True)
        with frozen(d, tutorial_loop):
            g_loss = F.binary_cross_entropy_with_logits(d(fake), ones)  # -log D(G(z))
            g_loss.backward()
        g_opt.step()

    return {"generator": g, "discriminator": d}, step


def build_dcgan(batch: int, tutorial_loop: bool) -> Twin:
    return gan_twin(dcgan_generator(), conv_discriminator(dropout=0.3), lr=1e-4, batch=batch, latent=100,
                    reuse=True, tutorial_loop=tutorial_loop)


def build_mlp_gan(batch: int, tutorial_loop: bool) -> Twin:
    return gan_twin(mlp_generator(), mlp_discriminator(), lr=2e-4, batch=batch, latent=100, reuse=False,
                    tutorial_loop=tutorial_loop)


def build_wgan_gp(batch: int, tutorial_loop: bool, n_critic: int = 5, gp_weight: float = 10.0) -> Twin:
    g, d = dcgan_generator(), conv_discriminator(dropout=0.0, output_bias=False)
    g_opt, d_opt = adam(g, 1e-4, (0.5, 0.9)), adam(d, 1e-4, (0.5, 0.9))
    reals = (torch.rand(n_critic * batch, *IMAGE) * 2 - 1).split(batch)  # a fresh real batch per critic step

    def critic_step(real):
        with torch.no_grad():  # the critic's loss needs no generator gradient
            fake = g(torch.randn(batch, 100))
        d_opt.zero_grad(set_to_none=True)
        eps = torch.rand(batch, 1, 1, 1)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grads,) = torch.autograd.grad(d(x_hat).sum(), x_hat, create_graph=True)  # per-example: no BatchNorm
        penalty = (torch.sqrt(grads.flatten(1).square().sum(1) + 1e-12) - 1).square()  # [B]
        d_loss = (d(fake)[:, 0] - d(real)[:, 0] + gp_weight * penalty).mean()
        d_loss.backward()
        d_opt.step()

    def step():
        for real in reals:
            critic_step(real)
        g_opt.zero_grad(set_to_none=True)
        with frozen(d, tutorial_loop):
            g_loss = -d(g(torch.randn(batch, 100))).mean()
            g_loss.backward()
        g_opt.step()

    return {"generator": g, "critic": d}, step


def build_vae_conv(batch: int, tutorial_loop: bool, latent: int = 2) -> Twin:
    enc, dec = vae_conv_encoder(latent), vae_conv_decoder(latent)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], 1e-4, eps=ADAM_EPS)
    images = torch.rand(batch, *IMAGE)  # [0, 1]
    half_log_2pi = 0.5 * math.log(2 * math.pi)

    def step():
        opt.zero_grad(set_to_none=True)
        z_mean, z_log_var = enc(images).chunk(2, dim=1)  # [B, latent] each
        scale = torch.exp(0.5 * z_log_var)
        z = z_mean + scale * torch.randn_like(z_mean)  # reparameterisation
        logits = dec(z)
        recon = F.binary_cross_entropy_with_logits(logits, images, reduction="none").flatten(1).sum(1)  # -log p(x|z)
        log_q = (-0.5 * ((z - z_mean) / scale).square() - torch.log(scale) - half_log_2pi).sum(1)
        log_p = (-0.5 * z.square() - half_log_2pi).sum(1)
        loss = (recon + log_q - log_p).mean()
        loss.backward()
        opt.step()

    return {"encoder": enc, "decoder": dec}, step


BUILDERS = {"dcgan": build_dcgan, "vae_conv": build_vae_conv, "wgan_gp": build_wgan_gp, "mlp_gan": build_mlp_gan}


# -- measurements ---------------------------------------------------------------------------------
def matmul_gflops(sizes=(512, 1024, 2048), seconds: float = 1.0) -> tuple[float, int]:
    """Best fp32 ``torch.mm`` rate (GFLOP/s, 2 n^3 per product) over square ``sizes``, each timed for
    about ``seconds`` after a warm-up: ``(GFLOP/s, size)``."""
    best = (0.0, sizes[0])
    for n in sizes:
        a, b, out = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
        for _ in range(2):
            torch.mm(a, b, out=out)
        count, start = 0, time.perf_counter()
        while True:
            torch.mm(a, b, out=out)
            count += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        best = max(best, (2.0 * n**3 * count / elapsed / 1e9, n))
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(BUILDERS), required=True)
    p.add_argument("--batch-size", type=int, help="default: the Keras model's (dcgan 32, vae_conv 32, wgan_gp 64, "
                                                 "mlp_gan 64)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="steps per timed run (default: as many as take --seconds)")
    length.add_argument("--seconds", type=float, default=3.0, help="length of a timed run when --steps is not given")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: PyTorch's choice)")
    p.add_argument("--matmul-seconds", type=float, default=1.0, help="time per matmul size")
    p.add_argument("--tutorial-loop", action="store_true",
                   help="GANs: the generator step also computes the discriminator's weight gradients, as "
                        "PyTorch's DCGAN tutorial (and the former pytorch_dcgan.py) do; Keras does not")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batch = args.batch_size or DEFAULT_BATCH[args.model]
    nets, step = BUILDERS[args.model](batch, args.tutorial_loop)

    params = {name: sum(w.numel() for w in net.parameters() if w.requires_grad) for name, net in nets.items()}
    for name, count in params.items():
        expected = EXPECTED_PARAMS[args.model][name]
        print(f"{args.model} {name}: {count:,} trainable parameters (Keras {expected:,})")
    assert params == EXPECTED_PARAMS[args.model], f"parameter counts {params} != Keras' {EXPECTED_PARAMS[args.model]}"

    for _ in range(args.warmup):
        step()
    steps = args.steps
    if steps is None:  # as many steps as take --seconds, judged from a second warm-up round
        start = time.perf_counter()
        for _ in range(args.warmup):
            step()
        steps = max(args.warmup, int(args.seconds / ((time.perf_counter() - start) / args.warmup)))
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append(time.perf_counter() - start)
    gflops, size = matmul_gflops(seconds=args.matmul_seconds)

    result = {
        "framework": f"pytorch {torch.__version__}",
        "model": args.model,
        "threads": torch.get_num_threads(),
        "batch_size": batch,
        "steps_timed": steps,
        "images_per_sec": steps * batch / statistics.median(times),  # generator-batch images, as train_speed.py
        "images_per_sec_min": steps * batch / max(times),
        "images_per_sec_max": steps * batch / min(times),
        "params": params,
        "matmul_gflops": gflops,
        "matmul_size": size,
        "tutorial_loop": args.tutorial_loop,
    }
    print(f"pytorch {args.model} batch {batch}: {result['images_per_sec']:.1f} img/s (min "
          f"{result['images_per_sec_min']:.1f}, max {result['images_per_sec_max']:.1f}) over {steps} steps, "
          f"{result['threads']} threads")
    print(f"pytorch fp32 matmul: {gflops:.1f} GFLOP/s (best at {size}x{size})")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
