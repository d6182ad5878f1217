"""The REST and explorer server's request threads: a fixed pool, not a thread per request.

werkzeug's server closes every connection after its response, so a thread per connection was a
thread per request, and each new thread that called TensorFlow kept some state: the REST server
grew 3 MB per 10,000 requests (README, the memory check of ``benchmarks/serve_load.py``). A plain
WSGI app stands in for the REST app here: what is checked is which threads answer."""

from __future__ import annotations

import http.client
import threading

from keras_gen.serving.server import REQUEST_THREADS, _PooledWSGIServer, _RequestHandler, listen


def test_requests_are_answered_by_a_fixed_pool_of_threads():
    answered_by = []

    def app(environ, start_response):
        answered_by.append(threading.current_thread().name)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    sock = listen("127.0.0.1", 0)
    host, port = sock.getsockname()[:2]
    server = _PooledWSGIServer(host, port, app, _RequestHandler, fd=sock.fileno())
    sock.close()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        requests = 3 * REQUEST_THREADS
        for _ in range(requests):
            connection = http.client.HTTPConnection(host, port, timeout=30)
            connection.request("GET", "/")
            reply = connection.getresponse()
            assert (reply.status, reply.read()) == (200, b"ok")
            assert reply.getheader("Connection") == "close"  # werkzeug's: a new connection per request
            connection.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)
    assert len(answered_by) == requests
    assert all(name.startswith("keras-gen-request") for name in answered_by), set(answered_by)
    # Threads are reused: at most the pool's size, however many connections came.
    assert len(set(answered_by)) <= REQUEST_THREADS
