"""Training: a run from a frozen config to a run directory and an export.

``build`` (model, optimizers, strategy) and ``resume`` (which run, what may change) feed ``run``,
whose :func:`~keras_gen.training.run.train` reads top-down as named phases; ``callbacks`` write the
run directory (:mod:`keras_gen.rundir`) while ``fit`` runs.
"""
