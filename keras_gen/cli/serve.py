"""``keras-gen serve``: TF Serving's REST API over an export root, for local use and tests."""

from __future__ import annotations

from keras_gen.cli.args import OneLineParser, positive_int, running
from keras_gen.serving import DEFAULT_MAX_BATCH
from keras_gen.utils.errors import UserError, exit_on_user_error

DEFAULT_ROOT = "saved_models"


def port_number(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0..65535 (0: a free port), got {text!r}")
    return value


def add_server_arguments(p: OneLineParser) -> None:
    p.add_argument("--port", type=port_number, default=8501,
                   help="port (8501, TF Serving's REST port; 0 picks a free one and prints it)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (127.0.0.1: this machine only; the server has no authentication)")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a Host header to answer besides localhost (repeatable): the name a reverse proxy or a "
                        "container's port mapping forwards")
    p.add_argument("--verbose", action="store_true", help="log every request on stderr")


def allowed_hosts(host: str, extra=()):
    """Host headers the server answers: a loopback-bound one, loopback names and ``extra`` (no DNS
    rebinding from a web page); one bound elsewhere, any (None) unless ``extra`` names them."""
    from keras_gen.serving.server import LOOPBACK_HOSTS, is_loopback

    names = {name.lower().strip() for name in extra if name.strip()}
    if not is_loopback(host) and not names:
        return None
    return set(LOOPBACK_HOSTS) | names


def batching_options(args):
    """The batching settings the flags ask for (flags over the file over the defaults), or None."""
    from keras_gen.serving.batching import FIELDS, BatchingOptions, read_batching_parameters

    flags = {name: getattr(args, name) for name in FIELDS}
    if args.batching_parameters_file:
        return read_batching_parameters(args.batching_parameters_file, **flags)
    if not args.enable_batching:
        if any(v is not None for v in flags.values()):
            raise UserError("the batching flags apply with --enable-batching (or --batching-parameters-file); add it")
        return None
    return BatchingOptions(**{k: v for k, v in flags.items() if v is not None})


def main(argv=None, prog: str = "keras-gen serve") -> int:
    p = OneLineParser(prog=prog, description=(
        "Serve the exports under an export root with TF Serving's REST API (status, metadata, predict) "
        "for local use, tests and keras-gen explore; production serving is TF Serving itself."))
    p.add_argument("root", metavar="ROOT", nargs="?", default=DEFAULT_ROOT,
                   help="export root holding <model>_<dataset>/<version>/ (default saved_models)")
    add_server_arguments(p)
    p.add_argument("--max-batch", type=positive_int, default=DEFAULT_MAX_BATCH,
                   help=f"examples per request when the export's keras_gen.json sets no max_batch "
                        f"({DEFAULT_MAX_BATCH})")
    p.add_argument("--no-preload", action="store_true",
                   help="load each version on its first request instead of at start-up")
    batching = p.add_argument_group("request batching (TF Serving's --enable_batching)")
    batching.add_argument("--enable-batching", action="store_true",
                          help="run concurrent requests to one signature as one call; each gets its own rows")
    batching.add_argument("--batching-parameters-file", metavar="FILE",
                          help="TF Serving's text format: max_batch_size { value: 32 } ... (implies --enable-batching)")
    for name, default, what in (("max-batch-size", 32, "rows per batched call"),
                                ("batch-timeout-micros", 2000, "how long a request waits for others, in microseconds"),
                                ("num-batch-threads", 2, "batched calls at once"),
                                ("max-enqueued-batches", 100, "batches' worth of requests queued before refusing")):
        batching.add_argument(f"--{name}", type=int, metavar="N", help=f"{what} (default {default})")
    p.add_argument("--grpc-port", type=port_number, metavar="PORT",
                   help="also serve TF Serving's gRPC API (PredictionService, ModelService) on PORT (TF Serving's "
                        "is 8500; 0 picks a free one and prints it)")
    args = p.parse_args(argv)
    # The root and the port are checked before TensorFlow is imported: a wrong path or a busy port
    # is one line within a second, and the port is held while the models load.
    with exit_on_user_error(prog):
        from keras_gen.serving.repository import check_export_root
        from keras_gen.serving.server import listen

        root = check_export_root(args.root)
        batching = batching_options(args)
        sock = listen(args.host, args.port)
    with running(prog):
        import sys

        from keras_gen.serving.rest import create_app
        from keras_gen.serving.server import is_loopback, run, url_of

        grpc_server = None
        try:
            app = create_app([root], max_batch=args.max_batch, batching=batching,
                             allowed_hosts=allowed_hosts(args.host, args.allowed_host))
            if not args.no_preload:
                app.repository.preload(log=lambda m: print(m, file=sys.stderr, flush=True))
            url = url_of(args.host, sock.getsockname()[1])
            names = app.repository.names()
            if not is_loopback(args.host):
                print(f"warning: listening on {args.host}: anyone who can reach this machine can use the "
                      "server (it has no authentication)", file=sys.stderr, flush=True)
            if args.grpc_port is not None:
                from keras_gen.serving.grpc_service import start_grpc_server

                try:
                    grpc_server, grpc_port = start_grpc_server(app.repository, args.host, args.grpc_port,
                                                               batcher=app.batcher)
                except (OSError, RuntimeError) as err:
                    raise UserError(f"cannot serve gRPC on {args.host}:{args.grpc_port} ({err}); pick another "
                                    "--grpc-port (0: a free one)") from None
                print(f"gRPC: {args.host}:{grpc_port} (TF Serving's PredictionService and ModelService)", flush=True)
            print(f"serving {len(names)} model(s) from {root} at {url}/v1/models/<name> "
                  f"({', '.join(names)}); Ctrl-C stops", flush=True)
            run(app, sock, verbose=args.verbose)
        finally:
            sock.close()
            if grpc_server is not None:
                grpc_server.stop(0)
    return 0
