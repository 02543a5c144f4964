"""The rebuild-catalog flow's artifact text (the flow itself runs in tests/e2e)."""

from __future__ import annotations

from flows.rebuild import summary_markdown


def test_summary_is_a_markdown_table_with_what_happened() -> None:
    counts = {"found": 3, "inserted": 2, "existing": 1, "unreadable": 1}
    text = summary_markdown(counts, ["a", "b"], {"c": "manifest checksum mismatch"})
    lines = text.splitlines()
    assert lines[:4] == ["# Catalog rebuild", "", "| backups | count |", "|---|---:|"]
    assert "| inserted | 2 |" in lines and "| unreadable | 1 |" in lines
    assert "- `a`" in lines and "- `c`: manifest checksum mismatch" in lines


def test_summary_lists_a_bounded_number_of_ids() -> None:
    ids = [f"id-{n}" for n in range(120)]
    text = summary_markdown({"inserted": 120}, ids, {})
    assert "- `id-49`" in text and "- `id-50`" not in text and "… and 70 more" in text
    assert "Unreadable" not in text
