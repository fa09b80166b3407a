"""``purenet serve`` and its API, through a real server process and raw HTTP.

What a client may send is checked against what it gets: the answer of ``purenet
predict`` for the same file, to the bit; JSON errors (400, 404, 405, 413) for
everything else, never a traceback; a 413 that reaches clients which send their whole
body first, and is said at once to those that wait (Expect: 100-continue). The
command's own failures (no extra, no model, a port in use) are one line and exit 2
before anything listens, and Ctrl-C stops it with 130. The page itself is driven in a
browser by tests/test_browser.py.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import json
import select
import signal
import socket
import sys
import time
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest
import tomllib
from conftest import ROOT
from PIL import Image
from serving import Server, post_image, request, serving
from typer.testing import CliRunner

from purenet.apps.serve import DRAIN_BYTES, MAX_BYTES, make_app
from purenet.cli.app import app
from purenet.cli.serve import HEAD_SECONDS
from purenet.photo.prepare import load_digit_image


def photo_of(mnist_digit: np.ndarray, kind: str, size: int = 280) -> bytes:
    """An MNIST digit as a person would draw it: dark on white paper, ``size`` pixels wide."""
    picture = Image.fromarray(255 - mnist_digit).resize((size, size), Image.Resampling.BICUBIC).convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, kind, **({"quality": 90} if kind == "JPEG" else {}))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(small_model, tmp_path_factory):
    with serving(small_model, tmp_path_factory.mktemp("serve")) as running:
        yield running


@pytest.fixture(scope="module")
def samples(mnist, tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("samples")
    paths = []
    for i, kind in enumerate(["PNG", "JPEG", "PNG", "JPEG"]):
        path = folder / f"digit{i}.{kind.lower()}"
        path.write_bytes(photo_of(mnist.test.images[i].reshape(28, 28), kind, size=280 if i < 2 else 1200))
        paths.append(path)
    return paths


@pytest.mark.slow
def test_an_image_gets_the_answer_purenet_predict_gives_for_the_same_file(server, small_model, samples, isolated):
    result = CliRunner().invoke(app, ["predict", "--json", "--model", str(small_model), *map(str, samples)])
    assert result.exit_code == 0, result.output
    expected = [json.loads(line) for line in result.stdout.splitlines()]
    for path, wanted in zip(samples, expected):
        status, got = post_image(server.port, path.read_bytes(), "image/jpeg" if path.suffix == ".jpeg" else "image/png")
        assert status == 200, got
        assert got["digit"] == wanted["digit"] and got["probabilities"] == wanted["probabilities"], path.name  # to the bit
        assert got["image"] == load_digit_image(path).tolist() and got["warnings"] == []
    assert [e["digit"] for e in expected] == [7, 2, 1, 0]  # MNIST's first test digits: the answers mean something


def test_bodies_that_are_no_digit_are_a_400_with_a_json_message(server, samples):
    blank = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(blank, "PNG")
    cases = [
        (b"hello, this is not a picture", "image: not an image file (or a format Pillow cannot read)"),
        (samples[2].read_bytes()[:5000], "image: cannot decode the image"),  # a PNG cut short
        (b"", "no image: POST the bytes of a PNG or JPEG image as the request body"),
        (blank.getvalue(), "image: no digit found: the image is blank"),
    ]
    for body, message in cases:
        status, answer = post_image(server.port, body)
        assert status == 400 and answer["error"].startswith(message), answer
        assert list(answer) == ["error"] and "\n" not in answer["error"] and "Traceback" not in answer["error"]


def test_an_image_declaring_too_many_pixels_is_a_400_before_it_is_decoded(server):
    """The 164 KB PNG of 13000x13000 pixels that once took the server to 2.2 GB (test_image.py measures the memory)."""
    from corpus_cases_serve import blank_png

    status, answer = post_image(server.port, blank_png(13000, 13000))
    assert status == 400 and answer == {"error": "image: the image is 13000x13000 pixels (169 megapixels), more than "
                                                  "the 40 megapixels purenet decodes; scale it down first"}


def test_other_paths_and_methods_are_json_404_and_405(server):
    for method, path, code in [("GET", "/nowhere", 404), ("GET", "/api/predict", 405), ("POST", "/", 405),
                               ("GET", "/../../etc/passwd", 404), ("DELETE", "/api/predict", 405)]:
        status, headers, body = request(server.port, method, path)
        assert status == code and headers["content-type"] == "application/json", (method, path, status)
        assert set(json.loads(body)) == {"error"}


def test_the_page_is_self_contained(server):
    status, headers, body = request(server.port, "GET", "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    page = body.decode()
    assert "<canvas" in page and 'id="clear"' in page and 'type="file"' in page and "/api/predict" in page
    assert "pointerdown" in page and "mousedown" not in page and "touchstart" not in page  # pointer events: mouse, pen, finger
    for external in ("http://", "https://", "src=\"//", "@import", "url("):
        assert external not in page, external  # nothing fetched from elsewhere: works offline
    assert "default-src 'none'" in headers["content-security-policy"]  # and the browser is told so


def test_the_page_is_package_data():
    """An installed copy (a wheel, not this checkout) has the page: pyproject ships it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["purenet.apps"]
    shipped = [p for p in (ROOT / "purenet" / "apps" / "static").iterdir()
               if any(fnmatch(f"static/{p.name}", g) for g in patterns)]
    assert [p.name for p in shipped] == ["draw.html"]


