"""The page of ``purenet serve`` in a real browser: headless Chromium, driven by Selenium.

A person's use of the page, step by step: draw a 1 (one stroke, with a mouse) and a 7
(two strokes, with a finger), read the digit the page shows; choose a photo file and
check the page shows ``purenet predict``'s answer for it; clear. The screenshot of
docs/img/serve.png (shown in docs/cli.md) is taken here, of the drawn 7, and written
there only when PURENET_UPDATE_SCREENSHOT=1 is set (a test run leaves the checkout alone).

The model is trained here, in a few seconds: 784-100-10 on MNIST's first 10,000
training images for 3 epochs (about 96% on the test set), enough to read a drawn 1
or 7 every time. Chromium and its driver are Debian's (`apt-get install chromium
chromium-driver`); the system's chromedriver is used, never a downloaded one. Without
them these tests fail, saying so in one line: run the others with `pytest -m "not browser"`.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil

import numpy as np
import pytest
from conftest import ROOT, write_idx
from PIL import Image
from serving import serving, wait_for
from typer.testing import CliRunner

from purenet.cli.app import app
from purenet.photo.clean import clean_ink
from purenet.photo.ink import working_rgb

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOT = ROOT / "docs" / "img" / "serve.png"
PAD = 280  # the drawing pad's size in CSS pixels (purenet/apps/static/draw.html)


@pytest.fixture(scope="module")
def drawing_model(mnist, tmp_path_factory):
    """784-100-10 trained for 3 epochs on the first 10,000 MNIST training images."""
    folder = tmp_path_factory.mktemp("mnist-10k")
    parts = {"train": mnist.train.take(slice(0, 10_000)), "t10k": mnist.test.take(slice(0, 1000))}
    for prefix, split in parts.items():
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", split.images.reshape(-1, 28, 28))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", split.labels)
    path = tmp_path_factory.mktemp("drawing-model") / "drawing.npz"  # not inside the data's folder: train refuses that
    args = ["train", "--layers", "784,100,10", "--epochs", "3", "--data", str(folder), "--out", str(path)]
    result = CliRunner().invoke(app, args, env={"XDG_STATE_HOME": str(folder / "state")})
    assert result.exit_code == 0, result.output
    return path


def chromium_driver():
    """Headless Chromium through the system's chromedriver; a one-line failure when either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (browser and driver):
        pytest.fail("the browser tests need Chromium and its driver: apt-get install chromium chromium-driver "
                    "(or leave these tests out: pytest -m 'not browser')", pytrace=False)
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1080,600", "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


@pytest.fixture(scope="module")
def page(drawing_model, tmp_path_factory):
    """The page, open in Chromium, served by a real `purenet serve` of ``drawing_model``."""
    with serving(drawing_model, tmp_path_factory.mktemp("browser")) as server:
        driver = chromium_driver()
        try:
            driver.get(f"http://127.0.0.1:{server.port}/")
            yield driver
        finally:
            driver.quit()


def draw(driver, kind: str, strokes: list[list[tuple[int, int]]]) -> None:
    """Draw ``strokes`` (points in pad pixels, 0-280) on the pad with a pointer of ``kind``."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    pad = driver.find_element("id", "pad")
    pointer = PointerInput({"mouse": interaction.POINTER_MOUSE, "pen": interaction.POINTER_PEN,
                            "touch": interaction.POINTER_TOUCH}[kind], kind)
    actions = ActionBuilder(driver, mouse=pointer, duration=10)
    for stroke in strokes:
        (x, y), *rest = stroke
        actions.pointer_action.move_to(pad, x - PAD // 2, y - PAD // 2)  # offsets from the pad's centre
        actions.pointer_action.pointer_down()
        for (x0, y0), (x1, y1) in zip(stroke, rest):
            for t in np.linspace(0, 1, 8)[1:]:  # several moves per segment, as a hand makes
                actions.pointer_action.move_to(pad, round(x0 + t * (x1 - x0)) - PAD // 2, round(y0 + t * (y1 - y0)) - PAD // 2)
        actions.pointer_action.pointer_up()
    actions.perform()


def settled_answer(driver) -> str:
    """The digit the page shows once it has answered for the latest picture."""
    done = wait_for(lambda: driver.execute_script(
        "const a = document.getElementById('answer');"
        "return a.dataset.answered === a.dataset.version && document.getElementById('digit').textContent;"), seconds=15)
    assert done, "the page did not show an answer; status: " + driver.find_element("id", "status").text
    return done


def shown_probabilities(driver) -> list[float]:
    return [float(driver.find_element("id", f"bar{k}").get_attribute("data-probability")) for k in range(10)]


def clear(driver) -> None:
    driver.find_element("id", "clear").click()
    assert settled_answer(driver) == "\u2013"


def test_a_drawn_one_and_seven_are_read(page):
    clear(page)
    draw(page, "mouse", [[(140, 45), (138, 235)]])
    assert settled_answer(page) == "1"
    probabilities = shown_probabilities(page)
    assert np.argmax(probabilities) == 1 and abs(sum(probabilities) - 1) < 1e-5
    seen = page.execute_script("return window.lastAnswer.image")
    assert np.array(seen).shape == (28, 28) and np.array(seen).max() == 255  # the 28x28 picture is there too

    clear(page)
    draw(page, "touch", [[(75, 60), (205, 60)], [(205, 62), (125, 240)]])  # a finger: the bar, then the stem
    assert settled_answer(page) == "7"
    posted = page.execute_script("return document.getElementById('pad').toDataURL('image/png')")  # what the page sends
    canvas = Image.open(io.BytesIO(base64.b64decode(posted.split(",", 1)[1])))
    assert canvas.size == (PAD, PAD) and clean_ink(working_rgb(canvas), canvas.size) is not None  # the short way
    picture = page.get_screenshot_as_png()
    assert Image.open(io.BytesIO(picture)).width == 1080
    if os.environ.get("PURENET_UPDATE_SCREENSHOT") and changed(SCREENSHOT, picture):
        SCREENSHOT.write_bytes(picture)  # only when asked: a test run never edits the checkout


def changed(path, picture: bytes) -> bool:
    """Whether ``picture`` shows something other than the screenshot at ``path``: missing, another
    size, or over 0.5% of its pixels different. (Runs differ by a few anti-aliased pixels at the
    edge of a near-empty bar; rewriting the file for those would only churn the checkout.)"""
    if not path.exists():
        return True
    old, new = (np.asarray(Image.open(source).convert("RGB"), np.int16) for source in (path, io.BytesIO(picture)))
    return old.shape != new.shape or (np.abs(old - new).sum(axis=2) > 0).mean() > 0.005


def test_a_chosen_photo_gets_purenet_predicts_answer(page, drawing_model, mnist, tmp_path):
    digit = mnist.test.images[3].reshape(28, 28)  # a 0
    photo = tmp_path / "zero.jpg"
    Image.fromarray(255 - digit).resize((600, 600), Image.Resampling.BICUBIC).convert("RGB").save(photo, quality=90)
    result = CliRunner().invoke(app, ["predict", "--json", "--model", str(drawing_model), str(photo)])
    assert result.exit_code == 0, result.output
    expected = json.loads(result.stdout)

    clear(page)
    page.find_element("id", "file").send_keys(str(photo))
    assert settled_answer(page) == str(expected["digit"]) == "0"
    assert shown_probabilities(page) == expected["probabilities"]  # to the bit
    assert page.find_element("id", "status").text == "zero.jpg"
