"""Retention planning: restic-like keep rules, whole-chain expiry, foreign chains, the floor."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from storage.retention import (
    FAILED,
    FOREIGN,
    IN_PROGRESS,
    UNKEPT,
    BackupPoint,
    Decision,
    Plan,
    Rules,
    plan,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def at(text: str) -> datetime:
    """A UTC time from an ISO string without offset."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def bp(
    backup_id: str,
    when: str | datetime | None = None,
    parent: str | None = None,
    *,
    good: bool = True,
    by_policy: bool = True,
) -> BackupPoint:
    """A backup point; `when` defaults to the id read as a UTC time."""
    moment = when if isinstance(when, datetime) else at(when or backup_id)
    return BackupPoint(backup_id, parent, moment, good, by_policy)


def every(start: str, end: str, step: timedelta) -> Iterator[datetime]:
    """UTC times from start to end inclusive."""
    moment, last = at(start), at(end)
    while moment <= last:
        yield moment
        moment += step


def flat(times: Sequence[datetime]) -> list[BackupPoint]:
    """Unchained good policy backups named by their UTC minute."""
    return [bp(t.strftime("%Y-%m-%dT%H:%M"), t) for t in times]


# Daily backups at 23:30 UTC since mid-2023, then hourly ones for the last two weeks:
# the history spans hours, days, ISO weeks (2025-W01 starts on 2024-12-30), months and years.
HISTORY = flat(
    [*every("2023-06-01T23:30", "2024-12-19T23:30", DAY)]
    + [*every("2024-12-20T00:30", "2025-01-02T05:30", HOUR)]
)
NOW = at("2025-01-02T06:00")
NEWEST = "2025-01-02T05:30"

RULE_CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("last", {"keep_last": 3}, {NEWEST, "2025-01-02T04:30", "2025-01-02T03:30"}),
    ("hourly", {"keep_hourly": 2}, {NEWEST, "2025-01-02T04:30"}),
    ("daily", {"keep_daily": 3}, {NEWEST, "2025-01-01T23:30", "2024-12-31T23:30"}),
    # 23:30 UTC is the next day in Berlin: Jan 1 ends (local) at 23:00 UTC.
    ("daily-berlin", {"keep_daily": 2, "tz": "Europe/Berlin"}, {NEWEST, "2025-01-01T22:30"}),
    # +05:30: Jan 2 (local) starts at 18:30 UTC on Jan 1.
    ("daily-kolkata", {"keep_daily": 2, "tz": "Asia/Kolkata"}, {NEWEST, "2025-01-01T17:30"}),
    # -08:00: now is still Jan 1 (local); Dec 31 (local) ends at 08:00 UTC on Jan 1.
    ("daily-la", {"keep_daily": 2, "tz": "America/Los_Angeles"}, {NEWEST, "2025-01-01T07:30"}),
    ("weekly", {"keep_weekly": 3}, {NEWEST, "2024-12-29T23:30", "2024-12-22T23:30"}),
    ("monthly", {"keep_monthly": 3}, {NEWEST, "2024-12-31T23:30", "2024-11-30T23:30"}),
    ("monthly-berlin", {"keep_monthly": 2, "tz": "Europe/Berlin"}, {NEWEST, "2024-12-31T22:30"}),
    ("yearly", {"keep_yearly": 3}, {NEWEST, "2024-12-31T23:30", "2023-12-31T23:30"}),
    # Only three years hold a backup; empty ones do not use up slots.
    ("yearly-more", {"keep_yearly": 9}, {NEWEST, "2024-12-31T23:30", "2023-12-31T23:30"}),
    ("yearly-berlin", {"keep_yearly": 2, "tz": "Europe/Berlin"}, {NEWEST, "2024-12-31T22:30"}),
    # Strictly newer than now - 3h: the 03:00 cut-off itself would not count.
    ("within", {"keep_within": 3 * HOUR}, {NEWEST, "2025-01-02T04:30", "2025-01-02T03:30"}),
    ("within-2h30", {"keep_within": timedelta(hours=2, minutes=30)}, {NEWEST, "2025-01-02T04:30"}),
    (
        "union",
        {"keep_last": 1, "keep_daily": 2, "keep_monthly": 2},
        {NEWEST, "2025-01-01T23:30", "2024-12-31T23:30"},
    ),
]


