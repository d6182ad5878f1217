"""``python -m keras_gen COMMAND ...``: the ``keras-gen`` command without the console script."""

from keras_gen.cli import main

raise SystemExit(main())
