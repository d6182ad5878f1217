"""Helpers the rest of the package builds on: user errors, atomic files, images, progress, native
output; and the seeded noise tables of exports (``seeded``, the one module here that needs
TensorFlow: importing ``keras_gen.utils`` itself imports none)."""
