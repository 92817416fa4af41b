"""Tests of ``golden.progress``: bars written into a log file stay short."""

from __future__ import annotations

import io

from golden.progress import LOG_INTERVAL_S, progress_bar


def test_file_bar_draws_start_and_end():
    log = io.StringIO()  # not a terminal, like a CI log or `make experiments > log`
    bar = progress_bar(range(5000), desc="work", file=log)
    for step in bar:
        bar.set_postfix(loss=f"{step:.3f}", refresh=False)
    bar.close()
    # every redraw starts with a carriage return: one at the start, one at the end
    assert log.getvalue().count("\r") <= 3, log.getvalue()[:300]
    assert "5000/5000" in log.getvalue()
    assert bar.mininterval == LOG_INTERVAL_S


def test_explicit_interval_wins():
    bar = progress_bar(range(3), file=io.StringIO(), mininterval=0.5)
    assert bar.mininterval == 0.5
    bar.close()


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_bar_on_a_terminal_keeps_tqdm_interval():
    bar = progress_bar(range(3), file=Terminal())
    assert bar.mininterval < 1
    bar.close()
