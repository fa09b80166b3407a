"""How fast does ``purenet serve`` answer POST /api/predict?

A development script, not part of the library or the test suite. It starts the
installed ``purenet serve`` on a free port of 127.0.0.1 (a real process, as a user
runs it), then for each image sends ``--requests`` POSTs (default 200) from
``--clients`` threads at once (default 4), each thread on its own keep-alive
connection (standard library: threading and http.client), after a warm-up of two
requests per client. It prints, per image, requests per second (requests / wall
time), the median (p50) and 95th-percentile (p95) latency of one request, sent
to answered, and the server process's CPU time per request (user and system, from
/proc on Linux: what other work on the machine inflates least). Three images:

    canvas280 what the draw page sends: its 280x280 canvas as a PNG (RGBA, opaque
              white, a 7 in black round strokes 18 pixels wide, anti-aliased as a
              browser draws them; about 2 kB)
    png28     a 28x28 PNG: an MNIST test digit (a 7) as it is (about 250 bytes)
    jpeg1mp   a 1000x1000 JPEG photo-like picture of the same digit: dark ink on
              unevenly lit paper, with sensor noise (quality 90, about 150 kB)

The first two are clean images (``purenet.photo.clean``) and take the short way; the
photo goes through all ten steps of ``purenet.photo.prepare``.

For scale it also times ``purenet.photo.prepare.read_digit_image`` alone on each image, in this
process, one at a time (median of 20): the preparation of the picture, which is
most of a request's work. The server and the clients share the machine, so the
figures are a floor for what a separate client would see, and they move with
whatever else runs (the load average is printed with them).

    python benchmarks/serve.py --model model.npz
    python benchmarks/serve.py --model model.npz --requests 400 --clients 8 --json

``--prepare-only`` starts no server: it times ``read_digit_image`` on each image in
``--rounds`` alternating pairs (default 50), the short way for clean images as it is
and all ten steps (the clean check switched off), and prints the medians of each and
of the pairs' ratios (CPU time of this thread, which other work on the machine
inflates less than wall time, and wall time):

    OPENBLAS_NUM_THREADS=1 python benchmarks/serve.py --prepare-only
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
SERVING = re.compile(r"serving .* at http://127\.0\.0\.1:(\d+)/")


CANVAS, STROKE, SUPERSAMPLE = 280, 18, 4
"""The draw page's canvas: 280 pixels square, strokes 18 wide (purenet/apps/static/draw.html);
drawn 4 times larger and shrunk by box averaging, for a browser's anti-aliased edges."""


def drawn_canvas(points: list[tuple[int, int]]) -> bytes:
    """The PNG the draw page posts for one stroke through ``points``: a white canvas, a black
    line with round caps and joins, RGBA as a canvas's toBlob("image/png") gives it."""
    big = Image.new("L", (CANVAS * SUPERSAMPLE, CANVAS * SUPERSAMPLE), 255)
    draw = ImageDraw.Draw(big)
    scaled = [(x * SUPERSAMPLE, y * SUPERSAMPLE) for x, y in points]
    radius = STROKE * SUPERSAMPLE / 2
    draw.line(scaled, fill=0, width=STROKE * SUPERSAMPLE, joint="curve")
    for x, y in scaled:  # round caps and joins
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=0)
    png = io.BytesIO()
    big.resize((CANVAS, CANVAS), Image.Resampling.BOX).convert("RGBA").save(png, "PNG")
    return png.getvalue()