# --- 413: said before the body is read ---------------------------------------------------------


def raw_post(port: int, head: bytes, chunks, seconds: float = 30) -> tuple[bytes, int]:
    """POST with headers ``head``, sending ``chunks`` until the server answers; (its answer, bytes sent)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as connection:
        connection.sendall(head)
        for chunk in chunks:
            if select.select([connection], [], [], 0)[0]:
                break  # the server has answered: stop sending
            try:
                connection.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        answer = b""
        deadline = time.monotonic() + seconds
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < int(_header(answer, b"content-length") or 0):
            if time.monotonic() > deadline:
                break
            try:
                data = connection.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    return answer, sent


def _header(answer: bytes, name: bytes) -> bytes | None:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


WHOLE_BODY_FIRST = {
    "413-just-over": ("POST", "/api/predict", MAX_BYTES + 1, 413, f"the image is larger than the limit of {MAX_BYTES} bytes"),
    "413-three-times": ("POST", "/api/predict", DRAIN_BYTES, 413, f"the image is larger than the limit of {MAX_BYTES} bytes"),
    "405-post-to-the-page": ("POST", "/", 5_000_000, 405, "method not allowed: POST an image to /api/predict"),
    "405-put": ("PUT", "/api/predict", 5_000_000, 405, "method not allowed: POST an image to /api/predict"),
    "404-post-elsewhere": ("POST", "/upload", 5_000_000, 404, "not found: the page is at / and the API at POST /api/predict"),
}


@pytest.mark.parametrize("case", list(WHOLE_BODY_FIRST))
def test_a_client_that_sends_its_whole_body_first_gets_the_answer(server, case):
    """urllib, like most HTTP libraries and browsers, sends all of the body before reading an
    answer (and asks to close after it): the server reads the body to its end, then answers,
    whatever the answer, instead of closing on a body still arriving (a reset connection)."""
    import urllib.error
    import urllib.request

    method, path, size, status, message = WHOLE_BODY_FIRST[case]
    upload = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", data=b"\xff" * size, method=method,
                                    headers={"Content-Type": "image/jpeg"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(upload, timeout=30)
    assert refused.value.code == status
    assert json.loads(refused.value.read()) == {"error": message}


@pytest.mark.parametrize("announced, expect", [(MAX_BYTES + 1, True), (DRAIN_BYTES + 1, False)],
                         ids=["expect-100-continue", "over-the-drain-cap"])
def test_a_body_announced_over_the_limit_is_refused_before_it_is_sent(server, announced, expect):
    """A client that waits for the server's word before sending (curl, for large bodies), and any
    body announced over DRAIN_BYTES, get the 413 at once: not a byte of the body is read."""
    head = (f"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            f"{'Expect: 100-continue' + chr(13) + chr(10) if expect else ''}Content-Length: {announced}\r\n\r\n").encode()
    started = time.monotonic()
    answer, sent = raw_post(server.port, head, [])  # not one byte of the body
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"error": f"the image is larger than the limit of {MAX_BYTES} bytes"}
    assert time.monotonic() - started < 10


def test_a_streamed_body_is_read_no_further_than_the_drain_cap(server):
    """Chunked, with no Content-Length: past the limit the server reads on, discarding, to DRAIN_BYTES
    at most (for a client that sends it all first), then answers 413 and reads no further."""
    head = b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n"
    piece = 256 * 1024
    chunk = f"{piece:x}\r\n".encode() + b"\xff" * piece + b"\r\n"

    def slow_chunks():
        for _ in range(2 * DRAIN_BYTES // piece):  # up to 64 MiB, if the server kept reading
            yield chunk
            time.sleep(0.001)

    answer, sent = raw_post(server.port, head, slow_chunks())
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert DRAIN_BYTES < sent < DRAIN_BYTES + 8 * 1024 * 1024  # read to the cap, then no further (socket buffers hold a few MB)


# --- malformed HTTP: purenet's JSON, not the HTTP server's plain text -------------------------------

MALFORMED = {
    "content-length-letters": (b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                               400, "Content-Length is not a number of bytes"),
    "content-length-negative": (b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                                400, "Content-Length is not a number of bytes"),
    "two-content-lengths": (b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
                            400, "conflicting Content-Length headers"),
    "header-line-of-1-mb": (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n",
                            431, "the request line and headers are over 16 KiB"),
    "path-not-ascii": ("GET /é HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 400, "the request line is not METHOD /path HTTP/1.1"),
    "path-latin-1": (b"GET /\xe9 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "the request line is not METHOD /path HTTP/1.1"),
    "tls-hello": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40) + b"\r\n\r\n", 400, "the request line is not"),
    "no-host": (b"GET / HTTP/1.1\r\n\r\n", 400, "Missing mandatory Host: header"),
    "header-without-colon": (b"GET / HTTP/1.1\r\nHost: x\r\nbroken header\r\n\r\n", 400, "illegal header line"),
    "bad-chunk-size": (b"POST /api/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
                       400, "illegal chunk header"),
    "unknown-transfer-encoding": (b"POST /api/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                                  501, "Only Transfer-Encoding: chunked is supported"),
}


def raw_exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` as it is; all the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        try:
            connection.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the end (the 1 MB header): the answer is there to read all the same
        answer = b""
        while True:
            try:
                received = connection.recv(65536)
            except ConnectionResetError:
                break
            if not received:
                break
            answer += received
    return answer


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_request_gets_a_json_error_naming_the_problem(server, case):
    data, status, problem = MALFORMED[case]
    answer = raw_exchange(server.port, data)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), answer[:300]
    assert _header(answer, b"content-type") == b"application/json", answer[:300]
    error = json.loads(body)["error"]
    assert error.startswith(f"malformed HTTP request: {problem}") and "\n" not in error, error
    assert not any("WARNING" in line or "Traceback" in line for line in server.lines), server.stderr


def test_an_upgrade_request_is_answered_as_plain_http(server):
    """WebSocket and HTTP/2 upgrades are not served: the request is answered as any other, in JSON."""
    upgrade = (b"GET /socket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\n\r\n")
    answer = raw_exchange(server.port, upgrade)
    assert answer.startswith(b"HTTP/1.1 404 ") and _header(answer, b"content-type") == b"application/json", answer[:300]
    assert not any("WARNING" in line for line in server.lines), server.stderr


STALLED_HEADS = {
    "nothing-sent": [b""],
    "half-a-request-line": [b"GET /api/pre"],
    "headers-never-ended": [b"POST /api/predict HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n"],
    "stalled-after-an-answer": [b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /nope HTTP/1.1\r\n"],
}


def answer_to_stalled_head(port: int, pieces: list[bytes]) -> tuple[bytes, float]:
    """Send ``pieces`` a second apart and never finish the head: the last answer, and when it came."""
    with socket.create_connection(("127.0.0.1", port), timeout=HEAD_SECONDS + 20) as connection:
        started = time.monotonic()
        for piece in pieces:
            connection.sendall(piece)
            time.sleep(1)
        answer = b""
        while received := connection.recv(65536):
            answer += received
        return answer[answer.rfind(b"HTTP/1.1 "):], time.monotonic() - started


@pytest.mark.slow
def test_a_client_that_never_finishes_its_request_head_gets_a_json_408_and_is_closed(server):
    """Slowloris: a connection that sends no head, or half of one, is not held open forever."""
    with concurrent.futures.ThreadPoolExecutor(len(STALLED_HEADS)) as pool:
        answers = dict(zip(STALLED_HEADS, pool.map(lambda pieces: answer_to_stalled_head(server.port, pieces),
                                                  STALLED_HEADS.values())))
    for case, (answer, seconds) in answers.items():
        assert answer.startswith(b"HTTP/1.1 408 "), (case, answer[:300])
        assert _header(answer, b"content-type") == b"application/json", (case, answer[:300])
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"].startswith("request timeout"), case
        assert seconds < HEAD_SECONDS + 10, (case, seconds)
    assert not any("WARNING" in line or "Traceback" in line for line in server.lines), server.stderr


# --- bugs: a JSON 500, never a traceback -------------------------------------------------------


def call(asgi_app, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request straight to an ASGI app, in this process (no server, no socket)."""
    return asyncio.run(call_async(asgi_app, method, path, body))