@pytest.mark.parametrize(
    ("rules", "kept"), [c[1:] for c in RULE_CASES], ids=[c[0] for c in RULE_CASES]
)
def test_rules_select_like_restic(rules: dict[str, Any], kept: set[str]) -> None:
    result = plan(HISTORY, Rules(**rules), NOW)
    assert result.kept_ids == kept
    assert len(result.expired) == len(HISTORY) - len(kept)
    assert {d.reason for d in result.expired} == {UNKEPT}


def test_reason_lists_every_rule_in_order() -> None:
    rules = Rules(
        keep_last=2,
        keep_hourly=1,
        keep_daily=2,
        keep_weekly=1,
        keep_monthly=1,
        keep_yearly=2,
        keep_within=timedelta(hours=1, minutes=30),
    )
    assert plan(HISTORY, rules, NOW).kept == [
        Decision(
            NEWEST,
            "last 1, hourly 2025-01-02T05:00+00:00, daily 2025-01-02, weekly 2025-W01, "
            "monthly 2025-01, yearly 2025, within 1h30m",
        ),
        # Exactly at now - 1h30m: not within.
        Decision("2025-01-02T04:30", "last 2"),
        Decision("2025-01-01T23:30", "daily 2025-01-01"),
        Decision("2024-12-31T23:30", "yearly 2024"),
    ]


def test_bucket_reasons_are_local() -> None:
    kept = plan(HISTORY, Rules(keep_daily=2, keep_hourly=1, tz="Europe/Berlin"), NOW).kept
    assert kept == [
        Decision(NEWEST, "hourly 2025-01-02T06:00+01:00, daily 2025-01-02"),
        Decision("2025-01-01T22:30", "daily 2025-01-01"),
    ]


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(days=7), "7d"),
        (timedelta(days=1, hours=12), "1d12h"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(milliseconds=500), "0.5s"),
        (timedelta(days=400, seconds=1), "400d1s"),
    ],
)
def test_within_reason_is_compact(span: timedelta, text: str) -> None:
    newest = plan(HISTORY, Rules(keep_within=span), at(NEWEST)).kept[0]
    assert newest == Decision(NEWEST, f"within {text}")


def test_buckets_without_backups_do_not_count() -> None:
    backups = [bp(t) for t in ("2025-01-10T12:00", "2025-01-05T12:00", "2025-01-01T12:00")]
    backups.append(bp("2024-12-01T12:00"))
    result = plan(backups, Rules(keep_daily=3), at("2025-02-01T00:00"))
    assert result.kept_ids == {"2025-01-10T12:00", "2025-01-05T12:00", "2025-01-01T12:00"}
    assert result.expired_ids == {"2024-12-01T12:00"}


def test_dst_fall_back_repeats_an_hour() -> None:
    # Berlin leaves summer time at 01:00 UTC on 2025-10-26: 00:30Z and 01:30Z both read 02:30.
    backups = [bp(t) for t in ("2025-10-25T23:30", "2025-10-26T00:30", "2025-10-26T01:30")]
    now = at("2025-10-26T02:00")
    hourly = plan(backups, Rules(keep_hourly=2, tz="Europe/Berlin"), now)
    assert hourly.kept == [
        Decision("2025-10-26T01:30", "hourly 2025-10-26T02:00+01:00"),
        Decision("2025-10-26T00:30", "hourly 2025-10-26T02:00+02:00"),
    ]
    daily = plan(backups, Rules(keep_daily=1, tz="Europe/Berlin"), now)
    assert daily.kept_ids == {"2025-10-26T01:30"}


