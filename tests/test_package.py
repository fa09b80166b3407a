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


def test_each_public_name_is_written_once_as_a_re_export():
    # purenet/__init__.py's TYPE_CHECKING imports are the one list: checkers read them, and the
    # lazy loading and __all__ are read from them. `name as name` is what marks a re-export for
    # pyright (and mypy --no-implicit-reexport): a plain import would hide the name from IDEs.
    imported = purenet._public()
    assert list(imported) == purenet.__all__ and len(set(purenet.__all__)) == len(purenet.__all__)
    import ast
    import inspect

    block = next(node for node in ast.parse(inspect.getsource(purenet)).body if isinstance(node, ast.If))
    aliases = [alias for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names]
    assert [alias.name for alias in aliases] == purenet.__all__
    assert all(alias.asname == alias.name for alias in aliases), [alias.name for alias in aliases if alias.asname != alias.name]
    assert set(purenet.__all__) <= set(dir(purenet))
