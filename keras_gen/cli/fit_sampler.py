"""``keras-gen fit-sampler RUN_DIR``: fit a VAE run's ex-post latent sampler and export it."""

from __future__ import annotations

from keras_gen.cli.args import OneLineParser, add_publish_arguments, positive_int, running
from keras_gen.utils.mixture import COVARIANCES


def main(argv=None, prog: str = "keras-gen fit-sampler") -> int:
    p = OneLineParser(prog=prog, description="Fit a mixture of Gaussians to a VAE run's codes of its training images "
                                             "(its aggregate posterior) and export the model sampling from it.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a VAE run directory written by train.py")
    p.add_argument("--components", type=positive_int, default=10, help="mixture components (10)")
    p.add_argument("--covariance", choices=COVARIANCES, default="full",
                   help="full covariances (the default, as Ghosh et al. 2020) or diagonal ones")
    p.add_argument("--checkpoint", default="latest", help="latest (default), best or an epoch number")
    p.add_argument("--export-dir", help="export root (default: the run's, usually saved_models)")
    p.add_argument("--no-export", dest="export", action="store_false",
                   help="only write <run>/latent_sampler.keras (keras-gen export takes it later)")
    add_publish_arguments(p)
    args = p.parse_args(argv)
    with running(prog):
        from keras_gen.training.latent_sampler import fit_run_sampler

        fit_run_sampler(args.run_dir, components=args.components, covariance=args.covariance,
                        checkpoint=args.checkpoint, export=args.export, export_dir=args.export_dir,
                        publish=args.publish or "auto")
    return 0
