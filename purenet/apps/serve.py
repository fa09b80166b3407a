"""The draw-a-digit page and its JSON API, as an ASGI app over one loaded network.

    make_app(params, max_bytes=MAX_BYTES, workers=None) -> the ASGI app (Starlette, in ``read_before_answering``):
        GET  /              the page (purenet/apps/static/draw.html: no external script, font or CDN)
        POST /api/predict   the bytes of an image -> {"digit", "label", "classes", "sure", "score", "probabilities",
                            "image", "warnings"}
    answer(params, data)    what POST /api/predict answers, as a dict

``label`` is the class's name (``classes`` all of them, class 0 first: the digits "0".."9" for a
model of MNIST); ``sure`` is false when the model's calibration refuses the input ("not
sure": ``digit`` is then the best guess), ``score`` the calibration's score (null without one).

The answer is ``purenet predict``'s, to the bit: the image is read by
``purenet.photo.prepare.read_digit_image`` (``load_digit_image``'s decoding and steps, from bytes) and the
prepared digit goes through ``purenet.predict_image``, the step the command takes. ``image`` is the 28x28 picture the network saw,
as 28 rows of 28 grey levels (0 black, 255 ink).

Every answer is JSON, errors included (``{"error": "one line"}``): 400 for a body
that is not a readable image (or shows no digit), 413 for one over ``max_bytes``, 404
and 405 for other paths and methods, 500 for a bug, without its traceback.

An answer must reach a client that sends its whole body before reading any (most HTTP
libraries, browsers): a server that answers and closes with the body still arriving
makes the client's system report "connection reset" instead of the answer. So before
any answer (a 413, a 404 or 405 to a POST elsewhere, a 400, a 500) the rest of the
body is read and thrown away, up to ``DRAIN_BYTES`` in all (``read_before_answering``).
Only a client that waits for the server's word before sending (``Expect:
100-continue``, as curl does for large bodies), or whose Content-Length is over
``DRAIN_BYTES``, is answered at once, without the body read (the latter may then see
the connection reset: reading more for it would cost more than the answer is worth).

Decoding and the network run in worker threads, so a
slow photo does not hold up other clients, at most ``workers`` (default: one per
CPU) at a time: a decoded photo can take hundreds of megabytes, and more threads
than cores would only share them; other requests wait their turn.

starlette is an optional extra (purenet's ``serve`` extra), imported inside
``make_app``; nothing here prints or binds a socket (``purenet serve`` does both).
"""

from __future__ import annotations

import os
from importlib import resources
from typing import Sequence

from purenet.core.calibration import Calibration
from purenet.core.records import Params
from purenet.photo.prepare import ImageError, read_digit_image
from purenet.photo.recognise import predict_image

MAX_BYTES = 10 * 1024 * 1024
"""The largest body /api/predict reads: 10 MiB, more than a phone's JPEG photo (3-6 MB)
and far less than a server that reads whatever it is sent can afford."""

DRAIN_BYTES = 32 * 1024 * 1024
"""The most of a request's body the server reads, and discards, to answer a client that
sends it all before reading (a 413, say): 32 MiB, a photo three times too large."""

PAGE = "draw.html"


def answer(params: Params | Sequence[Params], data: bytes, name: str = "image", *,
           calibration: Calibration | None = None, classes: Sequence[str] | None = None) -> dict:
    """The digit in the image ``data`` (bytes of a PNG, JPEG...), as /api/predict returns it; ``params``
    may be an ensemble, a sequence of networks whose probabilities are averaged (as ``predict_image`` reads it).

    Raises ``ImageError`` (its message starting with ``name``) when the bytes are not a
    readable image or show no digit.
    """
    warned: list[str] = []
    digit = read_digit_image(data, name, warned)
    # the digit is prepared; what follows is `purenet predict`'s own step, so the answers agree to the bit
    seen = predict_image(params, digit, prepared=True, calibration=calibration, classes=classes)
    return {
        "digit": seen.digit,
        "label": seen.label,
        "classes": [seen.name(k) for k in range(len(seen.probabilities))],
        "sure": seen.sure,
        "score": seen.score,
        "probabilities": [float(p) for p in seen.probabilities],
        "image": digit.tolist(),
        "warnings": warned,
    }


