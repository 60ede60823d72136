"""Files shipped inside the package: the example queries and view SQL (``sql/``), the sample
feeds and the Alembic migrations.

They are found through :mod:`importlib.resources`, so a checkout and an installed wheel read
them the same way (in the repository, ``sentinel/sql`` and ``sentinel/sample_feeds`` are links
to ``sql/`` and ``examples/feeds/``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sentinel.errors import ConfigError


def packaged_dir(*parts: str) -> Path:
    """The directory ``sentinel/<parts>`` of the installed package, as a filesystem path."""
    where = resources.files("sentinel").joinpath(*parts)
    name = "/".join(("sentinel", *parts))
    if not isinstance(where, Path):  # a zipped install: pip never makes one
        raise ConfigError(f"{name} is inside an archive ({where}); install Sentinel as files "
                          "(pip install sentinel-*.whl)")
    if not where.is_dir():
        raise ConfigError(f"the installed package lacks {name} ({where}); reinstall it from a "
                          "wheel built from the repository (pip wheel . or python -m build)")
    return where
