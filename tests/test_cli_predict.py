"""``purenet predict`` with many inputs, good and bad, through Typer's CliRunner and one real subprocess.

Every case checks the promise: each readable image answered on stdout, each bad one
exactly one line ``purenet: error: PATH: problem`` on stderr, no traceback, no Python
warning text, nothing blocks, and the exit code is 2 if anything failed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import Blocked, fail_if_blocked
from PIL import Image
from typer.testing import CliRunner

from purenet.cli.app import app

pytestmark = pytest.mark.usefixtures("isolated")

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"),
                                reason="needs named pipes (os.mkfifo), which exist on POSIX systems only")


@pytest.fixture(autouse=True)
def no_blocking():
    """Fail (instead of hanging the suite) if a test blocks for 60 s, e.g. reading a FIFO."""
    with fail_if_blocked(60):
        yield


def predict(*args: str):
    """Run ``purenet predict ARGS``; no Python warning may escape it (they would show as text)."""
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        result = CliRunner().invoke(app, ["predict", *args])
    assert not isinstance(result.exception, Blocked), "purenet predict blocked"
    assert [str(w.message) for w in leaked] == []
    assert "Traceback" not in result.stderr and "Warning:" not in result.stderr
    return result


def lines(text: str) -> list[str]:
    return text.splitlines()


def answered(result) -> list[str]:
    """The files answered on stdout, in order (plain text output: "FILE: DIGIT   (...)")."""
    return [line.rsplit(": ", 1)[0] for line in lines(result.stdout)]


@pytest.fixture(scope="module")
def digit_png(mnist, tmp_path_factory) -> bytes:
    """A drawing of an MNIST test digit, dark on white, 140x140, as PNG bytes."""
    picture = Image.fromarray(255 - mnist.test.images[0].reshape(28, 28)).resize((140, 140), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def good(tmp_path, digit_png) -> tuple[str, str]:
    """Two readable images in the working folder: good.png and good.jpg."""
    (tmp_path / "good.png").write_bytes(digit_png)
    Image.open(io.BytesIO(digit_png)).convert("RGB").save(tmp_path / "good.jpg", quality=90)
    return "good.png", "good.jpg"


def jpeg_bytes(digit_png: bytes, side: int = 140, **options) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(digit_png)).convert("RGB").resize((side, side)).save(buffer, "JPEG", quality=90, **options)
    return buffer.getvalue()


def bad_exif(digit_png: bytes) -> bytes:
    """A 112x112 JPEG whose EXIF block points a tag's data past its end: Pillow warns, the picture is fine."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHII", 0x010F, 2, 1000, 4096) + struct.pack("<I", 0)
    return jpeg_bytes(digit_png, 112, exif=b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd)


# --- one bad input among good ones: one line, the others still answered ---------------------


def _missing(tmp_path):
    return "missing.png"


def _empty(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    return "empty.png"


def _text(tmp_path):
    (tmp_path / "notes.png").write_text("not a picture\n")
    return "notes.png"


def _garbage(tmp_path):
    (tmp_path / "noise.bmp").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    return "noise.bmp"


def _truncated(fmt):
    def make(tmp_path):
        buffer = io.BytesIO()
        Image.fromarray(np.random.default_rng(1).integers(0, 256, (300, 300, 3), dtype=np.uint8)).save(buffer, fmt)
        name = f"cut.{fmt.lower()}"
        (tmp_path / name).write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        return name
    return make


def _fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    return "pipe.png"


def _link_to_fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "link.png").symlink_to("pipe")
    return "link.png"


def _socket(tmp_path):
    server = socket.socket(socket.AF_UNIX)
    server.bind("sock.png")  # relative: the working folder is tmp_path (a socket's path is short)
    server.close()
    return "sock.png"


def _broken_link(tmp_path):
    (tmp_path / "gone.png").symlink_to("nowhere.png")
    return "gone.png"


