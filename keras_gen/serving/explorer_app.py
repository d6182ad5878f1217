"""The latent explorer: a page (``keras_gen/serving/explorer/``, plain HTML/JS/CSS, no build step,
no CDN) served beside TF Serving's REST API (:mod:`keras_gen.serving.rest`) from one origin.

Routes, besides the REST API's:

* ``GET /`` the page, ``GET /explorer/<file>`` its script and style sheet;
* ``GET /v1/keras_gen/config``: ``{"serving_url": ...}`` (where predict calls are forwarded, or null);
* ``GET /v1/keras_gen/models/<name>/testset?n=N[&version=V]``: a fixed sample of the model's
  dataset's test split (the first ``N`` images, fitted to the model's image shape), for the VAE
  map: ``{"dataset", "split", "count", "shape": [N, H, W, C], "labels": [...], "pixels": base64 of
  the uint8 pixels in that shape, "source" (its path), "source_name" (that path relative to the
  working directory, as the page shows it)}``. 404 with ``{"error"}`` when the dataset is not on this
  machine (it is never downloaded for this).

With ``serving_url`` (``keras-gen explore --serving-url http://host:8501``) the page's
``/v1/models/...`` calls are forwarded to that TF Serving instance (the page stays same-origin, so
TF Serving needs no CORS); the model list still comes from the local export root's ``keras_gen.json``
files, so the root must hold the exports that server serves under the same names.

This module may import :mod:`keras_gen.datasets` (for the test sample); the REST server does not.
"""

from __future__ import annotations

import base64
import inspect
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from werkzeug.routing import Map, Rule
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Request, Response

from keras_gen.serving import DEFAULT_MAX_BATCH
from keras_gen.serving.repository import ApiError, ModelRepository
from keras_gen.serving.rest import RestApp, error_response, json_response
from keras_gen.utils.errors import UserError
from keras_gen.utils.fileio import display_path

STATIC_DIR = Path(__file__).resolve().parent / "explorer"
MAX_TEST_SAMPLE = 2000
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
                           "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def default_test_sample_size(image_shape) -> int:
    h, w, c = image_shape
    return 1000 if h * w * c <= 32 * 32 * 3 else 300


def load_test_sample(meta: dict, n: int) -> dict:
    """The first ``n`` images of the test split of the export's dataset, fitted to its image shape."""
    from keras_gen.datasets import find_source, prepare_image

    dataset = meta.get("dataset")
    shape = tuple(int(d) for d in meta.get("image_shape") or ())
    if not dataset or len(shape) != 3:
        raise ApiError(404, "the export's keras_gen.json names no dataset or image shape")
    data_dir = meta.get("data_dir")
    if data_dir and not Path(data_dir).is_dir():
        data_dir = None
    options = meta.get("dataset_options") if isinstance(meta.get("dataset_options"), dict) else {}
    # Never download for a page: the keyword is ``download`` (default off) in this package's
    # registry, ``allow_download`` (default on) in keras_gen 0.1's.
    params = inspect.signature(find_source).parameters
    no_download = {k: False for k in ("download", "allow_download") if k in params}
    try:
        source = find_source(dataset, data_dir, options=options, **no_download)
        ds = source.load("test").take(n)
        images, labels = [], []
        for image, label in ds.as_numpy_iterator():
            images.append(prepare_image(image, image_shape=shape).numpy()
                          if tuple(image.shape) != shape else image)
            labels.append(int(label))
    except UserError as err:
        raise ApiError(404, f"no test images for {dataset}: {err}") from None
    except Exception as err:  # a dataset without a test split, unreadable files
        raise ApiError(404, f"no test images for {dataset}: {type(err).__name__}: "
                            f"{(str(err).strip().splitlines() or [''])[0][:200]}") from None
    if not images:
        raise ApiError(404, f"the test split of {dataset} is empty")
    pixels = np.stack(images).astype(np.uint8)
    return {"dataset": dataset, "split": "test", "count": len(images), "shape": list(pixels.shape),
            "labels": labels, "pixels": base64.b64encode(pixels.tobytes()).decode("ascii"),
            "source": source.location, "source_name": display_path(source.location)}


