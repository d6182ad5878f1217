"""The run directory ``train.py`` writes, read back by training (resume), export and evaluation.

Layout::

    config.json             the resolved RunConfig with the package version
    history.csv             one row per epoch (numbered from 1): losses, epoch_seconds, images_per_sec
    loss_curves.png         history.csv drawn
    samples/epoch_NNNN.png  a fixed-seed sample grid per epoch (and samples/latest.png)
    checkpoints/            epoch-NNNN.keras (+ .json) written atomically, latest.json, best.json
    tensorboard/            TensorBoard logs (scalars and sample grids)
"""

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.csv"
CHECKPOINTS_DIR = "checkpoints"
