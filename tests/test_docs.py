"""The README documents what the code does."""

from __future__ import annotations

from pathlib import Path

from chatd.config import markdown_table

README = Path(__file__).parents[1] / "README.md"


def test_readme_configuration_table_matches_the_settings() -> None:
    assert markdown_table() in README.read_text()


def test_readme_shows_the_two_commands() -> None:
    text = README.read_text()
    assert "make run" in text
    assert "make test" in text
