"""Chain-aware retention: which backups a policy run keeps and which it expires.

This docstring is the normative description; `plan` implements it and nothing else.

Inputs are the backups of one scope (`BackupPoint`: id, parent_id, created_at, good,
by_policy, busy), the policy's `Rules` and `now`. Every backup lands in exactly one of
`Plan.kept` and `Plan.expired`, each newest first. "Newest first" orders by
(created_at, id) descending: ties on created_at are broken by id, the larger id counting
as newer. Backups form chains: an incremental names its parent, a full has none, and
deleting a backup deletes its whole subtree, so retention expires whole subtrees only.
A parent_id naming a backup outside the input makes that backup a root here (retention
can neither see nor expire that parent).

1. Candidates. Only backups that are `good` (completed, restorable) and `by_policy`
   (made by this policy) fill the keep rules' slots. A backup not made by the policy is
   kept ("not made by this policy"), and so is every backup in its tree (the tree of
   its topmost ancestor): a chain holding a foreign backup is kept whole ("needed by
   <id>" for its ancestors, "shares a chain with <id>" for the rest, naming the newest
   foreign backup of the tree).
   A backup an operation is still working on (`busy`: being created, restored or
   deleted) is kept ("in progress") with its ancestors: an incremental being written
   needs its parent, and the next run decides its fate once it has settled.
2. Rules select candidates the way restic's `forget --keep-*` does:
   - keep_last N: the N newest candidates ("last 1" is the newest).
   - keep_hourly/daily/weekly/monthly/yearly N: the newest candidate in each of the N
     most recent buckets that hold a candidate; empty buckets do not count. Buckets are
     cut in `Rules.tz`: hours are wall-clock hours together with their UTC offset (so
     the hour repeated when DST ends counts as two hours), days are local dates, weeks
     are ISO weeks, months and years are local ones. Reasons name the bucket:
     "hourly 2025-11-28T13:00+01:00", "daily 2025-11-28", "weekly 2025-W48",
     "monthly 2025-11", "yearly 2025".
   - keep_within D: every candidate strictly newer than now - D ("within 7d").
   A backup kept by several rules lists each, in the order above ("last 1, daily
   2025-11-28").
3. Chain closure. A kept backup keeps all its ancestors, good or failed ("needed by
   <id>", naming the kept descendant whose chain reached it first, newest first).
   Everything else is expired; since the kept set is closed under ancestors, the expired
   set is closed under descendants, i.e. a backup expires only together with its whole
   subtree. Expired backups read "failed" when not good and "no rule keeps it"
   otherwise; a failed leaf under a kept chain is thus expired.
4. Floor. While fewer than `floor` candidates are kept, the newest expired candidate is
   kept ("floor <floor>") with its ancestors. Foreign backups do not count towards the
   floor. Because floor >= 1, a scope holding any candidate always keeps at least one.
5. Validation (ValueError): negative counts, a keep_within that is not positive, a floor
   below 1, an unknown time zone, rules that keep nothing by themselves (all counts 0
   and no keep_within: "a policy with retention must keep something", so an empty
   config never wipes a scope), naive datetimes, duplicate ids and parent cycles.

`Plan.roots_to_delete` are the expired backups whose parent is not expired (or absent):
deleting each with its descendants removes exactly the expired set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

FOREIGN: Final = "not made by this policy"
FAILED: Final = "failed"
IN_PROGRESS: Final = "in progress"
UNKEPT: Final = "no rule keeps it"


@dataclass(frozen=True)
class BackupPoint:
    """One backup as retention sees it; created_at must be timezone-aware."""

    id: str
    parent_id: str | None
    created_at: datetime
    good: bool
    by_policy: bool
    busy: bool = False  # an operation is still working on it: never expired

    @property
    def candidate(self) -> bool:
        """True when the keep rules may select this backup (good and made by the policy)."""
        return self.good and self.by_policy


@dataclass(frozen=True)
class Rules:
    """A policy's keep rules; construction raises ValueError for invalid ones."""

    keep_last: int = 0
    keep_hourly: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0
    keep_within: timedelta | None = None
    floor: int = 1
    tz: str = "UTC"

    def __post_init__(self) -> None:
        _check_rules(self)

    def counts(self) -> dict[str, int]:
        """The count rules by field name, in reason order."""
        return {
            "keep_last": self.keep_last,
            "keep_hourly": self.keep_hourly,
            "keep_daily": self.keep_daily,
            "keep_weekly": self.keep_weekly,
            "keep_monthly": self.keep_monthly,
            "keep_yearly": self.keep_yearly,
        }

    @property
    def zone(self) -> ZoneInfo:
        """The time zone buckets are cut in."""
        return ZoneInfo(self.tz)