def images(mnist_dir: Path) -> dict[str, bytes]:
    """The three request bodies: a 7 drawn on the page's canvas; an MNIST 7 as a 28x28 PNG,
    and as a 1-megapixel JPEG photo."""
    from purenet.data import load

    digit = load(mnist_dir).test.images[0].reshape(28, 28)
    png = io.BytesIO()
    Image.fromarray(digit).save(png, "PNG")

    rng = np.random.default_rng(0)
    ink = np.asarray(Image.fromarray(digit).resize((600, 600), Image.Resampling.BICUBIC), np.float32) / 255
    paper = np.zeros((1000, 1000), np.float32)
    paper[200:800, 220:820] = ink
    light = np.linspace(1.0, 0.6, 1000, dtype=np.float32)[None, :]  # a shadow across the sheet
    grey = (235 * (1 - paper) + 30 * paper) * light + rng.normal(0, 4, paper.shape)
    rgb = np.clip(np.stack([grey, grey * 0.97, grey * 0.92], axis=-1), 0, 255).astype(np.uint8)
    jpeg = io.BytesIO()
    Image.fromarray(rgb).save(jpeg, "JPEG", quality=90)
    return {"canvas280": drawn_canvas([(80, 70), (200, 70), (120, 230)]), "png28": png.getvalue(), "jpeg1mp": jpeg.getvalue()}


def start_server(model: str | None) -> tuple[subprocess.Popen, int]:
    command = shutil.which("purenet", path=str(Path(sys.executable).parent)) or shutil.which("purenet")
    if command is None:
        sys.exit("the purenet command is not installed (pip install -e \".[serve]\")")
    args = [command, "serve", "--port", "0", *(["--model", model] if model else [])]
    server = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in server.stderr:
        found = SERVING.search(line)
        if found:
            threading.Thread(target=server.stderr.read, daemon=True).start()  # keep draining it
            return server, int(found.group(1))
        print(line, end="", file=sys.stderr)
    sys.exit(f"purenet serve exited with code {server.wait()} before serving")


def client(port: int, body: bytes, kind: str, count: int, latencies: list[float], failures: list[str]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request("POST", "/api/predict", body=body, headers={"Content-Type": kind})
            response = connection.getresponse()
            answer = response.read()
            latencies.append(time.perf_counter() - started)
            if response.status != 200:
                failures.append(f"{response.status} {answer[:200]!r}")
    finally:
        connection.close()


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user + system) process ``pid`` has used so far, from /proc (Linux); None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    except (OSError, ValueError, IndexError):
        return None