def _folder_without_images(tmp_path):
    (tmp_path / "album").mkdir()
    (tmp_path / "album" / "README.md").write_text("photos to come\n")
    (tmp_path / "album" / ".hidden.png").write_bytes(b"")
    return "album"


BAD = {  # name: (make it in tmp_path -> the argument, what the error line says after "ARG: ")
    "missing": (_missing, "no such file"),
    "empty": (_empty, "the file is empty"),
    "text-named-png": (_text, "not an image file"),
    "unidentifiable": (_garbage, "not an image file"),
    "truncated-jpeg": (_truncated("JPEG"), "cannot decode the image"),
    "truncated-png": (_truncated("PNG"), "cannot decode the image"),
    "fifo": (_fifo, "is a named pipe (FIFO), not an image file"),
    "link-to-fifo": (_link_to_fifo, "is a named pipe (FIFO), not an image file"),
    "socket": (_socket, "is a socket, not an image file"),
    "broken-link": (_broken_link, "no such file"),
    "folder-without-images": (_folder_without_images, "a folder with no image files"),
}
POSIX_ONLY = {"fifo", "link-to-fifo", "socket"}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD))
def test_one_bad_input_among_good_ones_gets_one_line(small_model, good, tmp_path, case):
    if case in POSIX_ONLY and not hasattr(os, "mkfifo"):
        pytest.skip("FIFOs and sockets exist on POSIX systems only")
    make, problem = BAD[case]
    bad = make(tmp_path)
    result = predict("--model", str(small_model), good[0], bad, good[1])
    assert result.exit_code == 2
    stderr = lines(result.stderr)
    assert len(stderr) == 1 and stderr[0].startswith(f"purenet: error: {bad}: {problem}"), stderr
    assert answered(result) == list(good)


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_a_character_device_is_refused_without_reading_it(small_model, good, device):
    if not os.path.exists(device):
        pytest.skip(f"this system has no {device} device")
    result = predict("--model", str(small_model), device, good[0])
    assert result.exit_code == 2
    assert lines(result.stderr) == [f"purenet: error: {device}: is a character device, not an image file"]
    assert answered(result) == [good[0]]


def test_every_bad_input_at_once_one_line_each_in_order(small_model, good, tmp_path):
    bad = [make(tmp_path) for name, (make, _) in BAD.items() if name not in POSIX_ONLY or hasattr(os, "mkfifo")]
    result = predict("--model", str(small_model), *bad, good[0], *bad, good[1])
    assert result.exit_code == 2
    errors = lines(result.stderr)
    assert len(errors) == 2 * len(bad)
    assert [line.split(": ")[2] for line in errors] == bad + bad
    assert all(line.startswith("purenet: error: ") for line in errors)
    assert answered(result) == list(good)


def test_all_good_exits_0_with_nothing_on_stderr(small_model, good):
    result = predict("--model", str(small_model), *good)
    assert result.exit_code == 0
    assert result.stderr == ""
    assert answered(result) == list(good)
    assert all(line.split(": ", 1)[1][0] in "0123456789" for line in lines(result.stdout))


def test_json_gives_one_object_per_readable_image(small_model, good, tmp_path):
    bad = _text(tmp_path), _empty(tmp_path)
    result = predict("--model", str(small_model), "--json", good[0], *bad, good[1])
    assert result.exit_code == 2
    objects = [json.loads(line) for line in lines(result.stdout)]
    assert [o["file"] for o in objects] == list(good)
    assert all(o["digit"] == o["top"][0]["digit"] and len(o["probabilities"]) == 10 for o in objects)
    assert [line.split(": ")[2] for line in lines(result.stderr)] == list(bad)