def page() -> bytes:
    """The page, from the package's data (so an installed copy has it too)."""
    return resources.files("purenet.apps").joinpath("static", PAGE).read_bytes()


SECURITY_HEADERS = {
    # the page's own inline script and style, and pictures it makes itself; nothing from elsewhere
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                               "img-src data: blob:; connect-src 'self'; form-action 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def make_app(params: Params | Sequence[Params], *, max_bytes: int = MAX_BYTES, workers: int | None = None,
             drain_bytes: int = DRAIN_BYTES, calibration: Calibration | None = None, classes: Sequence[str] | None = None):
    """The ASGI app serving ``params`` (a network, or an ensemble: a sequence of them): the page at /
    and the JSON API at /api/predict; ``workers`` images prepared at once at most (default: the CPU count);
    ``calibration`` and ``classes`` as in ``answer`` (a checkpoint's)."""
    import anyio
    import anyio.to_thread
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    html = page()
    workers = workers or os.cpu_count() or 1

    def _answer(data: bytes) -> dict:
        if calibration is None and classes is None:
            return answer(params, data)  # as before names and calibration (tests replace ``answer``)
        return answer(params, data, calibration=calibration, classes=classes)

    limiter: list = []  # made on the first request: an anyio limiter belongs to the running event loop

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers={"X-Content-Type-Options": "nosniff"})

    too_large = f"the image is larger than the limit of {max_bytes} bytes"

    async def home(_request: Request) -> Response:
        return Response(html, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)

    async def predict_image(request: Request) -> Response:
        announced = request.headers.get("content-length")
        if announced is not None:
            if not announced.isdigit():
                return error(400, "Content-Length is not a number of bytes")
            if int(announced) > max_bytes:
                return error(413, too_large)  # (read_before_answering reads the body first, where it can)
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_bytes:
                    return error(413, too_large)
        except ClientDisconnect:
            return error(400, "the client went away before sending the whole image")
        if not body:
            return error(400, "no image: POST the bytes of a PNG or JPEG image as the request body")
        try:
            if not limiter:
                limiter.append(anyio.CapacityLimiter(workers))
            result = await anyio.to_thread.run_sync(_answer, bytes(body), limiter=limiter[0])
        except ImageError as problem:
            return error(400, str(problem))
        return JSONResponse(result)

    async def http_error(_request: Request, problem: HTTPException) -> Response:
        messages = {404: "not found: the page is at / and the API at POST /api/predict",
                    405: "method not allowed: POST an image to /api/predict"}
        response = error(problem.status_code, messages.get(problem.status_code, str(problem.detail)))
        if problem.headers:
            response.headers.update(problem.headers)
        return response

    async def bug(_request: Request, _problem: Exception) -> Response:
        return error(500, "internal error in purenet serve (its console says more)")

    return read_before_answering(Starlette(
        routes=[Route("/", home, methods=["GET"]), Route("/api/predict", predict_image, methods=["POST"])],
        exception_handlers={HTTPException: http_error, Exception: bug},
    ), drain_bytes)


def read_before_answering(app, drain_bytes: int = DRAIN_BYTES):
    """``app`` (ASGI), reading the rest of a request's body, and discarding it, before the answer
    starts, up to ``drain_bytes`` of body in all: a client that sends its whole body before reading
    then gets the answer, not a reset connection. A client waiting for ``Expect: 100-continue``
    has sent nothing (reading would invite it to), and a body announced over ``drain_bytes``
    would cost too much: both are answered at once."""

    async def wrapped(scope, receive, send):
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope["headers"]}
        announced = headers.get(b"content-length", b"").strip()
        waits = headers.get(b"expect", b"").strip().lower() == b"100-continue"
        has_body = (announced.isdigit() and int(announced) > 0) or b"transfer-encoding" in headers
        too_much = announced.isdigit() and int(announced) > drain_bytes
        state = {"ended": not has_body or waits or too_much, "read": 0}

        async def counting_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                state["ended"] = state["ended"] or not message.get("more_body", False)
            else:  # http.disconnect: nothing more will come
                state["ended"] = True
            return message

        async def send_after_reading(message):
            if message["type"] == "http.response.start":
                while not state["ended"] and state["read"] <= drain_bytes:
                    await counting_receive()
            await send(message)

        await app(scope, counting_receive, send_after_reading)

    return wrapped