def measure(port: int, body: bytes, kind: str, requests: int, clients: int, server_pid: int) -> dict:
    """``requests`` POSTs of ``body`` spread over ``clients`` threads; throughput and latency percentiles,
    and the server's CPU time per request (which other work on the machine inflates less than latency)."""
    warm: list[float] = []
    client(port, body, kind, 2 * clients, warm, [])
    shares = [requests // clients + (i < requests % clients) for i in range(clients)]
    latencies: list[float] = []
    failures: list[str] = []
    threads = [threading.Thread(target=client, args=(port, body, kind, n, latencies, failures)) for n in shares]
    cpu = cpu_seconds(server_pid)
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    cpu_after = cpu_seconds(server_pid)
    if failures:
        sys.exit(f"{len(failures)} requests failed, the first: {failures[0]}")
    ms = np.array(latencies) * 1000
    return {"bytes": len(body), "requests": len(latencies), "clients": clients, "seconds": round(wall, 3),
            "requests_per_s": round(len(latencies) / wall, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "server_cpu_ms": None if cpu is None or cpu_after is None else round(1000 * (cpu_after - cpu) / len(latencies), 1)}


def preparation_ms(body: bytes, repeats: int = 20) -> float:
    """The median time of ``read_digit_image`` on ``body`` in this process, in milliseconds."""
    from purenet.photo.prepare import read_digit_image

    read_digit_image(body)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        read_digit_image(body)
        times.append(time.perf_counter() - started)
    return round(1000 * float(np.median(times)), 1)


def prepare_pairs(body: bytes, rounds: int) -> dict:
    """``read_digit_image`` on ``body`` as it is, and with the clean check switched off (all ten
    steps), alternating for ``rounds`` pairs: the medians in ms and of the pairs' ratios."""
    from purenet.photo import clean
    from purenet.photo.prepare import read_digit_image

    clean_ink = clean.clean_ink

    def timed(short: bool) -> tuple[float, float]:
        clean.clean_ink = clean_ink if short else (lambda rgb, size: None)
        try:
            wall, cpu = time.perf_counter(), time.thread_time()
            read_digit_image(body)
            return 1000 * (time.thread_time() - cpu), 1000 * (time.perf_counter() - wall)
        finally:
            clean.clean_ink = clean_ink

    timed(True), timed(False)  # warm-up
    pairs = np.array([[*timed(True), *timed(False)] for _ in range(rounds)])  # cpu, wall as it is; cpu, wall ten steps
    median = np.median(pairs, axis=0)
    return {"cpu_ms": round(float(median[0]), 2), "wall_ms": round(float(median[1]), 2),
            "ten_steps_cpu_ms": round(float(median[2]), 2), "ten_steps_wall_ms": round(float(median[3]), 2),
            "ratio_cpu": round(float(np.median(pairs[:, 2] / pairs[:, 0])), 2),
            "ratio_wall": round(float(np.median(pairs[:, 3] / pairs[:, 1])), 2)}


def machine() -> str:
    """The CPUs and the load average now, as the tables' first line says them."""
    load = [round(x, 2) for x in os.getloadavg()]
    return f"{os.cpu_count()} CPUs, load average {load[0]} {load[1]} {load[2]}"


def report_json(wanted: bool, figures: dict) -> bool:
    """With --json, print the figures with the CPUs and the load average as one object; say whether it did."""
    if wanted:
        load = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps({"cpus": os.cpu_count(), "load_average": load, **figures}))
    return wanted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="checkpoint to serve (default: the one purenet serve picks, the last trained)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--mnist", type=Path, default=ROOT / "data" / "mnist")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--prepare-only", action="store_true", help="no server: time read_digit_image, short way vs ten steps")
    parser.add_argument("--rounds", type=int, default=50, help="alternating pairs for --prepare-only")
    options = parser.parse_args()

    bodies = images(options.mnist)
    if options.prepare_only:
        prepared = {name: prepare_pairs(body, options.rounds) for name, body in bodies.items()}
        if report_json(options.json, prepared):
            return
        print(f"read_digit_image, {options.rounds} alternating pairs, medians in ms ({machine()})")
        print(f"{'image':<9} {'cpu':>7} {'wall':>7} {'ten steps cpu':>14} {'wall':>7} {'ratio cpu':>10} {'wall':>6}")
        for name, r in prepared.items():
            print(f"{name:<9} {r['cpu_ms']:>7} {r['wall_ms']:>7} {r['ten_steps_cpu_ms']:>14} {r['ten_steps_wall_ms']:>7} "
                  f"{r['ratio_cpu']:>10} {r['ratio_wall']:>6}")
        return
    server, port = start_server(options.model)
    try:
        results = {name: measure(port, body, "image/jpeg" if name == "jpeg1mp" else "image/png",
                                 options.requests, options.clients, server.pid) for name, body in bodies.items()}
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
    for name, body in bodies.items():
        results[name]["read_digit_ms"] = preparation_ms(body)
    if report_json(options.json, results):
        return
    print(f"{options.requests} requests per image, {options.clients} clients at once, server and clients on this machine "
          f"({machine()})")
    print(f"{'image':<9} {'bytes':>8} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'server CPU ms/req':>18} "
          f"{'read_digit_image ms':>20}")
    for name, r in results.items():
        print(f"{name:<9} {r['bytes']:>8} {r['requests_per_s']:>7} {r['p50_ms']:>7} {r['p95_ms']:>7} "
              f"{'-' if r['server_cpu_ms'] is None else r['server_cpu_ms']:>18} {r['read_digit_ms']:>20}")


if __name__ == "__main__":
    main()