def test_failed_and_foreign_backups_take_no_slots() -> None:
    backups = [
        bp("good", "2025-01-01T10:00"),
        bp("failed", "2025-01-01T11:00", good=False),
        bp("foreign", "2025-01-01T12:00", by_policy=False),
        bp("old", "2025-01-01T09:00"),
    ]
    result = plan(backups, Rules(keep_last=1), at("2025-01-02T00:00"))
    assert result.kept == [Decision("foreign", FOREIGN), Decision("good", "last 1")]
    assert result.expired == [Decision("failed", FAILED), Decision("old", UNKEPT)]


def test_ties_on_created_at_break_by_id() -> None:
    backups = [bp(i, "2025-01-01T10:00") for i in ("b", "a", "c")]
    result = plan(backups, Rules(keep_last=1), at("2025-01-02T00:00"))
    assert result.kept == [Decision("c", "last 1")]
    assert [d.backup_id for d in result.expired] == ["b", "a"]


# --- chains -----------------------------------------------------------------------------


def day_chains(days: int, *, linear: bool) -> list[BackupPoint]:
    """A full at 00:00 each day from 2025-03-01 and incrementals 01:00..23:00.

    Linear: each incremental's parent is the previous backup; otherwise the day's full.
    """
    backups: list[BackupPoint] = []
    for day in range(1, days + 1):
        full = f"d{day}-h00"
        backups.append(bp(full, f"2025-03-{day:02d}T00:00"))
        for hour in range(1, 24):
            parent = f"d{day}-h{hour - 1:02d}" if linear else full
            backups.append(bp(f"d{day}-h{hour:02d}", f"2025-03-{day:02d}T{hour:02d}:00", parent))
    return backups


def day_ids(day: int) -> set[str]:
    return {f"d{day}-h{hour:02d}" for hour in range(24)}


CHAIN_NOW = at("2025-03-05T00:00")


def test_linear_chains_are_kept_and_expired_whole() -> None:
    result = plan(day_chains(4, linear=True), Rules(keep_daily=2), CHAIN_NOW)
    assert result.kept_ids == day_ids(4) | day_ids(3)
    assert result.expired_ids == day_ids(2) | day_ids(1)
    assert result.roots_to_delete == ["d2-h00", "d1-h00"]
    reasons = {d.backup_id: d.reason for d in result.kept}
    assert reasons["d4-h23"] == "daily 2025-03-04"
    assert reasons["d4-h00"] == reasons["d4-h22"] == "needed by d4-h23"


def test_kept_incremental_keeps_its_full() -> None:
    result = plan(day_chains(4, linear=False), Rules(keep_daily=2), CHAIN_NOW)
    assert result.kept == [
        Decision("d4-h23", "daily 2025-03-04"),
        Decision("d4-h00", "needed by d4-h23"),
        Decision("d3-h23", "daily 2025-03-03"),
        Decision("d3-h00", "needed by d3-h23"),
    ]
    # Each unkept incremental of a kept full is its own root; older chains go from their full.
    expected_roots = {f"d{d}-h{h:02d}" for d in (3, 4) for h in range(1, 23)} | {"d1-h00", "d2-h00"}
    assert set(result.roots_to_delete) == expected_roots
    assert len(result.roots_to_delete) == len(expected_roots)


def test_failed_tail_expires_and_chain_up_to_kept_stays() -> None:
    backups = day_chains(1, linear=True)
    # Every backup from 06:00 on failed: keep_last 1 picks 05:00, which needs 00:00..04:00.
    tail = [bp(p.id, p.created_at, p.parent_id, good=p.created_at.hour < 6) for p in backups]
    result = plan(tail, Rules(keep_last=1), at("2025-03-02T00:00"))
    assert result.kept_ids == {f"d1-h{h:02d}" for h in range(6)}
    assert result.roots_to_delete == ["d1-h06"]
    assert {d.reason for d in result.expired} == {FAILED}


