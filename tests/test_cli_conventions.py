"""The command line behaves the way pip, uv or httpie users expect.

--version from the installed metadata, choices listed in --help, offered by completion,
forgiven their case and a typo answered with a suggestion; --help in panels without
Python type names; output that survives a terminal without block characters; "1 epoch".
"""

from __future__ import annotations

import os
import re
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest
from PIL import Image
from test_cli_train import installed_purenet
from typer.testing import CliRunner

from purenet.cli.app import app
from purenet.runs.settings import PRESET_ALIASES, RECIPES, SETTINGS, check_choices

pytestmark = pytest.mark.usefixtures("isolated")


def invoke(*args: str, **env: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **env})


@pytest.fixture
def captured(monkeypatch) -> dict:
    """Stop `purenet train` after parsing: the options it would run with."""
    seen: dict = {}

    def capture(request, explicit=frozenset()):
        seen.update(vars(request))

    monkeypatch.setattr("purenet.cli.train.run_train", capture)
    return seen


# --- --version and completion ------------------------------------------------------------------


def test_version_is_the_installed_metadata():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"purenet {version('purenet')}"


def test_the_package_version_is_the_metadata_too():
    import purenet

    assert purenet.__version__ == version("purenet")


def test_completion_offers_the_choices_of_an_option():
    env = {"_PURENET_COMPLETE": "complete_bash", "COMP_WORDS": "purenet train --optimizer n", "COMP_CWORD": "3"}
    completed = subprocess.run([installed_purenet()], env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert completed.stdout.split() == ["nesterov"]


def test_completion_can_be_installed():
    result = invoke("--help")
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout


# --- choices ------------------------------------------------------------------------------------


def offered(name: str) -> tuple[str, ...]:
    """The names an option offers: a setting's choices, or the recipes' names."""
    return tuple(RECIPES) if name == "preset" else SETTINGS[name].choices


@pytest.mark.parametrize("option, values", [
    ("--act", offered("act")), ("--loss", offered("loss")), ("--init", offered("init")),
    ("--optimizer", offered("optimizer")), ("--schedule", offered("schedule")), ("--augment", offered("augment")),
    ("--preset", offered("preset")),
])
def test_train_help_lists_each_choice(option, values):
    shown = invoke("train", "--help").stdout
    row = next(line for line in shown.splitlines() if f" {option} " in line)
    assert f"[{', '.join(values)}]" in row


@pytest.mark.parametrize("columns", ["80", "60", "100"])
def test_narrow_help_wraps_choices_between_values_never_inside_one(columns):
    # at 80 columns, [default|best|per-sample-sigm / oid|...] was split mid-word
    lines = invoke("train", "--help", COLUMNS=columns).stdout.splitlines()
    for option, values in [("--preset", offered("preset")), ("--act", offered("act")), ("--optimizer", offered("optimizer")),
                           ("--augment", offered("augment")), ("--init", offered("init"))]:
        first = next(i for i, line in enumerate(lines) if f" {option} " in line)
        block = " ".join(lines[first:first + 8])
        for value in values:
            assert re.search(rf"(?<![\w-]){re.escape(value)}(?![\w-])", block), f"{option} {value} is split at {columns} columns"


def test_the_listed_choices_are_the_library_s():
    # The command line lists what purenet.runs.settings offers, without numpy; the registries import it.
    from purenet.core.activations import ACTIVATIONS
    from purenet.core.layers import INIT_SCHEMES
    from purenet.core.losses import LOSSES
    from purenet.core.optim import OPTIMIZERS
    from purenet.core.schedules import SCHEDULES
    from purenet.runs import config
    from purenet.runs.config import AUGMENTATIONS, PRESETS

    pairs = [("act", ACTIVATIONS), ("loss", LOSSES), ("init", INIT_SCHEMES), ("optimizer", OPTIMIZERS),
             ("schedule", SCHEDULES), ("augment", AUGMENTATIONS), ("preset", PRESETS)]
    for name, library in pairs:
        assert sorted(offered(name)) == sorted(library)
    assert config.PRESET_ALIASES == PRESET_ALIASES


def test_a_name_missing_from_the_offered_list_stops_the_import():
    # what purenet.runs.config runs at import, given a registry that knows one name more
    check_choices({"act": SETTINGS["act"].choices})
    with pytest.raises(RuntimeError, match="offers act .* but the library knows .*swish"):
        check_choices({"act": (*SETTINGS["act"].choices, "swish")})
    with pytest.raises(RuntimeError, match="offers loss"):
        check_choices({"loss": ("ce",)})


@pytest.mark.parametrize("typed, option, meant", [
    ("Adam", "optimizer", "adam"), ("SIGMOID", "act", "sigmoid"), ("Cosine", "schedule", "cosine"),
    ("MSE", "loss", "mse"), ("Elastic", "augment", "elastic"), ("He", "init", "he"), ("BEST", "preset", "best"),
])
def test_a_choice_forgives_its_case(captured, typed, option, meant):
    result = invoke("train", f"--{option}", typed)
    assert result.exit_code == 0, result.output
    assert captured[option] == meant


def test_the_old_preset_name_still_works_but_is_not_listed(captured):
    result = invoke("train", "--preset", "seed-92.7")
    assert result.exit_code == 0 and captured["preset"] == "per-sample-sigmoid"
    assert "seed-92.7" not in invoke("train", "--help").stdout
    from purenet.runs.config import preset

    assert preset("seed-92.7") == preset("per-sample-sigmoid")


@pytest.mark.parametrize("args, suggested", [
    (["train", "--optimizer", "adm"], "adam"), (["train", "--act", "rellu"], "relu"),
    (["train", "--schedule", "cosin"], "cosine"), (["train", "--preset", "bset"], "best"),
    (["bench", "--act", "sigmod"], "sigmoid"),
])
def test_a_typo_in_a_choice_gets_a_suggestion_in_one_line(args, suggested):
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"purenet: error: {args[1]} '{args[2]}' is not one of ") and f"did you mean {suggested}?" in line
    assert "Traceback" not in result.output