@dataclass(frozen=True)
class Decision:
    """One backup's fate and why."""

    backup_id: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """Kept and expired backups (newest first) and the roots whose cascade deletes the latter."""

    kept: list[Decision]
    expired: list[Decision]
    roots_to_delete: list[str]

    @property
    def kept_ids(self) -> frozenset[str]:
        """Ids of the kept backups."""
        return frozenset(d.backup_id for d in self.kept)

    @property
    def expired_ids(self) -> frozenset[str]:
        """Ids of the expired backups."""
        return frozenset(d.backup_id for d in self.expired)


def _check_rules(rules: Rules) -> None:
    """Raise ValueError unless the rules are valid and keep something by themselves."""
    for name, count in rules.counts().items():
        if count < 0:
            raise ValueError(f"{name} must be >= 0, got {count}")
    if rules.keep_within is not None and rules.keep_within <= timedelta(0):
        raise ValueError(f"keep_within must be positive, got {rules.keep_within}")
    if rules.floor < 1:
        raise ValueError(f"floor must be >= 1 (the last good backup never goes), got {rules.floor}")
    if not any(rules.counts().values()) and rules.keep_within is None:
        # The floor alone would keep one backup, but an empty config is a mistake, not
        # a policy: refuse rather than quietly expire all but one.
        raise ValueError("a policy with retention must keep something")
    try:
        ZoneInfo(rules.tz)
    except (KeyError, ValueError, OSError) as exc:  # OSError: a directory such as "Europe"
        raise ValueError(f"unknown time zone {rules.tz!r}") from exc


# Bucket labels of a local (tz-aware) time. Each is monotone in time, so walking
# candidates newest first meets the buckets most recent first.
def _hour(local: datetime) -> str:
    # The offset tells apart the wall-clock hour repeated when DST ends.
    return local.replace(minute=0, second=0, microsecond=0).isoformat(timespec="minutes")


def _day(local: datetime) -> str:
    return local.date().isoformat()


def _week(local: datetime) -> str:
    year, week, _ = local.isocalendar()
    return f"{year:04d}-W{week:02d}"


def _month(local: datetime) -> str:
    return f"{local.year:04d}-{local.month:02d}"


def _year(local: datetime) -> str:
    return f"{local.year:04d}"


_BUCKETS: Final[tuple[tuple[str, str, Callable[[datetime], str]], ...]] = (
    ("keep_hourly", "hourly", _hour),
    ("keep_daily", "daily", _day),
    ("keep_weekly", "weekly", _week),
    ("keep_monthly", "monthly", _month),
    ("keep_yearly", "yearly", _year),
)


def _span(span: timedelta) -> str:
    """A positive timedelta as a compact duration: 7d, 1d12h, 1m30s, 0.5s."""
    seconds, micro = divmod(span // timedelta(microseconds=1), 1_000_000)
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    parts = [
        f"{value}{unit}" for value, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if value
    ]
    if micro:
        parts.append(f"{seconds}.{micro:06d}".rstrip("0") + "s")
    elif seconds or not parts:
        parts.append(f"{seconds}s")
    return "".join(parts)


def _newest_per_bucket(
    candidates: Sequence[BackupPoint], count: int, label: Callable[[datetime], str], zone: ZoneInfo
) -> Iterator[tuple[BackupPoint, str]]:
    """The newest candidate of each of the `count` most recent buckets; candidates newest first."""
    seen: set[str] = set()
    for point in candidates:
        if len(seen) == count:
            return
        bucket = label(point.created_at.astimezone(zone))
        if bucket not in seen:
            seen.add(bucket)
            yield point, bucket


def _rule_reasons(
    candidates: Sequence[BackupPoint], rules: Rules, now: datetime
) -> dict[str, list[str]]:
    """Each selected candidate's rule reasons in rule order; candidates newest first."""
    reasons: dict[str, list[str]] = {}
    for rank, point in enumerate(candidates[: rules.keep_last], start=1):
        reasons.setdefault(point.id, []).append(f"last {rank}")
    counts = rules.counts()
    for field_name, word, label in _BUCKETS:
        for point, bucket in _newest_per_bucket(candidates, counts[field_name], label, rules.zone):
            reasons.setdefault(point.id, []).append(f"{word} {bucket}")
    if rules.keep_within is not None:
        cutoff = now - rules.keep_within
        for point in candidates:
            if point.created_at > cutoff:
                reasons.setdefault(point.id, []).append(f"within {_span(rules.keep_within)}")
    return reasons


@dataclass(frozen=True)
class _Forest:
    """The backups indexed: newest-first order, in-scope parents and tree roots."""

    points: dict[str, BackupPoint]
    order: list[str]
    parent: dict[str, str | None]
    root: dict[str, str]


def _require_aware(moment: datetime, what: str) -> None:
    """Raise ValueError for a naive datetime (its meaning would depend on the host)."""
    if moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment!r}")