def test_failed_leaf_under_kept_chain_is_expired() -> None:
    backups = [
        bp("full", "2025-01-01T00:00"),
        bp("i1", "2025-01-01T01:00", "full"),
        bp("i2", "2025-01-01T02:00", "i1"),
        bp("i3", "2025-01-01T03:00", "i2", good=False),
    ]
    result = plan(backups, Rules(keep_last=1), at("2025-01-02T00:00"))
    assert result.kept == [
        Decision("i2", "last 1"),
        Decision("i1", "needed by i2"),
        Decision("full", "needed by i2"),
    ]
    assert result.expired == [Decision("i3", FAILED)]
    assert result.roots_to_delete == ["i3"]


def test_failed_ancestor_of_kept_is_kept() -> None:
    backups = [
        bp("full", "2025-01-01T00:00"),
        bp("i1", "2025-01-01T01:00", "full", good=False),
        bp("i2", "2025-01-01T02:00", "i1"),
    ]
    result = plan(backups, Rules(keep_last=1), at("2025-01-02T00:00"))
    assert result.kept[1] == Decision("i1", "needed by i2")
    assert result.expired == []


def test_unkept_chain_under_failed_full_expires_whole() -> None:
    backups = [
        bp("new", "2025-01-02T00:00"),
        bp("full", "2025-01-01T00:00", good=False),
        bp("i1", "2025-01-01T01:00", "full"),
    ]
    result = plan(backups, Rules(keep_last=1), at("2025-01-03T00:00"))
    assert result.expired == [Decision("i1", UNKEPT), Decision("full", FAILED)]
    assert result.roots_to_delete == ["full"]


def test_parent_outside_the_input_makes_a_root() -> None:
    backups = [bp("new", "2025-01-02T00:00"), bp("orphan", "2025-01-01T00:00", "elsewhere")]
    result = plan(backups, Rules(keep_last=1), at("2025-01-03T00:00"))
    assert result.roots_to_delete == ["orphan"]


def test_deep_chain_does_not_recurse() -> None:
    start = at("2020-01-01T00:00")
    backups = [bp("b0", start)] + [
        bp(f"b{i}", start + i * HOUR, f"b{i - 1}", good=i < 4000) for i in range(1, 5000)
    ]
    result = plan(backups, Rules(keep_last=1), at("2021-01-01T00:00"))
    assert len(result.kept) == 4000
    assert result.roots_to_delete == ["b4000"]


# --- foreign backups --------------------------------------------------------------------


def test_chain_holding_a_foreign_backup_is_kept_whole() -> None:
    backups = [
        bp("f2", "2025-01-05T00:00"),
        bp("f1", "2025-01-01T00:00"),
        bp("i1", "2025-01-01T01:00", "f1"),
        bp("x", "2025-01-01T02:00", "i1", by_policy=False),
        bp("i2", "2025-01-01T03:00", "x", good=False),
        bp("j1", "2025-01-01T04:00", "f1"),
        bp("other", "2024-12-01T00:00"),
    ]
    result = plan(backups, Rules(keep_last=1), at("2025-01-06T00:00"))
    assert result.kept == [
        Decision("f2", "last 1"),
        Decision("j1", "shares a chain with x"),
        Decision("i2", "shares a chain with x"),
        Decision("x", FOREIGN),
        Decision("i1", "needed by x"),
        Decision("f1", "needed by x"),
    ]
    assert result.expired == [Decision("other", UNKEPT)]


def test_foreign_root_keeps_policy_descendants() -> None:
    backups = [
        bp("new", "2025-01-05T00:00"),
        bp("g", "2025-01-01T00:00", by_policy=False, good=False),
        bp("k1", "2025-01-01T01:00", "g", good=False),
        bp("k2", "2025-01-01T02:00", "k1"),
    ]
    result = plan(backups, Rules(keep_last=1), at("2025-01-06T00:00"))
    assert result.expired == []
    assert Decision("g", FOREIGN) in result.kept


# --- floor ------------------------------------------------------------------------------

OLD = [bp(f"2024-01-0{d}T00:00") for d in range(1, 6)]
LATER = at("2025-01-01T00:00")


