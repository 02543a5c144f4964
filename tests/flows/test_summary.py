"""The backup summary artifact's row."""

from __future__ import annotations

from flows.summary import Summary


def test_row_reports_bytes_duration_and_the_rate_of_the_apparent_size() -> None:
    row = Summary(
        source_bytes=2_000_000_000,
        read_bytes=900_000_000,
        stored_bytes=400_000_000,
        reused_bytes=100_000_000,
        seconds=4.0,
    ).row("b1")
    assert row == {
        "backup": "b1",
        "source_bytes": 2_000_000_000,
        "read_bytes": 900_000_000,
        "stored_bytes": 400_000_000,
        "reused_bytes": 100_000_000,
        "seconds": 4.0,
        "throughput_mb_s": 500.0,
    }


def test_an_instant_backup_has_no_rate_rather_than_a_division_by_zero() -> None:
    assert Summary(1, 1, 1, 0, 0.0).row("b")["throughput_mb_s"] == 0.0
