"""The package's face: its public names, and a start-up that stays light."""

import subprocess
import sys

import purenet


def test_every_public_name_resolves_to_its_module_object():
    namespace: dict = {}
    exec("from purenet import *", namespace)
    for name in purenet.__all__:
        assert namespace[name] is getattr(purenet, name)
    assert callable(namespace["train"]), "purenet.train is the training function, not a module"


def test_unknown_name_is_an_attribute_error():
    try:
        purenet.no_such_thing  # noqa: B018
    except AttributeError as error:
        assert "no_such_thing" in str(error)
    else:
        raise AssertionError("expected AttributeError")


def test_the_cli_starts_without_numpy():
    # `purenet --help` must stay fast: the command module may import typer, not the library.
    code = "import sys, purenet.cli.app; print(sorted(m for m in ('numpy', 'rich.table', 'PIL') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
