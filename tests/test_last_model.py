"""Which model `predict` and `evaluate` use when none is given.

./model.npz first (what is in front of the user), the remembered last model only when
there is none, the note saying which and why; a state file that is not one purenet
wrote is ignored without a traceback.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from purenet.cli.app import app
from purenet.cli.state import remember_model, state_file


@pytest.fixture
def here(isolated, mnist) -> Path:
    """The working folder, with a digit to predict."""
    Image.fromarray(255 - mnist.test.images[0].reshape(28, 28)).save(isolated / "seven.png")
    return isolated


def predict():
    return CliRunner().invoke(app, ["predict", "seven.png"])


def test_the_state_file_is_in_the_per_user_state_folder(here):
    assert state_file() == here / "state" / "purenet" / "last-model"  # XDG_STATE_HOME, as platformdirs reads it


def test_model_npz_in_the_current_folder_wins_over_the_remembered_one(here, small_model):
    elsewhere = here / "elsewhere"
    elsewhere.mkdir()
    remember_model(shutil.copy(small_model, elsewhere / "remembered.npz"))
    shutil.copy(small_model, here / "model.npz")
    result = predict()
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == ["using model.npz (found in the current folder)"]


def test_the_remembered_model_is_used_when_there_is_no_model_npz(here, small_model):
    remembered = shutil.copy(small_model, here / "remembered.npz")
    remember_model(Path(remembered))
    result = predict()
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"using {here / 'remembered.npz'} (the last model purenet train wrote; no model.npz in the current folder)"]


def test_train_remembers_what_it_wrote(here, small_mnist_dir):
    trained = CliRunner().invoke(app, ["train", "--layers", "784,16,10", "--epochs", "1", "--data", str(small_mnist_dir),
                                       "--out", "run.npz"])
    assert trained.exit_code == 0
    assert state_file().read_text() == f"{here / 'run.npz'}\n"


@pytest.mark.parametrize("content", [
    b"\xff\xfe\x00garbage\x89PNG",                    # binary
    b"relative/model.npz\n",                          # not absolute
    b"/" + b"a" * 10_000 + b"\n",                     # far longer than any state file purenet writes
    b"/tmp/x\x00y\n",                                 # a NUL byte: not a path
    b'{"last_model": "model.npz"}\n',                 # some other program's file
], ids=["binary", "relative", "huge", "nul", "foreign"])
def test_a_corrupt_or_foreign_state_file_is_ignored(here, content):
    state_file().parent.mkdir(parents=True)
    state_file().write_bytes(content)
    result = predict()
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "purenet: error: no model given, no model.npz in the current folder and none trained yet: "
        "run `purenet train` or give a checkpoint file"]
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_folder_where_the_state_file_should_be_is_ignored(here, small_model):
    state_file().mkdir(parents=True)
    shutil.copy(small_model, here / "model.npz")
    result = predict()
    assert result.exit_code == 0 and "found in the current folder" in result.stderr
    remember_model(here / "model.npz")  # cannot replace a folder: ignored, no traceback


@pytest.mark.parametrize("command", ["evaluate", "predict", "export", "serve"])
def test_a_remembered_model_deleted_since_is_named_not_taken_for_none_trained(here, small_model, command):
    remembered = Path(shutil.copy(small_model, here / "old-run.npz"))
    remember_model(remembered)
    remembered.unlink()
    args = {"predict": ["predict", "seven.png"]}.get(command, [command])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"purenet: error: no model given and no model.npz in the current folder; the last model purenet train wrote, "
        f"{remembered}, is gone (deleted or moved): give a checkpoint file or run `purenet train`"]


def test_every_command_that_reads_a_model_states_the_one_default_rule():
    """--help of evaluate, predict, export and serve, docs/cli.md and the README all say the rule the code follows."""
    import typer.main
    from conftest import ROOT

    from purenet.cli.state import DEFAULT_MODEL_RULE

    commands = typer.main.get_command(app).commands
    for name in ("evaluate", "predict", "export", "serve"):
        model = next(param for param in commands[name].params if param.name == "model")
        assert model.show_default == DEFAULT_MODEL_RULE, name
    rule = DEFAULT_MODEL_RULE.replace("else the", "else the").split(", else ")
    for doc in ("docs/cli.md", "README.md"):
        text = " ".join((ROOT / doc).read_text().replace("`", "").split())
        assert "default: the last model" not in text, doc
    cli_doc = " ".join((ROOT / "docs" / "cli.md").read_text().replace("`", "").split())
    for name in ("evaluate", "predict", "export", "serve"):
        section = cli_doc.split(f"## purenet {name}", 1)[1].split("## ", 1)[0]
        assert rule[0] in section and f"else {rule[1]}" in section, name
