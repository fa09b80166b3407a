"""What to say when an optional extra (plot, onnx, serve) is missing: one form, true everywhere.

``pip install "purenet[onnx]"`` works only where purenet comes from a package index,
and ``pip install -e ".[onnx]"`` only in a checkout's root; naming the extra's own
packages works in both, and in any folder. So every hint is built here from the
installed metadata (pyproject.toml's ``optional-dependencies``, the one list):

    needs_extra("purenet export", "onnx")
    -> 'purenet export needs the onnx extra: pip install "onnx>=1.14" "onnxruntime>=1.16"'
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, requires


def extra_requirements(extra: str) -> list[str]:
    """The requirements (``"onnx>=1.14"``...) of purenet's optional ``extra``, as installed."""
    marker = re.compile(rf"""extra\s*==\s*["']{re.escape(extra)}["']""")
    try:
        declared = requires("purenet") or []
    except PackageNotFoundError:
        return []
    return [requirement.split(";", 1)[0].strip() for requirement in declared
            if ";" in requirement and marker.search(requirement.split(";", 1)[1])]


def install_hint(extra: str) -> str:
    """The command that installs ``extra``: ``pip install "onnx>=1.14" "onnxruntime>=1.16"``."""
    packages = extra_requirements(extra)
    if not packages:  # no installed metadata: purenet runs from a checkout that was never installed
        return f'pip install -e ".[{extra}]"'
    return "pip install " + " ".join(f'"{package}"' for package in packages)


def needs_extra(what: str, extra: str) -> str:
    """The one line saying that ``what`` needs ``extra``, and how to install it."""
    return f"{what} needs the {extra} extra: {install_hint(extra)}"
