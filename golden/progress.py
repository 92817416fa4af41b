"""Progress bars: tqdm, redrawn live on a terminal and at most every 30 seconds into a log file."""

from __future__ import annotations

import sys

from tqdm import tqdm

__all__ = ["LOG_INTERVAL_S", "progress_bar"]

# Seconds between two progress lines when the bar writes to a file or a pipe (CI logs, `make ... > log`).
LOG_INTERVAL_S = 30.0


def progress_bar(iterable=None, **options) -> tqdm:
    """Return ``tqdm(iterable, **options)``; when its stream is not a terminal it redraws at most every 30 seconds.

    Callers that change the postfix each iteration pass ``refresh=False`` to
    ``set_postfix``, so that the postfix waits for the next redraw.
    """
    stream = options.get("file") or sys.stderr
    if not stream.isatty():
        options.setdefault("mininterval", LOG_INTERVAL_S)
    return tqdm(iterable, **options)
