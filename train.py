#!/usr/bin/env python
"""Train a GAN or VAE from the zoo: ``python train.py --model vae_conv --dataset mnist``.

Kept short on purpose: argument parsing lives in keras_gen.cli, the run in keras_gen.training.
"""

import sys

from keras_gen.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main())
