"""``purenet serve``: the draw-a-digit page and its JSON API (``purenet.apps.serve``) on a local port.

Everything that can go wrong before serving is one line and exit 2, before the server
starts: the serve extra missing, the model missing or broken, an address that cannot
be listened on or a port in use. The command binds the socket itself, so that it can
say which of these it was, and hands the open socket to uvicorn. It listens on
127.0.0.1 unless told otherwise, and warns when bound wider (the API has no
authentication). Ctrl-C stops it cleanly: uvicorn finishes the requests in flight (for
GRACE_SECONDS at most; a second Ctrl-C stops at once) and re-raises the signal, which
ends the command as any other (exit 130; 143 for SIGTERM). Until the server has started,
stop signals are held, so one sent then stops it the same way; "serving ..." is said
once it has started.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import json
import logging
import signal
import socket
import sys
from http import HTTPStatus
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from purenet.base.mnist import SIDE, check_reads_digits
from purenet.cli.console import fail, one_line, say, warn
from purenet.cli.extras import needs_extra
from purenet.cli.models import open_models


def run_serve(model: Optional[Path] | Sequence[Path], host: str, port: int, threads: str = "auto",
              abstain: bool = True) -> None:
    """Serve the checkpoint ``model`` (default: ./model.npz, else the last one trained; several: their
    ensemble, probabilities averaged) on ``host``:``port`` until stopped."""
    try:
        import starlette  # noqa: F401 - only to know the extra is installed, before any other work
        import uvicorn
    except ImportError:
        fail(needs_extra("purenet serve", "serve"))
    from purenet.apps.serve import make_app

    path, params, checkpoint, note = open_models(model)
    problem = check_reads_digits((params[0] if isinstance(params, tuple) else params).arch.inputs)
    if problem is not None:
        fail(f"{path}: {problem} (give --model a checkpoint trained on {SIDE}x{SIDE} images)")
    from purenet.apps.threads import parse_threads, set_blas_threads

    set_blas_threads(parse_threads(threads))  # before the first request; each runs the network in a worker thread
    app = make_app(params, calibration=checkpoint.calibration if abstain else None, classes=checkpoint.class_names)
    listening = listen(host, port)
    if note:
        say(note)
    bound_host, bound_port = listening.getsockname()[:2]
    if not _loopback(bound_host):
        warn(f"listening on {host}: other machines can reach this page and its API, which have no authentication")
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    config = uvicorn.Config(app, http=_json_errors_protocol(), ws="none", h11_max_incomplete_event_size=MAX_HEAD_BYTES,
                            log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=GRACE_SECONDS)
    logging.getLogger("uvicorn.error").addFilter(_quiet_log)
    served = _served(model, path)
    server = _server(uvicorn, config, lambda: say(f"serving {served} at http://{shown}:{bound_port}/ (Ctrl-C stops)"))
    with _stop_signals_held():
        server.run(sockets=[listening])


def _served(model: Optional[Path] | Sequence[Path], path: Path) -> str:
    """What is served, in words: the checkpoint, or the ensemble of several."""
    if model is None or isinstance(model, Path) or len(model) < 2:
        return str(path)
    return f"an ensemble of {len(model)} models ({', '.join(map(str, model))})"


GRACE_SECONDS = 5
"""How long a stop waits for the requests in flight before cutting them off."""

HEAD_SECONDS = 10
"""How long a connection may take to send a request's line and headers (from its opening,
or from its previous answer): a slow or stalled client is answered 408 and closed, so
that idle sockets cannot pile up."""

MAX_HEAD_BYTES = 16 * 1024
"""The most bytes of a request line and headers buffered while they are incomplete (h11's
own default, said here): a longer head is refused with 431 before the app sees it."""


def _json_errors_protocol():
    """uvicorn's h11 protocol, answering a request it cannot parse as the app answers every
    error: JSON ``{"error": "..."}``, not uvicorn's plain text.

    A malformed request (a bad Content-Length, a head over MAX_HEAD_BYTES, a path that is not
    ASCII, bytes that are not HTTP) never reaches the app: h11 refuses it while parsing, and
    uvicorn answers it from ``send_400_response``, called while h11's error is being handled.
    The error's own status (400; 431 for a head too long; 501 for an unknown
    Transfer-Encoding) and its one-line reason are kept.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class JsonErrorsProtocol(H11Protocol):
        head_timer: asyncio.TimerHandle | None = None

        def send_400_response(self, msg: str) -> None:
            problem = sys.exc_info()[1]
            status = getattr(problem, "error_status_hint", 400)
            body = json.dumps({"error": f"malformed HTTP request: {_parse_problem(problem)}"}).encode()
            headers = _json_headers(body)
            reason = _phrase(status)
            try:
                self.transport.write(self.conn.send(h11.Response(status_code=status, headers=headers, reason=reason)))
                self.transport.write(self.conn.send(h11.Data(data=body)))
                self.transport.write(self.conn.send(h11.EndOfMessage()))
            except h11.LocalProtocolError:  # a response had already begun: nothing more can be said
                pass
            self.transport.close()

        # A client that opens a connection, or starts a request, and never finishes its
        # request line and headers would hold the connection forever (uvicorn times out only
        # idle connections between requests): after HEAD_SECONDS it gets a 408 and is closed.
        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._await_head()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is h11.IDLE:
                self._await_head()
            elif self.head_timer is not None:  # the head is complete: the request's own time begins
                self.head_timer.cancel()
                self.head_timer = None

        def connection_lost(self, exc: Exception | None) -> None:
            if self.head_timer is not None:
                self.head_timer.cancel()
            super().connection_lost(exc)

        def _await_head(self) -> None:
            if self.head_timer is None:
                self.head_timer = asyncio.get_running_loop().call_later(HEAD_SECONDS, self._head_too_slow)

        def _head_too_slow(self) -> None:
            self.head_timer = None
            if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
                return
            body = json.dumps({"error": f"request timeout: the request line and headers did not arrive "
                                        f"within {HEAD_SECONDS} seconds"}).encode()
            fields = b"".join(name + b": " + value + b"\r\n" for name, value in _json_headers(body))
            head = b"HTTP/1.1 408 Request Timeout\r\n" + fields
            self.transport.write(head + b"\r\n" + body)
            self.transport.close()

    return JsonErrorsProtocol