async def call_async(asgi_app, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "", "scheme": "http",
             "headers": [(b"content-length", str(len(body)).encode())], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    try:
        await asgi_app(scope, receive, send)
    except Exception:  # starlette re-raises a bug after answering, for the server's log
        pass
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_a_bug_is_a_json_500_without_its_traceback(small_model, samples, monkeypatch):
    from purenet.runs.checkpoint import load

    asgi_app = make_app(load(small_model).model)

    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals at /home/someone/purenet/core/network.py line 12")

    monkeypatch.setattr("purenet.apps.serve.predict_image", broken)
    status, body = call(asgi_app, "POST", "/api/predict", samples[0].read_bytes())
    assert status == 500
    assert json.loads(body) == {"error": "internal error in purenet serve (its console says more)"}
    monkeypatch.undo()
    status, body = call(make_app(load(small_model).model), "POST", "/api/predict", samples[0].read_bytes())
    assert status == 200 and json.loads(body)["digit"] == 7  # the same call, unbroken


def test_images_are_prepared_at_most_workers_at_a_time(small_model, monkeypatch):
    """Eight requests at once, two workers: two images in preparation at a time, the others wait."""
    import threading

    from purenet.runs.checkpoint import load

    busy, most, lock = [0], [0], threading.Lock()

    def slow_answer(_params, _data):
        with lock:
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(0.1)
        with lock:
            busy[0] -= 1
        return {"digit": 0}

    monkeypatch.setattr("purenet.apps.serve.answer", slow_answer)
    asgi_app = make_app(load(small_model).model, workers=2)

    async def eight():
        return await asyncio.gather(*[call_async(asgi_app, "POST", "/api/predict", b"x") for _ in range(8)])

    assert [status for status, _ in asyncio.run(eight())] == [200] * 8
    assert most[0] == 2


# --- the command -------------------------------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_stops_it_cleanly_with_130_and_sigterm_with_143(small_model, tmp_path):
    for signum, code in [(signal.SIGINT, 130), (signal.SIGTERM, 143)]:
        server = Server(["--model", str(small_model), "--port", "0"], tmp_path)
        port = server.wait_until_serving()
        assert request(port, "GET", "/")[0] == 200
        assert server.stop(signum) == code
        assert server.lines[-1] == ("purenet: interrupted" if signum == signal.SIGINT else "purenet: terminated")
        assert "Traceback" not in server.stderr and len(server.lines) == 2, server.stderr


@pytest.mark.slow
def test_ctrl_c_while_it_starts_is_one_line_and_130(small_model, tmp_path):
    """While the program loads, the model loads or the server starts: whenever Ctrl-C comes, the same clean end."""
    for delay in (0.2, 0.35, 0.5, 0.8):
        server = Server(["--model", str(small_model), "--port", "0"], tmp_path)
        time.sleep(delay)
        assert server.stop(signal.SIGINT) == 130, (delay, server.stderr)
        assert server.lines[-1] == "purenet: interrupted" and "Traceback" not in server.stderr, (delay, server.stderr)


LOADING = """
import builtins, os, signal
from purenet.cli import entry

real_import = builtins.__import__

def import_and_interrupt(name, *args, **kwargs):
    if name == "purenet.cli.app":  # Ctrl-C while the command line loads (typer, click, rich...)
        os.kill(os.getpid(), signal.SIGINT)
    return real_import(name, *args, **kwargs)

builtins.__import__ = import_and_interrupt
entry.main()
"""


def test_ctrl_c_while_the_program_loads_is_one_line_and_130(tmp_path):
    import subprocess

    done = subprocess.run([sys.executable, "-c", LOADING, "serve"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (130, "purenet: interrupted\n")


def stalled_upload(port: int) -> socket.socket:
    """A request in flight that never ends: its body announced, three bytes of it sent once the
    app reads it (the server's "100 Continue" says so: from then on the stop must wait for it)."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection.sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n")
    assert connection.recv(1024).startswith(b"HTTP/1.1 100 ")
    connection.sendall(b"abc")
    return connection


@pytest.mark.parametrize("first, second, stalled", [
    (signal.SIGINT, signal.SIGINT, True),    # Ctrl-C twice while a request holds the graceful stop: stops at once
    (signal.SIGINT, signal.SIGTERM, False),
    (signal.SIGTERM, signal.SIGINT, True),
], ids=["int-int-stalled", "int-term", "term-int-stalled"])
@pytest.mark.slow
def test_a_second_signal_stops_it_as_cleanly_as_the_first(small_model, tmp_path, first, second, stalled):
    """Whichever signal the exit reports (the second, if it came while stopping), it is one line and its code."""
    lines = {130: "purenet: interrupted", 143: "purenet: terminated"}
    for gap in (0.1, 0.4):  # not 0: two signals pending at once are delivered as one
        server = Server(["--model", str(small_model), "--port", "0"], tmp_path)
        port = server.wait_until_serving()
        held = stalled_upload(port) if stalled else None
        server.proc.send_signal(first)
        time.sleep(gap)
        if server.proc.poll() is None:
            server.proc.send_signal(second)
        code = server.stop(first)  # sends nothing more once it has exited
        if held is not None:
            held.close()
        assert code in (128 + first, 128 + second), (gap, code, server.stderr)
        assert "Traceback" not in server.stderr and server.lines[-1] == lines[code], (gap, server.stderr)
        assert all(line.startswith(("serving ", "purenet: ")) for line in server.lines), server.stderr


@pytest.mark.slow
def test_a_stop_that_cuts_off_a_request_in_flight_says_so_in_one_line(small_model, tmp_path):
    """The graceful stop waits 5 s for the requests in flight, then one line, not a traceback per request."""
    server = Server(["--model", str(small_model), "--port", "0"], tmp_path)
    held = stalled_upload(server.wait_until_serving())
    assert server.stop(signal.SIGTERM) == 143
    held.close()
    assert server.lines[1:] == ["purenet: warning: stopped 1 request(s) still unfinished after 5 s", "purenet: terminated"]


@pytest.mark.slow
def test_it_listens_on_loopback_unless_told_and_warns_when_bound_wider(small_model, tmp_path):
    with serving(small_model, tmp_path) as local:
        assert local.lines[0].startswith("serving ") and " at http://127.0.0.1:" in local.lines[0]
        assert not any("warning" in line for line in local.lines)
    with serving(small_model, tmp_path, "--host", "0.0.0.0") as wide:
        assert wide.lines[0] == ("purenet: warning: listening on 0.0.0.0: other machines can reach this page "
                                 "and its API, which have no authentication")
        assert request(wide.port, "GET", "/")[0] == 200


def serve_fails(*args: str) -> str:
    """Run ``purenet serve ARGS`` expecting one line and exit 2; that line."""
    result = CliRunner().invoke(app, ["serve", *args])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.output
    return result.stderr.rstrip("\n")


def test_a_missing_or_broken_model_is_one_line_before_it_listens(isolated, small_model):
    Path("broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
    assert serve_fails("--model", "missing.npz", "--port", "0") == "purenet: error: missing.npz: no such checkpoint file"
    assert serve_fails("--model", "broken.npz", "--port", "0").startswith("purenet: error: broken.npz: ")
    assert serve_fails("--port", "0") == ("purenet: error: no model given, no model.npz in the current folder and "
                                          "none trained yet: run `purenet train` or give a checkpoint file")


def test_a_model_of_another_input_size_is_one_line_before_it_listens(isolated):
    """The page prepares 28x28 digits: a model reading 8x8 images is refused as `purenet predict` refuses it."""
    from conftest import write_idx

    (isolated / "tiny").mkdir()
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        write_idx(isolated / "tiny" / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (20, 8, 8), dtype=np.uint8))
        write_idx(isolated / "tiny" / f"{prefix}-labels-idx1-ubyte", np.arange(20, dtype=np.uint8) % 10)
    trained = CliRunner().invoke(app, ["train", "--layers", "64,8,10", "--epochs", "1", "--augment", "none",
                                       "--data", str(isolated / "tiny"), "--out", "tiny.npz"])
    assert trained.exit_code == 0, trained.output
    assert serve_fails("--model", "tiny.npz", "--port", "0") == (
        "purenet: error: tiny.npz: the model reads 64 values per image; a digit prepared from a photo is "
        "28x28 = 784 pixels (give --model a checkpoint trained on 28x28 images)")


def test_a_port_in_use_is_one_line(isolated, small_model):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert serve_fails("--model", str(small_model), "--port", str(port)) == (
            f"purenet: error: port {port} on 127.0.0.1 is in use (another server?); "
            "choose another --port, or --port 0 for any free one")
    assert serve_fails("--model", str(small_model), "--host", "no-such-host.invalid", "--port", "0").startswith(
        "purenet: error: --host no-such-host.invalid: not an address this machine can listen on")


def test_without_the_serve_extra_it_says_how_to_install_it(isolated, small_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # `import uvicorn` now raises ImportError
    assert serve_fails("--model", str(small_model)) == ('purenet: error: purenet serve needs the serve extra: '
                                                         'pip install "starlette>=0.37" "uvicorn>=0.29"')
