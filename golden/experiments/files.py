"""Atomic writers for experiment results: each file appears whole or not at all."""

from __future__ import annotations

import contextlib
import csv
import os
import pathlib
import tempfile

from matplotlib.figure import Figure

__all__ = ["save_figure", "write_csv", "write_text"]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _replacing(path: pathlib.Path, mode: str):
    """Yield a temporary file next to ``path`` and move it onto ``path`` once it is complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    try:
        # mkstemp creates the file readable by its owner only; give it the usual permissions.
        os.chmod(handle, 0o666 & ~_current_umask())
        with os.fdopen(handle, mode, **({"newline": ""} if "b" not in mode else {})) as stream:
            yield stream
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_csv(path: pathlib.Path, header: list[str], rows: list[list]) -> pathlib.Path:
    """Write ``rows`` under ``header`` as CSV to ``path`` and return the path."""
    with _replacing(path, "w") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_text(path: pathlib.Path, text: str) -> pathlib.Path:
    """Write ``text`` to ``path`` and return the path."""
    with _replacing(path, "w") as stream:
        stream.write(text)
    return path


def save_figure(path: pathlib.Path, figure: Figure) -> pathlib.Path:
    """Save ``figure`` as PNG to ``path`` and return the path."""
    with _replacing(path, "wb") as stream:
        figure.savefig(stream, format="png", dpi=150, bbox_inches="tight")
    return path
