"""The README's Semantics section and ``tcfs/fs/SEMANTICS.md`` are one text."""

from __future__ import annotations

from tests.fs import semantics_doc


def test_readme_semantics_section_is_generated_from_the_semantics_doc() -> None:
    readme = semantics_doc.README.read_text()
    expected = semantics_doc.section(semantics_doc.SOURCE.read_text())
    assert semantics_doc.current(readme) == expected, "run `make docs`"


def test_the_generator_demotes_headings_and_keeps_the_text() -> None:
    out = semantics_doc.section("# Title\n\nIntro.\n\n## Part\n\nText `#` here.\n")
    assert out.startswith(semantics_doc.HEADING)
    assert "### Part\n\nText `#` here.\n" in out
    assert "Title" not in out and "Intro." in out
