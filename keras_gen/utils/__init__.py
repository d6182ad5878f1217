"""Helpers with no TensorFlow in them: user errors, atomic files, images, native output."""
