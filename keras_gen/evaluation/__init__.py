"""Evaluation: how good a trained model is, and how models compare.

``metrics`` (pure functions on features and images) and ``extractors`` (images -> features: the
dataset's domain classifier, InceptionV3) feed ``evaluate`` (one model, ``keras-gen evaluate``),
which ``compare`` runs per model to write a report (``keras-gen compare``). ``settings`` holds
what is measured and with which settings, without TensorFlow, for the command line.
Add a metric as a pure function in ``metrics`` and a :class:`~keras_gen.evaluation.settings.MetricSpec`.
"""
