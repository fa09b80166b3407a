"""``purenet evaluate`` through Typer's CliRunner."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import write_idx
from typer.testing import CliRunner

from purenet.cli.app import app
from purenet.runs.checkpoint import load as load_checkpoint

pytestmark = pytest.mark.usefixtures("isolated")


def run(*args: str):
    return CliRunner().invoke(app, ["evaluate", *args])


def test_json_accuracy_matches_the_training_record(small_model):
    result = run(str(small_model), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["accuracy"] == pytest.approx(load_checkpoint(small_model).history[-1]["test_acc"])
    confusion = np.array(report["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == report["samples"] == 1000
    assert np.trace(confusion) / confusion.sum() == pytest.approx(report["accuracy"])


def test_table_shows_accuracy_and_confusion(small_model):
    result = run(str(small_model))
    assert result.exit_code == 0
    assert "accuracy" in result.stdout and "confusion matrix" in result.stdout
    assert len([line for line in result.stdout.splitlines() if line.strip().startswith(("│", "|"))]) >= 10


def test_default_model_is_the_last_trained(small_mnist_dir):
    trained = CliRunner().invoke(app, ["train", "--layers", "784,16,10", "--epochs", "1", "--data", str(small_mnist_dir), "--out", "last.npz"])
    assert trained.exit_code == 0
    result = run("--json")
    assert result.exit_code == 0
    assert "last.npz (the last model purenet train wrote; no model.npz in the current folder)" in result.stderr


def test_no_model_at_all_is_a_clear_error():
    result = run()
    assert result.exit_code == 2 and "no model given" in result.stderr


@pytest.mark.parametrize("content", [b"", b"not a zip"])
def test_a_bad_model_file_exits_2(tmp_path, content):
    (tmp_path / "bad.npz").write_bytes(content)
    result = run("bad.npz")
    assert result.exit_code == 2 and "bad.npz" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_data_of_another_size_exits_2(small_model, tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", np.zeros((5, 8, 8), np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.arange(5, dtype=np.uint8))
    result = run(str(small_model), "--data", str(folder))
    assert result.exit_code == 2
    assert "64 pixels but the model expects 784" in result.stderr


@pytest.mark.slow
def test_report_writes_four_pictures(small_model, tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    result = run(str(small_model), "--report", str(tmp_path / "report"))
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "report").iterdir())
    assert names == ["classes.png", "confusion.png", "curves.png", "misclassified.png"]
    for name in names:
        with Image.open(tmp_path / "report" / name) as picture:
            assert picture.format == "PNG" and min(picture.size) > 200


def test_report_without_matplotlib_says_how_to_get_it(small_model, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.split(".")[0] == "matplotlib":
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    result = run(str(small_model), "--report", str(tmp_path / "report"))
    assert result.exit_code == 2
    from purenet.cli.extras import needs_extra

    assert result.stderr == f"purenet: error: {needs_extra('purenet evaluate --report', 'plot')}\n"
    assert 'pip install "matplotlib>=' in result.stderr
    assert not (tmp_path / "report").exists()
