"""Derived numbers (MB/s, ratios), the printed table and bench-results/latest.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
TOOLS = ("safehold", "restic", "borg")
PEERS = ("restic", "borg")


def mb_s(nbytes: int, seconds: float | None) -> float | None:
    """MB/s with 1 MB = 10^6 bytes; None without a time."""
    if not seconds:
        return None
    return nbytes / seconds / 1e6


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def derive(results: dict[str, Any]) -> None:
    """Add MB/s to each tool and the safehold/peer and safehold/hardware ratios, in place."""
    size = results["image"]["size"]
    tools = results["tools"]
    for tool in tools.values():
        if "backup_seconds" in tool:
            tool["backup_mb_s"] = mb_s(size, tool["backup_seconds"])
            tool["restore_mb_s"] = mb_s(size, tool["restore_seconds"])
            tool["stored_fraction"] = tool["stored_bytes"] / size
    own = tools.get("safehold", {})
    ratios: dict[str, Any] = {}
    for peer in PEERS:
        other = tools.get(peer, {})
        for op in ("backup", "restore"):
            ratios[f"safehold/{peer} {op}"] = _ratio(own.get(f"{op}_mb_s"), other.get(f"{op}_mb_s"))
    hw = results.get("hardware", {})
    if "sha256_1_thread" in hw:
        one = hw["sha256_1_thread"]["mb_s"]
        many = hw["sha256_n_threads"]["mb_s"]
        n = hw["sha256_threads"]
        # Only non-zero bytes need hashing: the fair fraction of the sha256 ceiling.
        data_share = 1 - results["image"]["fractions"]["zeros"]
        for op in ("backup", "restore"):
            speed = own.get(f"{op}_mb_s")
            ratios[f"safehold {op}/sha256 1 thread"] = _ratio(speed, one)
            ratios[f"safehold {op}/sha256 {n} threads"] = _ratio(speed, many)
            data_speed = speed * data_share if speed else None
            ratios[f"safehold {op} non-zero/sha256 1 thread"] = _ratio(data_speed, one)
    results["ratios"] = ratios


def _num(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def _hardware_lines(hw: dict[str, Any]) -> list[str]:
    if "error" in hw:
        return [f"  not measured: {hw['error']}"]
    n = hw["sha256_threads"]
    rows = [
        ("sha256, 1 thread", hw["sha256_1_thread"]["mb_s"], ""),
        (f"sha256, {n} threads (aggregate)", hw["sha256_n_threads"]["mb_s"], ""),
    ]
    for part in ("random", "text"):
        z = hw[f"zstd3_{part}"]
        rows.append(
            (f"zstd-3 compress, {part} part", z["compress"]["mb_s"], f"ratio {z['ratio']:.2f}")
        )
        rows.append((f"zstd decompress, {part} part", z["decompress"]["mb_s"], "output bytes"))
    rows.append(
        ("cold sequential read of the image", hw["cold_read_image"]["mb_s"], "holes read as zeros")
    )
    return [f"  {name:<36}{value:>9.1f} MB/s  {note}".rstrip() for name, value, note in rows]


def _tool_lines(tools: dict[str, Any]) -> list[str]:
    head = (
        f"  {'tool':<9}{'backup s':>9}{'MB/s':>8}{'restore s':>11}{'MB/s':>8}"
        f"{'stored MiB':>12}{'of size':>9}  identical"
    )
    lines = [head, "  " + "-" * (len(head) - 2)]
    for name in TOOLS:
        t = tools.get(name)
        if t is None:
            continue
        if "backup_seconds" not in t:
            reason = t.get("error") or t.get("skipped") or "not run"
            lines.append(f"  {name:<9}{reason}")
            continue
        lines.append(
            f"  {name:<9}{t['backup_seconds']:>9.2f}{_num(t['backup_mb_s']):>8}"
            f"{t['restore_seconds']:>11.2f}{_num(t['restore_mb_s']):>8}"
            f"{t['stored_bytes'] / MIB:>12.1f}{t['stored_fraction']:>8.1%}"
            f"  {'yes' if t['identical'] else 'NO'}"
        )
    for name in TOOLS:
        t = tools.get(name, {})
        if "settings" in t:
            version = f" ({t['version']})" if t.get("version") else ""
            lines.append(f"  {name}{version}: {t['settings']}")
    return lines


def _latency_lines(lat: dict[str, Any]) -> list[str]:
    if "post_seconds" not in lat:
        return [f"  {lat.get('skipped') or lat.get('error') or 'not run'}"]

    def row(name: str, s: dict[str, Any] | None) -> str:
        if s is None:
            return f"  {name:<30} -  (no flow run start_time found)"
        return (
            f"  {name:<30}{s['median'] * 1000:>8.0f} ms median"
            f"  (min {s['min'] * 1000:.0f}, max {s['max'] * 1000:.0f})"
        )

    return [
        row("POST /backups response", lat["post_seconds"]),
        row("POST -> flow run start_time", lat["post_to_flow_start_seconds"]),
        row("POST -> status available", lat["post_to_available_seconds"]),
        f"  (service start-up took {lat['service_startup_seconds']:.1f} s; "
        f"{lat['flow_runs_found']}/{lat['rounds']} flow runs found)",
    ]


def render(results: dict[str, Any]) -> str:
    """The human-readable report."""
    img = results["image"]
    frac = img["fractions"]
    cache = "worked" if results["cache_drop"] else "NOT possible (numbers may be warm-cache)"
    lines = [
        "",
        f"Safehold benchmark  {results['timestamp']}",
        f"  image: {img['size'] / MIB:.0f} MiB, seed {img['seed']}, {img['regions']} regions: "
        f"{frac['random']:.1%} random, {frac['text']:.1%} text, {frac['zeros']:.1%} zeros; "
        f"allocated {img['allocated'] / MIB:.0f} MiB",
        f"  machine: {results['hardware'].get('cpu_count', '?')} CPUs; "
        f"page-cache drop before each timed read: {cache}",
        f"  1-min load average: {results['loadavg_start']:.2f} at start, "
        f"{results['loadavg_end']:.2f} at end (above ~0.5 other work skews the numbers)",
        "",
        "Hardware limits (64 MiB buffers, 1 MB = 10^6 bytes)",
        *_hardware_lines(results["hardware"]),
        "",
        "Full backup and full restore of the image (MB/s of logical image size)",
        *_tool_lines(results["tools"]),
        "",
        "Ratios (x: Safehold MB/s over the peer's, >1 = Safehold faster; %: share of sha256)",
    ]
    for name, value in results["ratios"].items():
        shown = "-" if value is None else (f"{value:.0%}" if "sha256" in name else f"{value:.2f}x")
        lines.append(f"  {name:<40}{shown:>8}")
    lines += [
        "",
        "Orchestration latency (1 GiB volume holding 1 MiB, sequential full backups)",
        *_latency_lines(results["latency"]),
        "",
        "Notes",
    ]
    lines += [f"  - {note}" for note in results["notes"]]
    return "\n".join(lines)


def write_json(results: dict[str, Any], path: Path) -> None:
    """Write the results as indented JSON (directories created as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=True, default=str) + "\n")
