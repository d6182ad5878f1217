#!/usr/bin/env python
"""The PyTorch baseline of issue 7: the report's ``dcgan`` written the way a PyTorch user would,
timed the way ``benchmarks/train_speed.py`` times ours (images/s of full training steps on a fixed
synthetic batch, steady state after warm-up, median of repeats).

    pip install torch --index-url https://download.pytorch.org/whl/cpu   # not a keras_gen dependency
    python benchmarks/pytorch_dcgan.py --batch-size 128

Architecture as ``models_zoo/dcgan.py`` (Junnuthula §3.1.2): the TF tutorial generator (Linear
100 -> 7*7*256 without bias, BatchNorm, LeakyReLU(0.3); ConvTranspose 5x5 to 128 (stride 1), 64 and
1 channels (stride 2), tanh) and the 4-conv discriminator (5x5 stride 2 to 64, 128, 256, 512,
LeakyReLU(0.3), Dropout(0.3), Linear to a logit). TensorFlow's "same" padding is reproduced
exactly (it pads one more row and column at the bottom and right when the total is odd), so both
frameworks compute the same shapes and FLOPs. The loop is PyTorch's DCGAN tutorial: a
discriminator step on a real and a detached fake batch, then a generator step through the updated
discriminator on the same fake batch, BCE-with-logits and Adam(1e-4) for both networks.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F


def same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv(nn.Module):
    def __init__(self, cin: int, cout: int, size: int):
        super().__init__()
        self.pad = same_pad(size, 5, 2)
        self.conv = nn.Conv2d(cin, cout, 5, stride=2)

    def forward(self, x):
        top, bottom = self.pad
        return self.conv(F.pad(x, (top, bottom, top, bottom)))


def generator(latent: int = 100) -> nn.Module:
    return nn.Sequential(
        nn.Linear(latent, 7 * 7 * 256, bias=False), nn.BatchNorm1d(7 * 7 * 256), nn.LeakyReLU(0.3),
        nn.Unflatten(1, (256, 7, 7)),
        nn.ConvTranspose2d(256, 128, 5, stride=1, padding=2, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.3),
        # TF "same" for stride 2: output 2H; PyTorch: padding 2 and output_padding 1.
        nn.ConvTranspose2d(128, 64, 5, stride=2, padding=2, output_padding=1, bias=False), nn.BatchNorm2d(64),
        nn.LeakyReLU(0.3),
        nn.ConvTranspose2d(64, 1, 5, stride=2, padding=2, output_padding=1, bias=False), nn.Tanh(),
    )


def discriminator() -> nn.Module:
    layers, cin, size = [], 1, 28
    for cout in (64, 128, 256, 512):  # feature maps 14, 7, 4, 2
        layers += [SameConv(cin, cout, size), nn.LeakyReLU(0.3), nn.Dropout(0.3)]
        cin, size = cout, -(-size // 2)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512 * 2 * 2, 1))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: PyTorch's choice)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    g, d = generator(), discriminator()
    g_opt, d_opt = torch.optim.Adam(g.parameters(), 1e-4), torch.optim.Adam(d.parameters(), 1e-4)
    bce = nn.BCEWithLogitsLoss()
    b = args.batch_size
    real = torch.rand(b, 1, 28, 28) * 2 - 1
    ones, zeros = torch.ones(b, 1), torch.zeros(b, 1)

    def step():
        fake = g(torch.randn(b, 100))
        d_opt.zero_grad(set_to_none=True)
        d_loss = bce(d(real), ones) + bce(d(fake.detach()), zeros)
        d_loss.backward()
        d_opt.step()
        g_opt.zero_grad(set_to_none=True)
        g_loss = bce(d(fake), ones)
        g_loss.backward()
        g_opt.step()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        times.append(time.perf_counter() - start)
    result = {"framework": f"pytorch {torch.__version__}", "threads": torch.get_num_threads(), "batch_size": b,
              "images_per_sec": args.steps * b / statistics.median(times),
              "images_per_sec_min": args.steps * b / max(times), "images_per_sec_max": args.steps * b / min(times)}
    print(f"pytorch dcgan batch {b}: {result['images_per_sec']:.1f} img/s (min {result['images_per_sec_min']:.1f}, "
          f"max {result['images_per_sec_max']:.1f}), {result['threads']} threads")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