def test_nothing_close_gets_no_suggestion():
    result = invoke("train", "--optimizer", "xyzzy")
    assert result.exit_code == 2 and "did you mean" not in result.stderr
    assert "sgd, momentum, nesterov, adam" in result.stderr


# --- help -----------------------------------------------------------------------------------------


def test_train_help_groups_its_options_in_panels():
    shown = invoke("train", "--help").stdout
    panels = re.findall(r"╭─ (\w+) ─", shown)
    assert panels[-6:] == ["Model", "Optimisation", "Regularisation", "Data", "Output", "Speed"]
    model = shown[shown.index("╭─ Model"):shown.index("╭─ Optimisation")]
    assert "--layers" in model and "--act" in model and "--optimizer" not in model


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["predict"], ["download"], ["bench"]])
def test_help_has_no_python_type_names(command):
    shown = invoke(*command, "--help").stdout
    assert re.findall(r"<(?:bool|list\[[^\]]*\]|str)>|\b(?:Path|NoneType)\b", shown) == []


# --- output on a terminal without block characters --------------------------------------------------


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "XDG_STATE_HOME": str(cwd / "state"), **env}
    return subprocess.run([installed_purenet(), *args], cwd=cwd, env=environment, capture_output=True, timeout=300)


def test_predict_show_falls_back_to_ascii(small_model, tmp_path, mnist):
    Image.fromarray(255 - mnist.test.images[0].reshape(28, 28)).save(tmp_path / "seven.png")
    done = _run(["predict", "--show", "--model", str(small_model), "seven.png"], tmp_path, PYTHONIOENCODING="ascii")
    assert done.returncode == 0, done.stderr.decode()
    drawn = done.stdout.decode("ascii")
    assert "seven.png: 7" in drawn and "#" in drawn


def test_train_show_predictions_falls_back_to_ascii(small_mnist_dir, tmp_path):
    args = ["train", "--layers", "784,16,10", "--epochs", "1", "--data", str(small_mnist_dir), "--show-predictions", "3"]
    done = _run(args, tmp_path, PYTHONIOENCODING="ascii")
    assert done.returncode == 0, done.stderr.decode()
    drawn = done.stdout.decode("ascii")
    assert "3 random test digits (seed 0)" in drawn and "#" in drawn


# --- counting ---------------------------------------------------------------------------------------


def test_one_epoch_is_singular(small_mnist_dir, tmp_path):
    args = ["train", "--layers", "784,16,10", "--epochs", "1", "--data", str(small_mnist_dir), "--out", str(tmp_path / "m.npz")]
    shown = invoke(*args).stdout
    assert "3000 training images, 1 epoch\n" in shown
    assert "1 epochs" not in shown


def test_counted():
    from purenet.base.words import counted

    assert [counted(n, "epoch") for n in (0, 1, 2)] == ["0 epochs", "1 epoch", "2 epochs"]
    assert counted(1, "training image") == "1 training image" and counted(2, "class", "classes") == "2 classes"
