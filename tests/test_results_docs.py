"""docs/results.md shows the committed experiment results: every table as written, every linked file present."""

from __future__ import annotations

import pathlib
import re

import pytest

from golden.experiments import EXPERIMENTS

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "results.md"


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_doc_embeds_the_experiment_table(name):
    tables = sorted((ROOT / "results" / name).glob("*.md"))
    assert tables, f"results/{name}/ has no Markdown table; run python -m golden.experiments {name}"
    doc = DOC.read_text()
    for table in tables:
        assert table.read_text().strip() in doc, f"docs/results.md does not show {table.relative_to(ROOT)}"
    assert f"python -m golden.experiments {name}" in doc


def test_doc_links_existing_files():
    links = re.findall(r"\]\(\.\./(results/[^)]+)\)", DOC.read_text())
    assert len(links) >= 2 * len(EXPERIMENTS)  # a figure and a CSV per experiment at least
    for link in links:
        assert (ROOT / link).is_file(), link