def _tree_roots(parent: Mapping[str, str | None]) -> dict[str, str]:
    """The topmost ancestor of every backup; ValueError on a parent cycle."""
    root: dict[str, str] = {}
    for start in parent:
        path: list[str] = []
        on_path: set[str] = set()
        node = start
        # Iterative and memoised: chains can be thousands of backups deep.
        while node not in root:
            if node in on_path:
                raise ValueError(f"backup {node} is its own ancestor")
            path.append(node)
            on_path.add(node)
            up = parent[node]
            if up is None:
                root[node] = node
                break
            node = up
        for member in path:
            root[member] = root[node]
    return root


def _index(backups: Sequence[BackupPoint]) -> _Forest:
    """Index the backups; ValueError on duplicate ids, naive times or parent cycles."""
    points: dict[str, BackupPoint] = {}
    for point in backups:
        if point.id in points:
            raise ValueError(f"duplicate backup id {point.id}")
        _require_aware(point.created_at, f"created_at of backup {point.id}")
        points[point.id] = point
    order = sorted(points, key=lambda i: (points[i].created_at, i), reverse=True)
    parent = {i: p.parent_id if p.parent_id in points else None for i, p in points.items()}
    return _Forest(points, order, parent, _tree_roots(parent))


def _keep_with_ancestors(
    forest: _Forest, start: str, reason: str, kept: dict[str, str]
) -> list[str]:
    """Keep `start` (unless already kept) and its unkept ancestors; return the ids newly kept."""
    added: list[str] = []
    if start not in kept:
        kept[start] = reason
        added.append(start)
    node = forest.parent[start]
    # Stopping at a kept ancestor is safe: whatever kept it also keeps (or will keep) its own.
    while node is not None and node not in kept:
        kept[node] = f"needed by {start}"
        added.append(node)
        node = forest.parent[node]
    return added


def _keep_direct(forest: _Forest, rules: Rules, now: datetime) -> dict[str, str]:
    """Backups kept by the rules or as foreign ones, closed under ancestors."""
    candidates = [forest.points[i] for i in forest.order if forest.points[i].candidate]
    direct = {i: ", ".join(r) for i, r in _rule_reasons(candidates, rules, now).items()}
    direct.update({i: FOREIGN for i in forest.order if not forest.points[i].by_policy})
    for backup_id in forest.order:
        if forest.points[backup_id].busy:
            direct.setdefault(backup_id, IN_PROGRESS)
    # Seed every direct reason first so a rule's reason wins over "needed by".
    kept = dict(direct)
    for backup_id in forest.order:
        if backup_id in direct:
            _keep_with_ancestors(forest, backup_id, direct[backup_id], kept)
    return kept


def _keep_foreign_trees(forest: _Forest, kept: dict[str, str]) -> None:
    """Keep every backup of a tree that holds a foreign backup."""
    holder: dict[str, str] = {}
    for backup_id in forest.order:  # newest first: the newest foreign backup names the tree
        if not forest.points[backup_id].by_policy:
            holder.setdefault(forest.root[backup_id], backup_id)
    for backup_id in forest.order:
        foreign = holder.get(forest.root[backup_id])
        if foreign is not None and backup_id not in kept:
            kept[backup_id] = f"shares a chain with {foreign}"


def _keep_floor(forest: _Forest, floor: int, kept: dict[str, str]) -> None:
    """Keep the newest unkept candidates, with ancestors, until `floor` candidates are kept."""
    candidates = [i for i in forest.order if forest.points[i].candidate]
    count = sum(1 for i in candidates if i in kept)
    for backup_id in candidates:
        if count >= floor:
            return
        if backup_id not in kept:
            added = _keep_with_ancestors(forest, backup_id, f"floor {floor}", kept)
            count += sum(1 for i in added if forest.points[i].candidate)


def plan(backups: Sequence[BackupPoint], rules: Rules, now: datetime) -> Plan:
    """Decide every backup's fate under the rules at `now` (see the module docstring)."""
    _require_aware(now, "now")
    forest = _index(backups)
    kept = _keep_direct(forest, rules, now)
    _keep_foreign_trees(forest, kept)
    _keep_floor(forest, rules.floor, kept)
    expired = [i for i in forest.order if i not in kept]
    gone = set(expired)
    return Plan(
        kept=[Decision(i, kept[i]) for i in forest.order if i in kept],
        expired=[Decision(i, FAILED if not forest.points[i].good else UNKEPT) for i in expired],
        roots_to_delete=[i for i in expired if forest.parent[i] not in gone],
    )
