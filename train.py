#!/usr/bin/env python
"""Train a GAN or VAE from the zoo: ``python train.py --model vae_conv --dataset mnist``.

Kept short on purpose: argument parsing lives in keras_gen.cli.train, the run in keras_gen.training.
"""

import sys

from keras_gen.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