def _json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """The headers of a JSON error answer that closes the connection."""
    return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"), (b"connection", b"close")]


def _phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


_PARSE_PROBLEMS = {
    "illegal request line": "the request line is not METHOD /path HTTP/1.1 (a path is ASCII: percent-encode other characters)",
    "Receive buffer too long": f"the request line and headers are over {MAX_HEAD_BYTES // 1024} KiB",
    "bad Content-Length": "Content-Length is not a number of bytes",
}


def _parse_problem(problem: BaseException | None) -> str:
    """h11's reason for refusing a request, in words, without the bytes it quotes from the request."""
    reason = one_line(str(problem or "")).split(": bytearray(", 1)[0] or "it cannot be parsed"
    return _PARSE_PROBLEMS.get(reason, reason)[:200]


def _server(uvicorn, config, announce: Callable[[], None]):
    """A uvicorn server that releases the held stop signals, and says it serves, once it
    has started: from then on a signal reaches uvicorn's own handler (a graceful stop;
    a second Ctrl-C stops at once) and is raised again when it has stopped."""

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            _release_stop_signals()
            if self.started:
                announce()

    return Server(config)


_STOP_SIGNALS = {s for s in (getattr(signal, name, None) for name in ("SIGINT", "SIGTERM", "SIGHUP")) if s is not None}


@contextlib.contextmanager
def _stop_signals_held() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP (pending, not lost) until the server has started.

    Before uvicorn installs its handlers, a signal would stop the event loop half set
    up; held, it is delivered to uvicorn's handler the moment the server has started
    and stops it like any other. (POSIX; elsewhere signals are not held.)
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        _release_stop_signals()


def _release_stop_signals() -> None:
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


ANSWERED_IN_JSON = ("Invalid HTTP request received.", "Unsupported upgrade request.", "No supported WebSocket library")
"""uvicorn's warnings about requests that are answered all the same, in JSON: a malformed
request (the protocol above) and an upgrade (to WebSocket, HTTP/2), served as plain HTTP."""


def _quiet_log(record: logging.LogRecord) -> bool:
    """uvicorn's log without a line per stray request (ANSWERED_IN_JSON), and a stop that cut
    off requests still in flight as one line instead of an error and a traceback per request
    (a slow client is not a bug); other records pass."""
    if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
        return False  # a request the stop cut off: said once, below
    if record.getMessage().startswith(ANSWERED_IN_JSON):
        return False  # a request answered in JSON all the same: no line per stray client
    if "timeout graceful shutdown exceeded" in record.getMessage():
        count = record.args[0] if isinstance(record.args, tuple) and record.args else "some"
        warn(f"stopped {count} request(s) still unfinished after {GRACE_SECONDS} s")
        return False
    return True


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` and listening, or one line saying why not and exit 2."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError, ValueError) as error:
        fail(f"--host {host}: not an address this machine can listen on ({getattr(error, 'strerror', None) or error})")
    listening = socket.socket(family, kind, proto)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not another server's port: only old connections'
        listening.bind(address)
        listening.listen(128)
    except OSError as error:
        listening.close()
        if error.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is in use (another server?); choose another --port, or --port 0 for any free one")
        if error.errno == errno.EACCES:
            fail(f"port {port} on {host}: permission denied (ports below 1024 need privileges); choose another --port")
        fail(f"cannot listen on {host} port {port} ({error.strerror or error})")
    return listening


def _loopback(address: str) -> bool:
    """Whether a bound address is this machine's alone (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False
