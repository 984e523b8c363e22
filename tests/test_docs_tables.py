"""Documentation tables are generated from the code and must stay in sync."""

from pathlib import Path

from kerasopt.optimizers import defaults_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_optimizer_defaults_table_in_docs_matches_the_registry():
    assert defaults_markdown() in (DOCS / "optimizers.md").read_text()
