"""Running a WSGI app of :mod:`keras_gen.serving` (the REST API, the explorer): the listening
socket, loopback checks, and waitress (Pylons' pure-Python WSGI server) with a fixed pool of request
threads and HTTP/1.1 keep-alive, stopping on SIGTERM or Ctrl-C.

Why waitress and not werkzeug's development server (which keras_gen used before): werkzeug's closes
every connection after its response, so each request cost a new TCP connection and, with a thread
per connection, a new thread; TensorFlow keeps a little state for every thread that calls it, and
the REST server grew 3 MB per 10,000 requests (``benchmarks/serve_load.py --requests 100000``).
waitress keeps connections open and answers from ``REQUEST_THREADS`` threads, whatever the number
of connections.

It is still a development server: production serving is TF Serving (see the README).
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import sys
import threading

from keras_gen.utils.errors import UserError

DEFAULT_PORT = 8501
DEFAULT_HOST = "127.0.0.1"
# Requests handled at once; more wait, queued, on their connections. As many as the load benchmark's
# largest client count, so request batching can join that many concurrent requests.
REQUEST_THREADS = 32
# Open connections at once (waitress' default is 100); more wait in the listening socket's queue.
CONNECTION_LIMIT = 256
# An idle kept-alive connection is closed after this many seconds (waitress' default, 120).
IDLE_SECONDS = 120


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


def _logged(app):
    """``app`` that writes one line per request on stderr: client, method, path, status, bytes."""

    def logging_app(environ, start_response):
        seen = {}

        def start(status, headers, exc_info=None):
            seen["status"] = status.split(" ", 1)[0]
            seen["bytes"] = next((v for k, v in headers if k.lower() == "content-length"), "-")
            return start_response(status, headers, exc_info)

        try:
            return app(environ, start)
        finally:
            path = environ.get("PATH_INFO", "") + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
            print(f'{environ.get("REMOTE_ADDR", "-")} "{environ.get("REQUEST_METHOD")} {path}" '
                  f'{seen.get("status", "-")} {seen.get("bytes", "-")}', file=sys.stderr, flush=True)

    return logging_app


def make_server(app, sock: socket.socket, *, verbose: bool = False, threads: int = REQUEST_THREADS):
    """A waitress server for ``app`` on the listening ``sock`` (from :func:`listen`), not yet running:
    ``.run()`` serves until KeyboardInterrupt; :func:`stop_server` stops it."""
    from waitress.server import create_server

    # waitress warns on its logger when requests queue for a thread ("Task queue depth is N"): under
    # load that is expected of a fixed pool, not a fault; errors still reach stderr.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    return create_server(_logged(app) if verbose else app, sockets=[sock], threads=threads, ident="keras-gen",
                         connection_limit=CONNECTION_LIMIT, channel_timeout=IDLE_SECONDS)


def stop_server(server, thread: threading.Thread | None = None) -> None:
    """Stop a :func:`make_server` server: its request threads (queued requests dropped), then its sockets.

    ``thread``: the thread still running ``server.run()``, if any. Its own loop then closes every socket
    (one closed from here under the loop's ``select()`` fails it with EBADF, killing the thread; 8 in
    300 stops did), which empties the loop's map and so ends it, and the thread is joined."""
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
    if thread is not None and thread.is_alive():
        from waitress import wasyncore

        try:
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        except OSError:  # the loop ended meanwhile and closed its trigger
            pass
        thread.join(timeout=30)
    server.close()


def url_of(host: str, port: int) -> str:
    shown = host if host not in ("0.0.0.0", "::") else "127.0.0.1"
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def run(app, sock: socket.socket, *, verbose: bool = False) -> None:
    """Serve ``app`` on the listening ``sock`` (from :func:`listen`) until Ctrl-C or SIGTERM."""
    server = make_server(app, sock, verbose=verbose)

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop) if threading.current_thread() is threading.main_thread() else None
    try:
        server.run()  # returns on KeyboardInterrupt, its request threads stopped
    finally:
        stop_server(server)
        sock.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
