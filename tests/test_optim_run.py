"""A run builds its optimizer once: the one that made its starting state is the one that trains."""

from __future__ import annotations

import pytest

import purenet.runs.run as run_module
from purenet.core.training import EpochRecord
from purenet.runs.config import RunConfig
from purenet.runs.run import checkpoint_after, prepare, prepare_resumed


@pytest.fixture
def built(monkeypatch) -> list:
    """Every optimizer purenet.runs.run makes, in order."""
    made = []

    def counting(*args, **kwargs):
        made.append(make(*args, **kwargs))
        return made[-1]

    make = run_module.make_optimizer
    monkeypatch.setattr(run_module, "make_optimizer", counting)
    return made


@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_a_run_builds_its_optimizer_once(small_mnist_dir, built, optimizer):
    config = RunConfig(layers=(784, 16, 10), epochs=2, optimizer=optimizer, weight_decay=1e-4, augment=None,
                       data=str(small_mnist_dir))
    run = prepare(config)
    saved = run.initial_checkpoint
    for record in run.records():
        if isinstance(record, EpochRecord):
            saved = checkpoint_after(record, saved)
    assert built == [run.optimizer]
    assert run.optimizer.weight_decay == 1e-4 and run.optimizer.lr(0) == config.lr  # the run's schedule
    assert len(saved.opt_state.slots) == len(type(run.optimizer).SLOTS)
    assert saved.opt_state.step == 2 * run.steps_per_epoch

    resumed = prepare_resumed(saved, epochs=3)
    assert built == [run.optimizer, resumed.optimizer] and resumed.optimizer == run.optimizer  # the same schedule