class ExplorerApp:
    """The WSGI app of ``keras-gen explore``: the page, its extra endpoints, and the REST API (local,
    or forwarded to ``serving_url``)."""

    def __init__(self, rest: RestApp, *, serving_url: str | None = None):
        self.rest = rest
        self.serving_url = serving_url.rstrip("/") if serving_url else None
        self._samples: dict = {}
        self._samples_lock = threading.Lock()
        self.url_map = Map([
            Rule("/", endpoint="page", methods=["GET"]),
            Rule("/index.html", endpoint="page", methods=["GET"]),
            Rule("/explorer/<path:filename>", endpoint="static", methods=["GET"]),
            Rule("/v1/keras_gen/config", endpoint="config", methods=["GET"]),
            Rule("/v1/keras_gen/models/<name>/testset", endpoint="testset", methods=["GET"]),
        ], strict_slashes=False)

    @property
    def repository(self) -> ModelRepository:
        return self.rest.repository

    def __call__(self, environ, start_response):
        request = Request(environ)
        return self.handle(request)(environ, start_response)

    def handle(self, request: Request) -> Response:
        if not self.rest.host_allowed(request):
            return self.rest.handle(request)  # the REST app answers 403
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except Exception:  # not one of ours: the REST API answers it (400 for a URL none of its forms takes)
            if self.serving_url and request.path.startswith("/v1/models/"):
                return self.forward(request)
            return self.rest.handle(request)
        try:
            return getattr(self, f"on_{endpoint}")(request, **args)
        except ApiError as err:
            return error_response(err.status, str(err))
        except Exception as err:
            self.rest.log(f"internal error on {request.method} {request.path}: {type(err).__name__}: {err}")
            return error_response(500, f"internal error: {type(err).__name__}: {err}")

    # -- the page
    def on_page(self, request):
        response = send_from_directory(STATIC_DIR, "index.html", request.environ)
        return self._static_headers(response)

    def on_static(self, request, filename):
        response = send_from_directory(STATIC_DIR, filename, request.environ)
        return self._static_headers(response)

    @staticmethod
    def _static_headers(response):
        response.headers["Cache-Control"] = "no-cache"
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    def on_config(self, request):
        return json_response({"serving_url": self.serving_url,
                              "default_max_batch": self.repository.default_max_batch})

    # -- test images
    def on_testset(self, request, name):
        self.repository.refresh()
        version = request.args.get("version")
        try:
            version = int(version) if version else None
        except ValueError:
            raise ApiError(400, f"version must be a number, got {version!r}") from None
        entry = self.repository.get(name, version)
        if not entry.keras_gen:
            raise ApiError(404, f"model {name!r} has no keras_gen.json, so its dataset is unknown")
        shape = entry.keras_gen.get("image_shape") or (28, 28, 1)
        try:
            n = int(request.args.get("n") or default_test_sample_size(shape))
        except ValueError:
            raise ApiError(400, "n must be a number of images") from None
        if not 1 <= n <= MAX_TEST_SAMPLE:
            raise ApiError(400, f"n must be 1..{MAX_TEST_SAMPLE}, got {n}")
        meta = entry.keras_gen
        key = (meta.get("dataset"), meta.get("data_dir"), json.dumps(meta.get("dataset_options"), sort_keys=True),
               tuple(shape), n)
        with self._samples_lock:
            if key not in self._samples:
                self._samples[key] = load_test_sample(meta, n)
            sample = self._samples[key]
        return json_response(sample)

    # -- a real TF Serving behind the page
    def forward(self, request: Request) -> Response:
        url = self.serving_url + request.full_path.rstrip("?")
        body = request.get_data() if request.method == "POST" else None
        forwarded = urllib.request.Request(url, data=body, method=request.method,
                                           headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(forwarded, timeout=120) as reply:
                return Response(reply.read(), status=reply.status, mimetype="application/json")
        except urllib.error.HTTPError as err:
            return Response(err.read(), status=err.code, mimetype="application/json")
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            return error_response(502, f"cannot reach TF Serving at {self.serving_url}: {reason}")


def create_explorer_app(sources, *, serving_url: str | None = None, max_batch: int = DEFAULT_MAX_BATCH,
                        allowed_hosts: set[str] | None = None) -> ExplorerApp:
    """The explorer over ``sources`` (export roots, model or version directories)."""
    rest = RestApp(ModelRepository(sources, max_batch=max_batch), allowed_hosts=allowed_hosts)
    return ExplorerApp(rest, serving_url=serving_url)
