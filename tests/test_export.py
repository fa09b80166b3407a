"""``purenet export`` and ``purenet.apps.export``: the ONNX file is the same model.

Proof by running it: onnxruntime (CPU) on all 10,000 MNIST test images must give the
argmax ``purenet predict`` computes for every image, and probabilities within 1e-5,
for every activation, both losses and both dtypes, at batch sizes 1, 257 and 10,000.
The networks are trained a few steps first, so that their outputs are far from the
near-uniform ones of a fresh init and a wrong constant (a slope, a scale) shows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from typer.testing import CliRunner

from purenet import ACTIVATIONS, LOSSES, Adam, backward, forward, init, predict, tree_map
from purenet.apps.export import OPSET, ExportError, is_onnx_model, save_onnx, to_onnx
from purenet.cli.app import app
from purenet.core.records import Params
from purenet.io.outputs import WriteRefused

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def test_pixels(mnist) -> np.ndarray:
    return mnist.test.images.astype(np.float32) / 255  # what `purenet predict` feeds: float32 / 255


def trained(mnist, act: str, loss: str, dtype=np.float32, steps: int = 30, layers=(784, 32, 16, 10)) -> Params:
    """A network (784-32-16-10 unless ``layers`` says otherwise) after ``steps`` Adam steps
    of 64 MNIST training images each, trained in float32 (float64: the same weights, held
    in float64)."""
    params = init(list(layers), act=act, loss=loss, rng=np.random.default_rng(1))
    opt = Adam(lr=0.01)
    state = opt.init(params)
    for step in range(steps):
        x = mnist.train.images[step * 64 : (step + 1) * 64].astype(np.float32) / 255
        y = mnist.train.labels[step * 64 : (step + 1) * 64]
        params, state = opt.update(params, backward(params, forward(params, x, training=True), y), state)
    return tree_map(lambda a: a.astype(dtype), params)


def run(model: onnx.ModelProto, pixels: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["probabilities"], {"pixels": pixels})[0]


def assert_same_answers(got: np.ndarray, expected: np.ndarray) -> None:
    """Probabilities within TOLERANCE, and the same digit for every image whose two most
    probable digits are not tied: where purenet's top two are within float32 rounding of
    each other (1e-6; the one such image met among the 240,000 answers below is a tie at 7e-8),
    either of them is the same answer, since summing in another order may swap them."""
    assert np.abs(got - expected).max() <= TOLERANCE
    top2 = np.sort(expected, axis=1)[:, -2:]
    tied = top2[:, 1] - top2[:, 0] <= 1e-6
    differ = got.argmax(axis=1) != expected.argmax(axis=1)
    assert not (differ & ~tied).any(), np.flatnonzero(differ & ~tied)
    assert np.all(expected[differ, got.argmax(axis=1)[differ]] >= top2[differ, 1] - 1e-6)
    assert tied.sum() <= 2  # ties are rare: the check above is not emptied by them


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_onnxruntime_gives_purenets_answers_on_all_test_images(mnist, test_pixels, act, loss, dtype):
    params = trained(mnist, act, loss, dtype)
    model = to_onnx(params)
    onnx.checker.check_model(model, full_check=True)
    got, expected = run(model, test_pixels), predict(params, test_pixels)
    assert got.shape == (10_000, 10) and got.dtype == np.float32
    assert_same_answers(got, expected)
    assert (expected.argmax(axis=1) == mnist.test.labels).mean() > 0.2  # trained: far better than chance


CONVOLUTIONAL = [
    # "same" padding, stride 2 with an odd total padding, max and average pooling
    ((784, "conv4k5", "pool2", "conv6k3s2", "avgpool2", 12, 10), "relu"),
    # an even kernel without padding, a pool that crops (25 rows -> 8), a dropout layer, an explicit flatten
    ((784, "conv3k4valid", "maxpool3", "dropout0.3", "flatten", 10), "tanh"),
    # stride 2 without padding, then an even kernel with "same" padding (its odd row at the bottom)
    ((784, "conv5k3s2valid", "conv4k2", "pool2", 16, "dropout0.2", 10), "elu"),
    # BatchNorm per channel of an image and per unit of a vector
    ((784, "conv4k3", "bn", "pool2", "conv6k3", "bn", "pool2", 16, "bn", 10), "relu"),
]


def in_chunks(fn, pixels: np.ndarray, rows: int = 1000) -> np.ndarray:
    return np.concatenate([fn(pixels[i : i + rows]) for i in range(0, len(pixels), rows)])


@pytest.mark.slow
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("layers, act", CONVOLUTIONAL)
def test_convolutional_networks_give_purenets_answers_on_all_test_images(mnist, test_pixels, layers, act, loss):
    """Images travel the graph as ONNX's NCHW, purenet's as NHWC: the padding, the pools'
    cropping and the order of the flattened features must all come out the same."""
    params = trained(mnist, act, loss, steps=20, layers=layers)
    model = to_onnx(params)
    onnx.checker.check_model(model, full_check=True)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = in_chunks(lambda x: session.run(["probabilities"], {"pixels": x})[0], test_pixels)
    assert_same_answers(got, in_chunks(lambda x: predict(params, x), test_pixels))
    architecture = json.loads({prop.key: prop.value for prop in model.metadata_props}["architecture"])
    assert architecture["sizes"] == list(params.arch.layers)


@pytest.mark.parametrize("layers", [(784, "conv3k3", "bn", "pool4", 12, "bn", 10), (784, "bn", 16, "bn", 10)],
                         ids=["image-and-vector", "on-the-pixels"])
def test_batchnorm_exports_with_its_running_averages(mnist, test_pixels, layers):
    """ONNX BatchNormalization in inference mode gives purenet's forward(training=False), on
    running averages that 30 training steps have moved far from their start (0 and 1)."""
    params = trained(mnist, "relu", "ce", layers=layers)
    norms = [layer for layer in params.layers if type(layer).__name__ == "BatchNorm"]
    assert all(np.abs(layer.mean).max() > 0.05 and np.abs(layer.var - 1).max() > 0.05 for layer in norms)
    model = to_onnx(params)
    onnx.checker.check_model(model, full_check=True)
    assert sum(node.op_type == "BatchNormalization" for node in model.graph.node) == len(norms)
    pixels = test_pixels[:2000]
    expected = LOSSES["ce"].output(forward(params, pixels, training=False).logits)
    assert_same_answers(run(model, pixels), expected)
    assert (expected.argmax(axis=1) == mnist.test.labels[:2000]).mean() > 0.5


@pytest.mark.parametrize("batch", [1, 257])
def test_any_batch_size_runs(mnist, test_pixels, batch):
    params = trained(mnist, "relu", "ce")
    got = run(to_onnx(params), test_pixels[:batch])
    assert got.shape == (batch, 10)
    assert_same_answers(got, predict(params, test_pixels[:batch]))


def test_the_file_describes_its_input_output_and_origin(mnist):
    model = to_onnx(trained(mnist, "elu", "mse", steps=1))
    assert [o.version for o in model.opset_import if o.domain == ""] == [OPSET]
    (given,), (answer,) = model.graph.input, model.graph.output
    assert (given.name, answer.name) == ("pixels", "probabilities")
    assert [d.dim_param or d.dim_value for d in given.type.tensor_type.shape.dim] == ["batch", 784]
    assert [d.dim_param or d.dim_value for d in answer.type.tensor_type.shape.dim] == ["batch", 10]
    props = {p.key: p.value for p in model.metadata_props}
    assert props["purenet_version"] == "0.1.0" and "[0, 1]" in props["preprocessing"]
    assert json.loads(props["architecture"]) == {"sizes": [784, 32, 16, 10], "act": "elu", "loss": "mse",
                                                  "layers": ["Dense", "Dense", "Dense"], "trained_dtype": "float32"}


def test_a_layer_kind_without_an_exporter_is_named(mnist, monkeypatch):
    """(Dense taken out of the table stands for any kind nobody has written an exporter for.)"""
    from purenet.core.records import Dense

    monkeypatch.delitem(__import__("purenet.apps.export").apps.export.EXPORTERS, Dense)
    with pytest.raises(ExportError, match=r"^layer 0 \(Dense\): purenet cannot export this kind of layer to ONNX yet$"):
        to_onnx(trained(mnist, "relu", "ce", steps=1))


def test_an_activation_or_loss_without_an_onnx_form_is_named(mnist, monkeypatch):
    params = trained(mnist, "elu", "mse", steps=1)
    monkeypatch.delitem(__import__("purenet.apps.export").apps.export.ACTIVATION_NODES, "elu")
    with pytest.raises(ExportError, match=r"^layer 0 \(Dense\): the activation 'elu'"):
        to_onnx(params)
    monkeypatch.delitem(__import__("purenet.apps.export").apps.export.OUTPUTS, "mse")
    with pytest.raises(ExportError, match=r"the loss 'mse'"):
        to_onnx(trained(mnist, "relu", "mse", steps=1))


def test_save_replaces_only_an_onnx_model(mnist, tmp_path):
    model = to_onnx(trained(mnist, "relu", "ce", steps=1))
    target = tmp_path / "model.onnx"
    save_onnx(target, model)
    assert is_onnx_model(target)
    save_onnx(target, model)  # an ONNX model: replaced
    for name, content in [("notes.txt", b"my notes\n"), ("empty.onnx", b""), ("photo.png", b"\x89PNG\r\n\x1a\n....")]:
        (tmp_path / name).write_bytes(content)
        assert not is_onnx_model(tmp_path / name)
        with pytest.raises(WriteRefused, match=f"{name}: exists and is not an ONNX model"):
            save_onnx(tmp_path / name, model)
        assert (tmp_path / name).read_bytes() == content
    save_onnx(tmp_path / "notes.txt", model, force=True)
    assert is_onnx_model(tmp_path / "notes.txt")


# --- the command ---------------------------------------------------------------------------


def export(*args: str):
    result = CliRunner().invoke(app, ["export", *args])
    assert "Traceback" not in result.output
    return result


def test_the_command_writes_a_model_onnxruntime_runs(small_model, isolated, test_pixels):
    result = export(str(small_model), "-o", "small.onnx")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"small.onnx: ONNX opset {OPSET}, 784-64-10 relu, ce loss;")
    from purenet.runs.checkpoint import load

    expected = predict(load(small_model).model, test_pixels)
    got = run(onnx.load("small.onnx"), test_pixels)
    assert_same_answers(got, expected)


def test_the_command_refuses_in_one_line(small_model, isolated):
    Path("notes.txt").write_text("mine\n")
    cases = [
        ([str(small_model), "-o", "notes.txt"], "purenet: error: notes.txt: exists and is not an ONNX model; "
                                                "purenet will not replace it (choose another name, or add --force)"),
        (["missing.npz"], "purenet: error: missing.npz: no such checkpoint file"),
        (["notes.txt"], "purenet: error: notes.txt: not an .npz file (a purenet checkpoint is a zip archive of arrays)"),
        ([str(small_model), "-o", "no/such/folder/m.onnx"],
         "purenet: error: no/such/folder: no such folder, so purenet cannot write m.onnx"),
    ]
    for args, line in cases:
        result = export(*args)
        assert (result.exit_code, result.stderr) == (2, line + "\n"), args
    assert Path("notes.txt").read_text() == "mine\n" and not Path("model.onnx").exists()
    assert export(str(small_model), "-o", "notes.txt", "--force").exit_code == 0
    assert is_onnx_model("notes.txt")


def test_a_layer_it_cannot_export_is_one_line(small_model, isolated, monkeypatch):
    from purenet.core.records import Dense

    monkeypatch.delitem(__import__("purenet.apps.export").apps.export.EXPORTERS, Dense)
    result = export(str(small_model))
    assert result.exit_code == 2
    assert result.stderr == (f"purenet: error: {small_model}: layer 0 (Dense): "
                             "purenet cannot export this kind of layer to ONNX yet\n")
    assert not Path("model.onnx").exists()


def test_without_the_onnx_extra_the_command_says_how_to_install_it(small_model, isolated, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)  # `import onnx` now raises ImportError
    result = export(str(small_model))
    assert (result.exit_code, result.stderr) == (2, 'purenet: error: purenet export needs the onnx extra: '
                                                    'pip install "onnx>=1.14" "onnxruntime>=1.16"\n')


# --- docs/api.md's example ---------------------------------------------------------------------


def test_the_api_docs_onnxruntime_example_runs_and_gives_purenet_predicts_digit(small_model, isolated, mnist, capsys):
    import re

    from conftest import ROOT
    from PIL import Image

    section = (ROOT / "docs" / "api.md").read_text().split("### Run an exported model in onnxruntime\n", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    assert len([line for line in code.splitlines() if line.strip()]) <= 6
    Image.fromarray(255 - mnist.test.images[1].reshape(28, 28)).resize((200, 200)).save("digit.png")
    assert export(str(small_model), "-o", "model.onnx").exit_code == 0
    capsys.readouterr()
    exec(compile(code, "docs/api.md", "exec"), {})
    printed = capsys.readouterr().out
    result = CliRunner().invoke(app, ["predict", "--json", "--model", str(small_model), "digit.png"])
    assert printed == f"digit {json.loads(result.stdout)['digit']}\n" == "digit 2\n"


# --- signals: the file appears whole, or not at all -------------------------------------------------


def test_a_signal_just_after_the_temporary_file_is_created_leaves_nothing(tmp_path, monkeypatch):
    """A signal's handler runs between two bytecodes: also right after os.open returned the
    temporary file, before anything could note it. Ctrl-C (KeyboardInterrupt) stands for it."""
    import os

    from purenet.io.outputs import check_folder_writable
    from purenet.io.writing import atomic_write

    real_open = os.open

    def open_then_signal(*args, **kwargs):
        real_open(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "open", open_then_signal)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "model.onnx", lambda handle: handle.write(b"onnx"))
    with pytest.raises(KeyboardInterrupt):
        check_folder_writable(tmp_path)  # its probe file
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_sigterm_or_ctrl_c_during_export_leaves_the_old_file_or_the_whole_new_one(tmp_path):
    """Real processes, stopped at moments spread over an export of a 14 MB network: each ends
    with 143 (130) and one line, or 0; model.onnx is the old export or the new one, never a
    part of one, and no temporary file is left."""
    import signal
    import subprocess
    import time

    from serving import installed_purenet

    from purenet.core.optim import make_optimizer
    from purenet.runs.checkpoint import Checkpoint, save

    for name, sizes in (("small.npz", [784, 8, 10]), ("big.npz", [784, 1800, 1200, 10])):
        params = init(sizes, rng=np.random.default_rng(0))
        save(tmp_path / name, Checkpoint(params=params, opt_state=make_optimizer("sgd", 0.1).init(params), epoch=1,
                                         rng_state=np.random.default_rng(1).bit_generator.state))
    command = [installed_purenet(), "export", "big.npz", "-o", "model.onnx"]
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "PATH": "/usr/bin:/bin"}
    started = time.monotonic()
    assert subprocess.run(command, cwd=tmp_path, env=env, capture_output=True).returncode == 0
    whole, seconds = (tmp_path / "model.onnx").read_bytes(), time.monotonic() - started
    assert subprocess.run([*command[:2], "small.npz", "-o", "model.onnx"], cwd=tmp_path, env=env).returncode == 0
    old = (tmp_path / "model.onnx").read_bytes()
    for fraction, signum in [(0.4, signal.SIGTERM), (0.6, signal.SIGTERM), (0.75, signal.SIGINT), (0.85, signal.SIGTERM),
                             (0.95, signal.SIGTERM), (1.05, signal.SIGINT)]:
        (tmp_path / "model.onnx").write_bytes(old)
        child = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(fraction * seconds)
        child.send_signal(signum)
        out, err = child.communicate(timeout=60)
        shown = f"at {fraction} of {seconds:.2f} s: exit {child.returncode}\n{out}{err}"
        assert child.returncode in (0, 128 + signum) and "Traceback" not in err, shown
        if child.returncode:
            assert err.splitlines()[-1] == ("purenet: terminated" if signum == signal.SIGTERM else "purenet: interrupted"), shown
        assert (tmp_path / "model.onnx").read_bytes() in (old, whole), shown
        assert sorted(path.name for path in tmp_path.iterdir()) == ["big.npz", "model.onnx", "small.npz"], shown
