"""Running a WSGI app of :mod:`keras_gen.serving` (the REST API, the explorer): the listening
socket, loopback checks, a werkzeug server with a fixed pool of request threads that stops on
SIGTERM or Ctrl-C.

It is a development server: production serving is TF Serving (see the README).
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from keras_gen.utils.errors import UserError

DEFAULT_PORT = 8501
DEFAULT_HOST = "127.0.0.1"
# Requests handled at once; more wait in the listening socket's queue. As many as the load benchmark's
# largest client count, so request batching can join that many concurrent requests.
REQUEST_THREADS = 32


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one); a UserError when it cannot be."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise UserError(f"cannot listen on {host}:{port}: unknown host ({err.strerror}); pass --host "
                        "127.0.0.1") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as err:
        sock.close()
        hint = "stop the other server or pass --port N (0 picks a free port)" \
            if err.errno in (98, 48) else "pass another --host or --port"
        raise UserError(f"cannot listen on {host}:{port}: {err.strerror or err}; {hint}") from None
    return sock


class _RequestHandler(WSGIRequestHandler):
    verbose = False

    def log_request(self, code="-", size="-"):
        if self.verbose:
            super().log_request(code, size)


class _PooledWSGIServer(ThreadedWSGIServer):
    """werkzeug's threaded server, its requests handled by a fixed pool of threads instead of a new
    thread each. werkzeug's server closes every connection after its response (it has no keep-alive),
    so a thread per connection is a thread per request, and TensorFlow keeps a little state for
    every thread that calls it: the server grew by about 0.3 KB a request, 27 MB over 100,000
    (``benchmarks/serve_load.py --requests 100000``); with the pool it stays flat."""

    def __init__(self, *args, threads: int = REQUEST_THREADS, **kwargs):
        self._pool = None  # werkzeug's __init__ closes its own socket when given a file descriptor
        super().__init__(*args, **kwargs)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="keras-gen-request")

    def process_request(self, request, client_address):
        self._pool.submit(self.process_request_thread, request, client_address)

    def server_close(self):
        super().server_close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def url_of(host: str, port: int) -> str:
    shown = host if host not in ("0.0.0.0", "::") else "127.0.0.1"
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def run(app, sock: socket.socket, *, verbose: bool = False) -> None:
    """Serve ``app`` on the listening ``sock`` (from :func:`listen`) until Ctrl-C or SIGTERM."""
    handler = type("RequestHandler", (_RequestHandler,), {"verbose": verbose})
    host, port = sock.getsockname()[:2]
    server = _PooledWSGIServer(host, port, app, handler, fd=sock.fileno())
    sock.close()  # the server holds its own duplicate

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop) if threading.current_thread() is threading.main_thread() else None
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
