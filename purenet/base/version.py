"""The installed version of purenet: pyproject.toml's, as the package metadata has it.

Any floor may ask for it (an exported model records it); the facade's
``purenet.__version__`` is the public name.
"""

from __future__ import annotations

import functools


@functools.cache  # the metadata takes a tenth of a second to load: read it once, on first use
def installed_version() -> str:
    """The version in the installed metadata, the one source of truth; "0+unknown" in a
    checkout that was never installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("purenet")
    except PackageNotFoundError:
        return "0+unknown"
