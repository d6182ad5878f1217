"""``keras-gen explore``: the latent explorer page over TF Serving's REST API, in a browser."""

from __future__ import annotations

from keras_gen.cli.args import OneLineParser, positive_int, running
from keras_gen.cli.serve import DEFAULT_ROOT, add_server_arguments, allowed_hosts
from keras_gen.serving import DEFAULT_MAX_BATCH
from keras_gen.utils.errors import UserError, exit_on_user_error


def main(argv=None, prog: str = "keras-gen explore") -> int:
    p = OneLineParser(prog=prog, description=(
        "Explore exports in a browser: latent sliders, traversals and sensitivity for GANs, the test set's "
        "latent map for VAEs, interpolation for both. Serves the page and TF Serving's REST API from one port."))
    p.add_argument("paths", metavar="PATH", nargs="*",
                   help="export roots or exports (saved_models/<model>_<dataset>[/<version>]); default saved_models")
    add_server_arguments(p)
    p.add_argument("--no-browser", action="store_true", help="print the URL but do not open a browser")
    p.add_argument("--serving-url", metavar="URL",
                   help="forward the page's predict calls to this TF Serving (e.g. http://localhost:8501) "
                        "instead of loading the exports here; the model list still comes from PATH")
    p.add_argument("--max-batch", type=positive_int, default=DEFAULT_MAX_BATCH,
                   help=f"examples per request when the export's keras_gen.json sets no max_batch "
                        f"({DEFAULT_MAX_BATCH})")
    args = p.parse_args(argv)
    if args.serving_url and not args.serving_url.startswith(("http://", "https://")):
        p.error(f"--serving-url must be an http:// or https:// URL, got {args.serving_url!r}")
    # The paths and the port are checked before TensorFlow is imported (see keras-gen serve).
    with exit_on_user_error(prog):
        from pathlib import Path

        from keras_gen.serving.repository import check_export_root, source_kind
        from keras_gen.serving.server import listen

        sources = []
        for text in args.paths or [DEFAULT_ROOT]:
            path = Path(text).expanduser()
            if not path.is_dir():
                raise UserError(f"{path} is not a directory; pass an export root (saved_models) or an export "
                                "(saved_models/<model>_<dataset>[/<version>])")
            sources.append(check_export_root(path) if source_kind(path) == "root" else path)
        sock = listen(args.host, args.port)
    with running(prog):
        import sys
        import threading
        import webbrowser

        from keras_gen.serving.explorer_app import create_explorer_app
        from keras_gen.serving.server import is_loopback, run, url_of

        loader, stopping = None, threading.Event()
        try:
            app = create_explorer_app(sources, serving_url=args.serving_url, max_batch=args.max_batch,
                                      allowed_hosts=allowed_hosts(args.host, args.allowed_host))
            if not args.serving_url:  # load in the background: the page answers at once
                loader = threading.Thread(target=app.repository.preload, kwargs={"stop": stopping}, name="preload")
                loader.start()
            url = url_of(args.host, sock.getsockname()[1]) + "/"
            names = app.repository.names()
            if not is_loopback(args.host):
                print(f"warning: listening on {args.host}: anyone who can reach this machine can use the "
                      "explorer (it has no authentication)", file=sys.stderr, flush=True)
            where = f"; predictions from {args.serving_url}" if args.serving_url else ""
            print(f"explorer: {url} ({len(names)} model(s): {', '.join(names)}{where}); Ctrl-C stops", flush=True)
            if not args.no_browser:
                threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
            run(app, sock, verbose=args.verbose)
        finally:
            stopping.set()
            if loader is not None:  # a process that exits while a thread is inside TensorFlow's loader aborts
                loader.join()
            sock.close()
    return 0
