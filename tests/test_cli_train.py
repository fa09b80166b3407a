"""``purenet train`` end to end, through Typer's CliRunner and one real subprocess."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from purenet.cli.app import app
from purenet.runs.checkpoint import load as load_checkpoint

SMALL = ["--layers", "784,32,10", "--batch-size", "64"]


pytestmark = pytest.mark.usefixtures("isolated")


def run(*args: str):
    return CliRunner().invoke(app, ["train", *args])


def params_bytes(path: Path) -> list[bytes]:
    return [a.tobytes() for a in load_checkpoint(path).params.arrays()]


def test_plain_output_has_a_row_per_epoch(small_mnist_dir, tmp_path):
    result = run(*SMALL, "--epochs", "2", "--data", str(small_mnist_dir), "--out", "m.npz")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if "train acc" in line and "test acc" in line)
    rows = [line.split() for line in lines[header + 1 : header + 3]]
    assert [row[0] for row in rows] == ["1", "2"]
    assert all(row[-2].endswith("%") and row[-3] == "-" for row in rows)  # test acc; no val split
    assert "model saved to m.npz" in result.stdout
    assert (tmp_path / "m.npz").is_file()


def test_json_prints_only_json(small_mnist_dir):
    result = run(*SMALL, "--epochs", "2", "--data", str(small_mnist_dir), "--json", "--show-predictions", "3")
    assert result.exit_code == 0, result.output
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["event"] for o in objects] == ["epoch", "epoch", "summary"]
    assert objects[-1]["test_acc"] == objects[1]["test_acc"] > 0.5
    assert len(objects[-1]["predictions"]) == 3


def test_checkpoint_holds_history_and_settings(small_mnist_dir):
    assert run(*SMALL, "--epochs", "2", "--data", str(small_mnist_dir), "--optimizer", "momentum").exit_code == 0
    checkpoint = load_checkpoint("model.npz")
    assert checkpoint.epoch == 2 and len(checkpoint.history) == 2
    assert checkpoint.config.optimizer == "momentum" and checkpoint.config.lr == 0.05
    assert checkpoint.params.arch.layers == (784, 32, 10)
    assert len(checkpoint.opt_state.slots) == 1  # momentum's velocity


def test_label_smoothing_and_onecycle_reach_the_run_and_its_checkpoint(small_mnist_dir):
    common = [*SMALL, "--epochs", "2", "--data", str(small_mnist_dir), "--schedule", "onecycle", "--json"]
    plain, smoothed = run(*common, "--out", "plain.npz"), run(*common, "--label-smoothing", "0.2", "--out", "smoothed.npz")
    assert plain.exit_code == 0 and smoothed.exit_code == 0, plain.output + smoothed.output
    config, plain_config = load_checkpoint("smoothed.npz").config, load_checkpoint("plain.npz").config
    assert (config.schedule, config.label_smoothing, plain_config.label_smoothing) == ("onecycle", 0.2, 0.0)
    assert params_bytes("plain.npz") != params_bytes("smoothed.npz")  # the setting changed what was learned
    refused = run(*common, "--loss", "mse", "--label-smoothing", "0.1")
    assert refused.exit_code != 0 and "--label-smoothing needs the ce loss, not mse" in refused.stderr


def test_resume_is_bitwise_identical_to_an_uninterrupted_run(small_mnist_dir):
    data = ["--data", str(small_mnist_dir)]
    assert run(*SMALL, *data, "--epochs", "3", "--out", "straight.npz", "--val-fraction", "0.1").exit_code == 0
    assert run(*SMALL, *data, "--epochs", "1", "--out", "part.npz", "--val-fraction", "0.1").exit_code == 0
    resumed = run("--resume", "part.npz", "--epochs", "3", "--out", "part.npz")
    assert resumed.exit_code == 0, resumed.output
    assert params_bytes(Path("part.npz")) == params_bytes(Path("straight.npz"))
    assert [h["epoch"] for h in load_checkpoint("part.npz").history] == [1, 2, 3]


def test_another_seed_gives_another_model(small_mnist_dir):
    data = ["--data", str(small_mnist_dir), "--epochs", "1"]
    assert run(*SMALL, *data, "--out", "a.npz").exit_code == 0
    assert run(*SMALL, *data, "--out", "b.npz", "--seed", "1").exit_code == 0
    assert params_bytes(Path("a.npz")) != params_bytes(Path("b.npz"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--layers", "784,ten"], "--layers item 2, ten: not a layer"),
        (["--layers", "784"], "at least an input and an output"),
        (["--layers", "100,10"], "784 pixels but --layers starts with 100"),
        (["--layers", "784,5"], "labels go up to 9"),
        (["--act", "swish"], "--act 'swish' is not one of"),
        (["--optimizer", "rmsprop"], "--optimizer 'rmsprop' is not one of"),
        (["--data", "no/such/folder"], "no/such/folder: no such file or folder"),
        (["--resume", "missing.npz"], "missing.npz: no such checkpoint file"),
        (["--out", "no/such/dir/m.npz"], "no/such/dir: no such folder, so purenet cannot write m.npz"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(small_mnist_dir, args, message):
    result = run("--epochs", "1", "--data", str(small_mnist_dir), *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_a_bad_run_never_touches_an_existing_checkpoint(small_mnist_dir, tmp_path):
    keep = tmp_path / "model.npz"
    keep.write_bytes(b"precious")
    assert run("--layers", "100,10", "--data", str(small_mnist_dir)).exit_code == 2
    assert keep.read_bytes() == b"precious"


def test_resume_of_a_finished_run_says_so(small_mnist_dir):
    assert run(*SMALL, "--epochs", "1", "--data", str(small_mnist_dir)).exit_code == 0
    result = run("--resume", "model.npz", "--epochs", "1")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("purenet: error: model.npz already has 1 epoch (--epochs 1 asked for): "
                                     "nothing to do; to train further, ask for a total above 1")
    assert run("--resume", "model.npz", "--epochs", "1", "--dry-run").stderr == result.stderr  # a dry run refuses it too
    result = run("--resume", "model.npz")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("purenet: error: model.npz already has 1 epoch, and its run planned 1: nothing to do; "
                                     "to train further, give --epochs a total above 1")


def test_divergence_stops_with_a_clear_message(small_mnist_dir):
    result = run(*SMALL, "--epochs", "2", "--data", str(small_mnist_dir), "--optimizer", "sgd", "--lr", "1e30")
    assert result.exit_code == 3  # its own code: not a user mistake (docs/cli.md)
    assert "the loss became" in result.stderr and "smaller --lr" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "model.npz" not in result.stderr  # it wrote nothing: it names nothing
    assert not Path("model.npz").exists()


def test_ctrl_c_keeps_the_last_finished_epoch_and_exits_130(small_mnist_dir, monkeypatch):
    import purenet.runs.run as run_module  # the library's run drives the training loop

    real_train = run_module.train

    def interrupted_after_one_epoch(*args, **kwargs):
        for record in real_train(*args, **kwargs):
            yield record
            if type(record).__name__ == "EpochRecord":
                raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "train", interrupted_after_one_epoch)
    result = run(*SMALL, "--epochs", "3", "--data", str(small_mnist_dir))
    assert result.exit_code == 130
    assert result.stderr.strip() == "interrupted: model.npz holds epoch 1; continue with: purenet train --resume model.npz"
    assert load_checkpoint("model.npz").epoch == 1


def test_every_n_steps_prints_held_out_accuracy(small_mnist_dir):
    result = run(*SMALL, "--epochs", "1", "--data", str(small_mnist_dir), "--every", "20")
    assert result.exit_code == 0
    # 3,000 images at 64 a batch is 47 steps: reports at steps 20 and 40
    assert [line.split(":")[0] for line in result.stdout.splitlines() if "held-out accuracy" in line] == [
        "epoch 1 step 20", "epoch 1 step 40"
    ]


@pytest.mark.parametrize("every", [7, 13, 20, 50, 90, 100])
def test_every_nth_step_gets_its_line_whatever_n(small_mnist_dir, every):
    # 3,000 images at 8 a batch is 375 steps an epoch, and the bar moves every 7 steps: a line
    # must come at every multiple of N all the same, not only at those of both N and 7
    result = run("--layers", "784,16,10", "--batch-size", "8", "--epochs", "1", "--data", str(small_mnist_dir),
                 "--every", str(every), "--json")
    assert result.exit_code == 0, result.output
    steps = [event["step"] for event in map(json.loads, result.stdout.splitlines()) if event["event"] == "step"]
    assert steps == list(range(every, 376, every))


def test_progress_interval_divides_every():
    from purenet.cli.train import progress_interval

    assert progress_interval(7, 0) == 7
    for bar in (1, 7, 60, 1200):
        for every in (1, 2, 7, 13, 50, 97, 100, 1000, 10**6):
            interval = progress_interval(bar, every)
            assert 1 <= interval <= bar and every % interval == 0


def test_show_predictions_draws_digits(small_mnist_dir):
    result = run(*SMALL, "--epochs", "1", "--data", str(small_mnist_dir), "--show-predictions", "2")
    assert result.exit_code == 0
    header = next(line for line in result.stdout.splitlines() if line.startswith("2 random test digits (seed 0): "))
    wrong = int(header.rsplit(", ", 1)[1].split()[0])
    assert result.stdout.count("true ") == 2 + wrong and "█" in result.stdout  # the mistakes are drawn again


def installed_purenet() -> str:
    found = shutil.which("purenet", path=str(Path(sys.executable).parent)) or shutil.which("purenet")
    if found is None:
        pytest.fail("the purenet command is not installed (pip install -e .)")
    return found


@pytest.mark.slow
def test_the_installed_command_runs_in_a_real_process(small_mnist_dir, tmp_path):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    completed = subprocess.run(
        [installed_purenet(), "train", *SMALL, "--epochs", "1", "--data", str(small_mnist_dir), "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout.splitlines()[-1])
    assert summary["event"] == "summary" and summary["epochs"] == 1
    assert (tmp_path / "model.npz").is_file()
    assert np.isfinite(summary["test_acc"])


def test_the_progress_bar_shows_no_loss_before_the_first_step():
    # on a terminal the bar starts before any batch: it must not print "nan" (which reads as divergence)
    import io

    from rich.console import Console

    from purenet.cli.views import RichView

    view = RichView()
    view.console = Console(file=io.StringIO(), force_terminal=True, width=120)
    settings = {"layers": [784, 10], "act": "relu", "loss": "ce", "optimizer": "sgd", "lr": 0.1,
                "weight_decay": 0.0, "batch_size": 1, "seed": 0, "data": "d"}
    view.start(settings, 0, 2, 100)
    view.console.print(view.bar)
    shown = view.console.file.getvalue()
    assert "loss -" in shown and "nan" not in shown


def test_no_color_removes_colour_but_not_the_live_display(monkeypatch):
    import sys

    from purenet.cli.console import color_output, plain_output

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert (plain_output(), color_output()) == (False, True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert (plain_output(), color_output()) == (False, False)


def _colour_codes(drawn: str) -> list[str]:
    """The SGR sequences in ``drawn`` that set a colour (bold and cursor moves are not colour)."""
    import re

    colours = []
    for parameters in re.findall(r"\x1b\[([0-9;]*)m", drawn):
        codes = [int(code) for code in parameters.split(";") if code]
        if any(30 <= code <= 49 or 90 <= code <= 107 for code in codes):
            colours.append(parameters)
    return colours


def _run_on_a_terminal(args: list[str], tmp_path, extra_env: dict) -> str:
    """Run the installed ``purenet`` with stdout and stderr on a pseudo-terminal; return what it drew."""
    import os
    import pty
    import subprocess

    master, slave = pty.openpty()
    env = {name: value for name, value in os.environ.items() if name != "NO_COLOR"}
    env.update({"XDG_STATE_HOME": str(tmp_path / "state"), "COLUMNS": "100", **extra_env})
    process = subprocess.Popen([installed_purenet(), *args], stdout=slave, stderr=slave, cwd=tmp_path, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.wait(timeout=120) == 0
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow
def test_a_real_terminal_gets_the_live_table_and_no_color_keeps_it_without_colour(small_mnist_dir, tmp_path):
    args = ["train", "--data", str(small_mnist_dir), "--layers", "784,16,10", "--epochs", "2", "--out", "m.npz",
            "--show-predictions", "2"]
    rich = _run_on_a_terminal(args, tmp_path, {})
    assert "┏" in rich and "samples/s" in rich and _colour_codes(rich)  # the table, the bar, the digits' colours
    uncoloured = _run_on_a_terminal(args, tmp_path, {"NO_COLOR": "1"})
    assert "┏" in uncoloured and "samples/s" in uncoloured  # NO_COLOR: still the live table and the progress bar
    assert _colour_codes(uncoloured) == []
    assert "model saved to m.npz (epoch 2)" in uncoloured


def test_every_without_any_held_out_split_is_one_line_before_training(tmp_path, mnist):
    """A source with no test part and no --val-fraction leaves --every nothing to measure."""
    rows = np.column_stack([mnist.train.labels[:100], mnist.train.images[:100]]).astype(int)
    np.savetxt(tmp_path / "digits.csv", rows, fmt="%d", delimiter=",")
    result = run(*SMALL, "--epochs", "1", "--data", str(tmp_path / "digits.csv"), "--every", "1", "--out", "m.npz")
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"purenet: error: {tmp_path / 'digits.csv'}: has no test part and the run holds out "
                                          "no validation split, so --every has nothing to measure: add --val-fraction or "
                                          "leave --every out"]
    assert not Path("m.npz").exists()
    with_validation = run(*SMALL, "--epochs", "1", "--data", str(tmp_path / "digits.csv"), "--every", "1",
                          "--val-fraction", "0.2", "--out", "m.npz")
    assert with_validation.exit_code == 0, with_validation.output


def test_bare_purenet_prints_its_help_once(tmp_path):
    from purenet.cli.app import app as the_app

    in_process = CliRunner().invoke(the_app, [])
    assert in_process.exit_code == 0 and in_process.output.count("Usage:") == 1, in_process.output
    completed = subprocess.run([installed_purenet()], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                               env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")})
    assert completed.returncode == 0, completed.stderr
    assert (completed.stdout + completed.stderr).count("Usage:") == 1, completed.stdout + completed.stderr
    assert "train" in completed.stdout


@pytest.mark.parametrize("name", ["default", "best", "per-sample-sigmoid", "cnn", "cnn-best", "speedrun", "softmax-regression"])
def test_dry_run_shows_a_preset_s_settings_and_trains_nothing(name, tmp_path):
    from purenet.runs.config import RunConfig, preset

    as_json = run("--preset", name, "--dry-run", "--json", "--seed", "3")
    assert as_json.exit_code == 0, as_json.output
    assert RunConfig.from_json(json.loads(as_json.stdout)) == preset(name, seed=3)  # options typed win over the preset
    table = run("--preset", name, "--dry-run")
    assert table.exit_code == 0, table.output
    rows = {line.split()[0]: line.split()[1:] for line in table.stdout.splitlines()[1:] if line.strip()}
    assert rows["layers"] == [",".join(map(str, preset(name).layers))]
    assert rows["epochs"] == [str(preset(name).epochs)] and rows["out"] == ["model.npz"]
    assert sorted(os.listdir(tmp_path)) == []  # nothing written, not even the state folder


def test_dry_run_refuses_what_the_run_would_refuse(small_mnist_dir):
    result = run("--preset", "cnn", "--lr", "nan", "--dry-run")
    assert result.exit_code == 2 and result.stderr.startswith("purenet: error: --lr ")


def test_dry_run_refuses_a_network_the_memory_cannot_hold(monkeypatch):
    monkeypatch.setattr("purenet.runs.config.available_memory", lambda: 50 * 2**20)  # a machine with 50 MB free
    dry = run("--layers", "784,4096,4096,10", "--dry-run")
    assert (dry.exit_code == 2 and dry.stderr.startswith("purenet: error: --layers ")
            and len(dry.stderr.splitlines()) == 1), dry.output
    assert run("--layers", "784,16,10", "--dry-run").exit_code == 0  # a small one still fits


def test_plain_output_says_where_a_long_epoch_is_every_30_seconds(capsys):
    from purenet.cli.views import PlainView
    from purenet.core.training import Progress

    now = [0.0]
    view = PlainView(clock=lambda: now[0])
    with view.live():
        for step in range(1, 101):  # a step every 1.3 s of a fake clock: a line at 30 s, 60 s, 90 s...
            now[0] += 1.3
            view.progress(Progress(epoch=2, step=step, seen=64 * step, total=6400, loss=0.5, accuracy=0.9,
                                   seconds=now[0], params=None))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4  # 130 s of epoch: lines at 31.2, 62.4, 93.6 and 124.8 s
    assert lines[0] == "epoch 2: 24% (1,536 of 6,400 images), loss 0.5000, 49 samples/s"


def test_plain_progress_lines_go_to_stderr_and_the_table_stays_whole(small_mnist_dir, monkeypatch):
    monkeypatch.setattr("purenet.cli.views.PLAIN_PROGRESS_SECONDS", 0.0)  # a line at every progress record
    result = run(*SMALL, "--epochs", "2", "--data", str(small_mnist_dir))
    assert result.exit_code == 0, result.output
    progress = result.stderr.splitlines()
    assert progress and all(re.fullmatch(r"epoch [12]: \d+% \([\d,]+ of 3,000 images\), loss \d\.\d{4}, [\d,]+ samples/s", line)
                            for line in progress), progress
    assert "%" not in "".join(line for line in result.stdout.splitlines() if line.startswith("epoch"))


def _log_rows(path) -> list[dict]:
    import csv

    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_log_has_a_row_per_epoch_with_every_figure_and_resume_appends(small_mnist_dir):
    from purenet.cli.epochlog import FIELDS

    data = ["--data", str(small_mnist_dir), "--val-fraction", "0.1", "--schedule", "cosine"]
    assert run(*SMALL, *data, "--epochs", "2", "--log", "run.csv").exit_code == 0
    first = Path("run.csv").read_text()
    resumed = run("--resume", "model.npz", "--epochs", "3", "--log", "run.csv")
    assert resumed.exit_code == 0, resumed.output
    rows, history = _log_rows("run.csv"), load_checkpoint("model.npz").history
    assert Path("run.csv").read_text().startswith(first)  # the first run's rows, then the new one
    assert list(rows[0]) == list(FIELDS) and [int(row["epoch"]) for row in rows] == [1, 2, 3]
    steps = -(-2700 // 64)  # 3,000 images less a tenth held out, 64 a batch
    for row, figures in zip(rows, history):
        assert int(row["step"]) == figures["epoch"] * steps
        for name in ("loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "seconds", "eval_seconds"):
            assert float(row[name]) == figures[name]  # every digit kept
        assert 0 <= float(row["lr"]) <= 0.003 and row["stopped_early"] == "false" and 1 <= int(row["best_epoch"]) <= 3
    assert float(rows[0]["lr"]) > float(rows[1]["lr"])  # cosine


def test_log_without_a_validation_split_leaves_its_cells_empty(small_mnist_dir):
    assert run(*SMALL, "--epochs", "1", "--data", str(small_mnist_dir), "--log", "run.csv").exit_code == 0
    [row] = _log_rows("run.csv")
    assert row["val_acc"] == row["val_loss"] == row["best_epoch"] == "" and float(row["test_acc"]) > 0.5


def test_a_second_run_writing_the_same_log_is_refused(small_mnist_dir):
    from purenet.io.lock import OutputLock

    with OutputLock(Path("run.csv"), "--log"):  # as another run holds it
        result = run(*SMALL, "--epochs", "1", "--data", str(small_mnist_dir), "--log", "run.csv")
    assert result.exit_code == 2 and "choose another --log" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not Path("model.npz").exists() and not Path("run.csv").exists()


def test_pandas_reads_the_log(small_mnist_dir):
    pandas = pytest.importorskip("pandas")
    assert run(*SMALL, "--epochs", "2", "--data", str(small_mnist_dir), "--log", "run.csv").exit_code == 0
    frame = pandas.read_csv("run.csv")
    assert list(frame["epoch"]) == [1, 2] and frame["test_acc"].dtype.kind == "f" and not frame["stopped_early"].any()


def test_presets_lists_each_recipe_and_what_it_changes():
    from purenet.cli.app import app as the_app
    from purenet.runs.config import PRESETS, preset

    shown = CliRunner().invoke(the_app, ["presets"])
    assert shown.exit_code == 0, shown.output
    lines = {line.split()[0]: line for line in shown.stdout.splitlines()}
    assert list(lines) == list(PRESETS)
    assert "layers 784,conv20k5valid,maxpool2,conv40k5valid,maxpool2,100,10; epochs 12" in lines["cnn"]
    assert "formerly seed-92.7" in lines["per-sample-sigmoid"]
    as_json = CliRunner().invoke(the_app, ["presets", "--json"])
    assert json.loads(as_json.stdout) == {name: preset(name).to_json() for name in PRESETS}