def test_a_decompression_bomb_is_refused_in_one_line(small_model, good, tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # errors above 20,000 pixels
    Image.new("L", (200, 200), 255).save(tmp_path / "huge.png")
    result = predict("--model", str(small_model), "huge.png", "good.jpg")  # (good.jpg is 140x140: warned about)
    assert result.exit_code == 2
    assert lines(result.stderr)[0].startswith("purenet: error: huge.png: too large to decode safely (")
    assert lines(result.stderr)[1].startswith("purenet: warning: good.jpg: Image size (19600 pixels) exceeds limit")
    assert len(lines(result.stderr)) == 2
    assert answered(result) == ["good.jpg"]


def test_odd_file_names_stay_on_one_line_and_are_not_markup(small_model, tmp_path, digit_png):
    (tmp_path / "[").mkdir()
    names = ["[/]x.png", "[bold]y.png", "new\nline.png"]
    for name in names:
        (tmp_path / name).write_bytes(digit_png)
    result = predict("--model", str(small_model), *names, "new\nmissing.png")
    assert result.exit_code == 2
    assert answered(result) == ["[/]x.png", "[bold]y.png", "new\\nline.png"]
    assert lines(result.stderr) == ["purenet: error: new\\nmissing.png: no such file"]


# --- folders ----------------------------------------------------------------------------------


def test_a_folder_means_its_image_files_in_name_order(small_model, tmp_path, digit_png):
    album = tmp_path / "album"
    (album / "sub.png").mkdir(parents=True)  # a folder with an image name: not an image
    (album / "sub.png" / "deeper.png").write_bytes(digit_png)  # not recursed into
    for name in ["b.png", "a.png", "C.PNG", ".hidden.png"]:
        (album / name).write_bytes(digit_png)
    (album / "d.jpg").write_bytes(jpeg_bytes(digit_png))
    (album / "manifest.csv").write_text("file,label\n")
    (album / "README.md").write_text("my digits\n")
    (album / "e.png").symlink_to("a.png")  # a link to a regular file is one
    if hasattr(os, "mkfifo"):
        os.mkfifo(album / "pipe.png")  # not a regular file: left alone, never opened
    result = predict("--model", str(small_model), "album/")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert answered(result) == [f"album{os.sep}{name}" for name in ["C.PNG", "a.png", "b.png", "d.jpg", "e.png"]]


def test_bad_files_in_a_folder_get_their_line_and_the_rest_is_read(small_model, tmp_path, digit_png):
    album = tmp_path / "album"
    album.mkdir()
    (album / "1.png").write_bytes(digit_png)
    (album / "2.png").write_text("not a picture\n")
    (album / "3.png").write_bytes(b"")
    (album / "4.jpg").write_bytes(jpeg_bytes(digit_png))
    result = predict("--model", str(small_model), "album")
    assert result.exit_code == 2
    sep = os.sep
    assert [line.split(": ")[2] for line in lines(result.stderr)] == [f"album{sep}2.png", f"album{sep}3.png"]
    assert answered(result) == [f"album{sep}1.png", f"album{sep}4.jpg"]


# --- warnings: one line each, never Python's format, never an exception ----------------------


def test_pillow_warnings_are_one_line_each_naming_the_file(small_model, good, tmp_path, digit_png, monkeypatch):
    (tmp_path / "exif.jpg").write_bytes(bad_exif(digit_png))
    Image.new("L", (180, 180), 255).save(tmp_path / "blank-and-big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 19_000)  # warns above 19,000 pixels (good.png has 19,600)
    result = predict("--model", str(small_model), "exif.jpg", "good.png", "blank-and-big.png")
    assert result.exit_code == 2
    stderr = lines(result.stderr)
    assert len(stderr) == 3, stderr
    assert stderr[0].startswith("purenet: warning: exif.jpg: ") and "271" in stderr[0]  # the tag skipped
    assert stderr[1].startswith("purenet: warning: good.png: Image size (19600 pixels) exceeds limit of 19000 pixels")
    # a file that cannot be read gets its error alone, not its warnings too
    assert stderr[2] == "purenet: error: blank-and-big.png: no digit found: the image is blank"
    assert answered(result) == ["exif.jpg", "good.png"]


def test_warnings_made_errors_process_wide_still_give_one_line(small_model, good, tmp_path, digit_png):
    """What PYTHONWARNINGS=error or -W error do: without care, Pillow's warning becomes a traceback."""
    (tmp_path / "exif.jpg").write_bytes(bad_exif(digit_png))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = CliRunner().invoke(app, ["predict", "--model", str(small_model), "exif.jpg", good[0]])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 0
    assert len(lines(result.stderr)) == 1 and lines(result.stderr)[0].startswith("purenet: warning: exif.jpg: ")
    assert answered(result) == ["exif.jpg", good[0]]


# --- the model is checked first ----------------------------------------------------------------


@pytest.fixture(scope="module")
def model_of_64_pixels(tmp_path_factory) -> Path:
    from conftest import write_idx

    folder = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (20, 8, 8), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.arange(20, dtype=np.uint8) % 10)
    path = tmp_path_factory.mktemp("tiny-model") / "tiny.npz"  # not inside the data's folder: train refuses that
    result = CliRunner().invoke(app, ["train", "--layers", "64,8,10", "--epochs", "1", "--augment", "none",
                                      "--data", str(folder), "--out", str(path)],
                                env={"XDG_STATE_HOME": str(folder / "state")})
    assert result.exit_code == 0, result.output
    return path


def test_a_model_of_another_input_size_is_one_line_before_any_image_is_read(model_of_64_pixels, good, tmp_path, monkeypatch):
    import purenet.cli.predict

    def must_not_read(*args, **kwargs):
        raise AssertionError("an image was read before the model was checked")

    monkeypatch.setattr(purenet.cli.predict, "predict_image", must_not_read)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.png")
    result = predict("--model", str(model_of_64_pixels), "pipe.png", *good, "missing.png")
    assert result.exit_code == 2
    assert lines(result.stderr) == [f"purenet: error: {model_of_64_pixels}: the model reads 64 values per image; "
                                    "a digit prepared from a photo is 28x28 = 784 pixels "
                                    "(give --model a checkpoint trained on 28x28 images)"]
    assert result.stdout == ""


# --- the installed command, in a real process ----------------------------------------------------


def installed_purenet() -> str:
    found = shutil.which("purenet", path=str(Path(sys.executable).parent)) or shutil.which("purenet")
    if found is None:
        pytest.fail("the purenet command is not installed (pip install -e .)")
    return found


@needs_fifo
@pytest.mark.parametrize("pythonwarnings", [None, "error"], ids=["default-warnings", "PYTHONWARNINGS=error"])
def test_the_installed_command_with_a_fifo_among_the_inputs(small_model, good, tmp_path, digit_png, pythonwarnings):
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "exif.jpg").write_bytes(bad_exif(digit_png))
    (tmp_path / "notes.png").write_text("not a picture\n")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    if pythonwarnings:
        env["PYTHONWARNINGS"] = pythonwarnings
    try:
        completed = subprocess.run(
            [installed_purenet(), "predict", "--model", str(small_model), good[0], "pipe.png", "exif.jpg", "notes.png", good[1]],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=50, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("purenet predict blocked (on the FIFO?)")
    assert "Traceback" not in completed.stderr and "Warning:" not in completed.stderr, completed.stderr
    stderr = lines(completed.stderr)
    assert len(stderr) == 3, stderr
    assert stderr[0] == "purenet: error: pipe.png: is a named pipe (FIFO), not an image file"
    assert stderr[1].startswith("purenet: warning: exif.jpg: ")
    assert stderr[2] == "purenet: error: notes.png: not an image file (or a format Pillow cannot read)"
    assert completed.returncode == 2
    assert [line.rsplit(": ", 1)[0] for line in lines(completed.stdout)] == [good[0], "exif.jpg", good[1]]