def test_floor_keeps_the_newest_good_when_rules_expire_all() -> None:
    result = plan(OLD, Rules(keep_within=timedelta(seconds=1)), LATER)
    assert result.kept == [Decision("2024-01-05T00:00", "floor 1")]
    assert len(result.expired) == 4


def test_floor_three_keeps_three() -> None:
    result = plan(OLD, Rules(keep_within=timedelta(seconds=1), floor=3), LATER)
    assert [d.reason for d in result.kept] == ["floor 3"] * 3
    assert result.kept_ids == {f"2024-01-0{d}T00:00" for d in (3, 4, 5)}


def test_floor_counts_ancestors_kept_with_a_pick() -> None:
    chain = [bp("c0", "2024-01-01T00:00")]
    chain += [bp(f"c{i}", f"2024-01-0{i + 1}T00:00", f"c{i - 1}") for i in range(1, 5)]
    result = plan(
        chain + [bp("lone", "2023-01-01T00:00")],
        Rules(keep_last=0, keep_within=DAY, floor=3),
        LATER,
    )
    assert result.kept[0] == Decision("c4", "floor 3")
    assert result.kept_ids == {f"c{i}" for i in range(5)}
    assert result.expired_ids == {"lone"}


def test_floor_does_not_count_failed_ancestors() -> None:
    backups = [
        bp("a", "2024-01-01T00:00"),
        bp("full", "2024-01-02T00:00", good=False),
        bp("i1", "2024-01-03T00:00", "full"),
    ]
    result = plan(backups, Rules(keep_within=timedelta(seconds=1), floor=2), LATER)
    assert result.kept == [
        Decision("i1", "floor 2"),
        Decision("full", "needed by i1"),
        Decision("a", "floor 2"),
    ]


def test_floor_skips_failed_and_foreign() -> None:
    backups = [
        bp("failed", "2024-02-01T00:00", good=False),
        bp("foreign", "2024-01-20T00:00", by_policy=False),
        *OLD,
    ]
    result = plan(backups, Rules(keep_within=timedelta(seconds=1)), LATER)
    assert result.kept == [Decision("foreign", FOREIGN), Decision("2024-01-05T00:00", "floor 1")]
    assert Decision("failed", FAILED) in result.expired


def test_floor_larger_than_history_keeps_all_good() -> None:
    backups = [*OLD, bp("bad", "2024-01-06T00:00", good=False)]
    result = plan(backups, Rules(keep_last=1, floor=10), LATER)
    assert result.expired == [Decision("bad", FAILED)]
    assert len(result.kept) == 5


def test_nothing_good_expires_everything() -> None:
    backups = [
        bp("a", "2024-01-01T00:00", good=False),
        bp("b", "2024-01-02T00:00", "a", good=False),
    ]
    result = plan(backups, Rules(keep_last=3), LATER)
    assert result.kept == []
    assert result.roots_to_delete == ["a"]


def test_empty_history() -> None:
    assert plan([], Rules(keep_last=1), LATER) == Plan(kept=[], expired=[], roots_to_delete=[])


