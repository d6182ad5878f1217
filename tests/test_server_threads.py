"""The REST and explorer server (waitress): kept-alive connections, a fixed pool of request threads.

werkzeug's development server, used before, closed every connection after its response, so a
thread per connection was a thread per request, and each new thread that called TensorFlow kept
some state: the REST server grew 3 MB per 10,000 requests (README, the memory check of
``benchmarks/serve_load.py``). A plain WSGI app stands in for the REST app here: what is checked is
which connections and threads answer."""

from __future__ import annotations

import http.client
import threading

from keras_gen.serving.server import REQUEST_THREADS, listen, make_server, stop_server


def serve(app, **kwargs):
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = make_server(app, sock, **kwargs)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def stop():
        stop_server(server, thread)
        assert not thread.is_alive()
        sock.close()

    return port, stop


def test_one_connection_carries_many_requests_answered_by_a_fixed_pool():
    answered_by, peers = [], set()

    def app(environ, start_response):
        answered_by.append(threading.current_thread().name)
        peers.add(environ["REMOTE_PORT"])
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    port, stop = serve(app)
    try:
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(2 * REQUEST_THREADS)]
        for _ in range(3):  # each connection is used three times
            for connection in connections:
                connection.request("GET", "/")
                reply = connection.getresponse()
                assert (reply.status, reply.read()) == (200, b"ok")
                assert reply.getheader("Connection", "").lower() != "close"
        for connection in connections:
            connection.close()
    finally:
        stop()
    assert len(answered_by) == 3 * 2 * REQUEST_THREADS
    assert len(peers) == 2 * REQUEST_THREADS  # kept alive: one client port per connection, not per request
    # A fixed pool: at most its size, however many connections and requests came.
    assert len(set(answered_by)) <= REQUEST_THREADS


def test_verbose_logs_one_line_per_request(capfd):
    def app(environ, start_response):
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return [b"gone"]

    port, stop = serve(app, verbose=True)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/v1/models/x?y=1")
        assert connection.getresponse().status == 404
        connection.close()
    finally:
        stop()
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert lines == ['127.0.0.1 "GET /v1/models/x?y=1" 404 4'], lines


def test_stopping_ends_the_serving_thread_while_a_client_keeps_its_connection_open():
    """``stop_server(server, thread)`` has the server's own loop close every socket, kept-alive
    connections included, so the loop ends. Sockets closed from another thread under the loop's
    ``select()`` killed it with EBADF now and then, and a kept-alive connection kept it running."""
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    port, stop = serve(app)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/")
    assert connection.getresponse().read() == b"ok"
    stop()  # asserts the thread ended
    try:
        connection.request("GET", "/")
        reply = connection.getresponse()
        answered = reply.read()
    except (ConnectionError, http.client.HTTPException, OSError):
        answered = None
    connection.close()
    assert answered is None  # the server closed its end