# --- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "must keep something"),
        ({"floor": 3}, "must keep something"),
        ({"keep_last": -1}, "keep_last must be >= 0"),
        ({"keep_yearly": -2, "keep_daily": 1}, "keep_yearly must be >= 0"),
        ({"keep_daily": 1, "floor": 0}, "floor must be >= 1"),
        ({"keep_within": timedelta(0)}, "keep_within must be positive"),
        ({"keep_within": -DAY}, "keep_within must be positive"),
        ({"keep_last": 1, "tz": "Nope/Nowhere"}, "unknown time zone"),
        ({"keep_last": 1, "tz": "Europe"}, "unknown time zone"),
        ({"keep_last": 1, "tz": ""}, "unknown time zone"),
        ({"keep_last": 1, "tz": "../etc/passwd"}, "unknown time zone"),
    ],
)
def test_invalid_rules(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Rules(**kwargs)


@pytest.mark.parametrize(
    ("backups", "now", "message"),
    [
        ([bp("a", "2024-01-01")], datetime(2025, 1, 1), "now must be timezone-aware"),
        ([bp("a", datetime(2024, 1, 1))], LATER, "created_at of backup a"),
        ([bp("a", "2024-01-01"), bp("a", "2024-01-02")], LATER, "duplicate backup id a"),
        ([bp("a", "2024-01-01", "b"), bp("b", "2024-01-02", "a")], LATER, "its own ancestor"),
        ([bp("a", "2024-01-01", "a")], LATER, "its own ancestor"),
    ],
    ids=["naive-now", "naive-created", "duplicate", "cycle", "self-parent"],
)
def test_invalid_inputs(backups: list[BackupPoint], now: datetime, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan(backups, Rules(keep_last=1), now)


def test_aware_non_utc_times_are_accepted() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    backups = [bp("a", datetime(2025, 1, 2, 0, 30, tzinfo=berlin)), bp("b", "2025-01-01T23:00")]
    result = plan(backups, Rules(keep_last=1), LATER)
    assert result.kept_ids == {"a"}  # 00:30 in Berlin is 23:30 UTC, after b


# --- properties over random histories ---------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]


def random_history(rng: random.Random) -> list[BackupPoint]:
    """Random chains over about two years: fulls, incrementals of older backups, some odd ones."""
    start = at("2023-01-01T00:00")
    times = sorted(
        start + timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
        for _ in range(rng.randrange(60))
    )
    backups: list[BackupPoint] = []
    foreign_rate = rng.choice([0.0, 0.03, 0.1])
    for n, moment in enumerate(times):
        parent = None if not backups or rng.random() < 0.25 else rng.choice(backups).id
        good, by_policy = rng.random() < 0.85, rng.random() >= foreign_rate
        backups.append(BackupPoint(f"b{n:02d}", parent, moment, good, by_policy))
    rng.shuffle(backups)
    return backups


def random_rules(rng: random.Random) -> Rules:
    """Random valid rules; a quarter keep only the last second, so the floor does the work."""
    names = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")
    floor = rng.randint(1, 6)
    tz = rng.choice(ZONES)
    if rng.random() < 0.25:
        return Rules(keep_within=timedelta(seconds=1), floor=floor, tz=tz)
    counts = {name: rng.choice([0, 0, 1, 2, 3, 5]) for name in names}
    within = rng.choice([None, None, HOUR, 30 * DAY, timedelta(days=400)])
    if not any(counts.values()) and within is None:
        counts["keep_last"] = 1
    return Rules(**counts, keep_within=within, floor=floor, tz=tz)


def newest_first(points: Sequence[BackupPoint]) -> list[BackupPoint]:
    return sorted(points, key=lambda p: (p.created_at, p.id), reverse=True)


def oracle_selected(points: Sequence[BackupPoint], rules: Rules, now: datetime) -> set[str]:
    """The rules' picks, computed bucket-first: group, rank buckets by their newest member."""
    candidates = newest_first([p for p in points if p.good and p.by_policy])
    picked = {p.id for p in candidates[: rules.keep_last]}
    zone = ZoneInfo(rules.tz)
    labels: dict[str, Any] = {
        "keep_hourly": lambda t: (t.date(), t.hour, t.utcoffset()),
        "keep_daily": lambda t: t.strftime("%Y-%m-%d"),
        "keep_weekly": lambda t: t.isocalendar()[:2],
        "keep_monthly": lambda t: (t.year, t.month),
        "keep_yearly": lambda t: t.year,
    }
    for name, label in labels.items():
        buckets: dict[Any, BackupPoint] = {}
        for p in candidates:
            buckets.setdefault(label(p.created_at.astimezone(zone)), p)
        picked |= {p.id for p in newest_first(list(buckets.values()))[: getattr(rules, name)]}
    if rules.keep_within is not None:
        picked |= {p.id for p in candidates if now - p.created_at < rules.keep_within}
    return picked


def ancestors(points: dict[str, BackupPoint], backup_id: str) -> list[str]:
    out: list[str] = []
    parent = points[backup_id].parent_id
    while parent is not None and parent in points:
        out.append(parent)
        parent = points[parent].parent_id
    return out


def oracle_kept(points: dict[str, BackupPoint], rules: Rules, now: datetime) -> set[str]:
    """The kept set by the spec's steps, written naively."""
    kept = oracle_selected(list(points.values()), rules, now)
    kept |= {i for i, p in points.items() if not p.by_policy}
    kept |= {a for i in list(kept) for a in ancestors(points, i)}
    top = {i: (ancestors(points, i) or [i])[-1] for i in points}
    foreign_tops = {top[i] for i, p in points.items() if not p.by_policy}
    kept |= {i for i in points if top[i] in foreign_tops}
    for p in newest_first([p for p in points.values() if p.good and p.by_policy]):
        if sum(1 for i in kept if points[i].good and points[i].by_policy) >= rules.floor:
            break
        kept |= {p.id, *ancestors(points, p.id)}
    return kept


def cascade(points: dict[str, BackupPoint], roots: Sequence[str]) -> set[str]:
    """Ids deleted by deleting each root with all its descendants."""
    gone = set(roots)
    grew = True
    while grew:
        more = {i for i, p in points.items() if p.parent_id in gone} - gone
        gone |= more
        grew = bool(more)
    return gone


def check_plan(backups: list[BackupPoint], rules: Rules, now: datetime) -> None:
    points = {p.id: p for p in backups}
    result = plan(backups, rules, now)
    kept, expired = result.kept_ids, result.expired_ids
    assert len(result.kept) + len(result.expired) == len(points)
    assert kept | expired == set(points) and not kept & expired
    # Expired is closed under descendants; equivalently, nothing kept descends from it.
    for i in kept:
        assert not set(ancestors(points, i)) & expired
    assert all(points[i].by_policy for i in expired)
    assert kept == oracle_kept(points, rules, now)
    candidates = {i for i, p in points.items() if p.good and p.by_policy}
    assert len(kept & candidates) >= min(rules.floor, len(candidates))
    for d in result.expired:
        assert d.reason == (UNKEPT if points[d.backup_id].good else FAILED)
    assert cascade(points, result.roots_to_delete) == expired
    assert all(not set(ancestors(points, r)) & expired for r in result.roots_to_delete)
    for decisions in (result.kept, result.expired):
        ids = [d.backup_id for d in decisions]
        assert ids == [p.id for p in newest_first([points[i] for i in ids])]


@pytest.mark.parametrize("seed", range(300))
def test_random_histories_obey_the_invariants(seed: int) -> None:
    rng = random.Random(seed)
    backups = random_history(rng)
    rules = random_rules(rng)
    # Mostly after the history; sometimes before some of it (future-dated backups).
    now = at("2025-01-01T00:00") + timedelta(days=rng.randrange(-120, 60))
    check_plan(backups, rules, now)
    shuffled = backups[:]
    rng.shuffle(shuffled)
    assert plan(shuffled, rules, now) == plan(backups, rules, now)


def test_a_busy_backup_is_kept_with_its_chain() -> None:
    # An incremental being written (or restored, or deleted) is never expired, nor is
    # anything it needs, even when no rule keeps it.
    backups = [
        bp("full", "2025-01-01T00:00"),
        bp("i1", "2025-01-01T01:00", "full"),
        bp("other", "2025-01-01T02:00"),
        BackupPoint("i2", "i1", at("2025-01-01T03:00"), False, True, busy=True),
    ]
    result = plan(backups, Rules(keep_last=1), at("2025-01-02T00:00"))
    assert result.kept == [
        Decision("i2", IN_PROGRESS),
        Decision("other", "last 1"),
        Decision("i1", "needed by i2"),
        Decision("full", "needed by i2"),
    ]
    assert result.expired == [] and result.roots_to_delete == []
