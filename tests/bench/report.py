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
            f"  {name:<34}{s['median'] * 1000:>8.0f} ms median"
            f"  p90 {s.get('p90', float('nan')) * 1000:.0f}"
            f"  (min {s['min'] * 1000:.0f}, max {s['max'] * 1000:.0f})"
        )

    return [
        row("POST /backups response", lat["post_seconds"]),
        row("POST -> flow run start_time", lat["post_to_flow_start_seconds"]),
        row("POST -> status available", lat["post_to_available_seconds"]),
        row("POST /volumes -> available", lat.get("volume_create_to_available_seconds")),
        f"  (service start-up took {lat['service_startup_seconds']:.1f} s; "
        f"{lat['flow_runs_found']}/{lat['rounds']} flow runs found)",
    ]


def render_latency(lat: dict[str, Any]) -> str:
    """The latency section alone (SAFEHOLD_BENCH_ONLY=latency)."""
    title = "Orchestration latency (1 GiB volume creations; full backups of one holding 1 MiB)"
    return "\n".join([title, *_latency_lines(lat)])


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
        "Orchestration latency (1 GiB volume creations; full backups of one holding 1 MiB)",
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


# --- share section (tests/bench/shares.py) ---------------------------------------------

_SHARE_STEPS = ("full", "incremental", "restore")


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / MIB:.1f}"


def _step(tool: dict[str, Any], step: str, key: str) -> Any:
    return tool.get(step, {}).get(key)


def _share_row(name: str, tool: dict[str, Any]) -> str:
    verified = "yes" if "restore" in tool else ("FAILED" if "error" in tool else "-")
    return (
        f"  {name:<9}{_num(_step(tool, 'full', 'seconds'), '{:.2f}'):>8}"
        f"{_num(_step(tool, 'full', 'mb_s')):>8}{_num(_step(tool, 'full', 'objects'), '{:,}'):>9}"
        f"{_mib(_step(tool, 'full', 'stored_bytes')):>9}"
        f"{_num(_step(tool, 'incremental', 'seconds'), '{:.2f}'):>9}"
        f"{_num(_step(tool, 'incremental', 'objects'), '{:,}'):>8}"
        f"{_mib(_step(tool, 'incremental', 'stored_bytes')):>8}"
        f"{_num(_step(tool, 'incremental', 'stored_vs_changed'), '{:.2f}'):>7}"
        f"{_num(_step(tool, 'restore', 'seconds'), '{:.2f}'):>10}"
        f"{_num(_step(tool, 'restore', 'mb_s')):>8}  {verified}"
    )


def _share_table(tools: dict[str, Any]) -> list[str]:
    head = (
        f"  {'tool':<9}{'full s':>8}{'MB/s':>8}{'objects':>9}{'MiB':>9}"
        f"{'incr s':>9}{'objects':>8}{'MiB':>8}{'/chg':>7}{'restore s':>10}{'MB/s':>8}  verified"
    )
    lines = [head, "  " + "-" * (len(head) - 2)]
    for name in TOOLS:
        tool = tools.get(name, {})
        if "skipped" in tool:
            lines.append(f"  {name:<9}skipped: {tool['skipped'].splitlines()[0][:150]}")
        else:
            lines.append(_share_row(name, tool))
    for name in TOOLS:
        tool = tools.get(name, {})
        if "error" in tool:
            lines.append(f"  !! {name} FAILED: {tool['error']}")
            tail = tool.get("log_tail", "").splitlines()[-15:]
            lines += [f"     | {line[:160]}" for line in tail]
    return lines


def _share_ratio_lines(ratios: dict[str, dict[str, float | None]]) -> list[str]:
    lines = []
    for peer, r in ratios.items():
        speeds = ", ".join(f"{s} {_num(r[f'{s}_speed'], '{:.2f}x')}" for s in _SHARE_STEPS)
        lines.append(
            f"  safehold/{peer:<7} speed: {speeds}; stored: full "
            f"{_num(r['full_stored'], '{:.2f}x')}, incr/changed "
            f"{_num(r['incremental_stored_vs_changed'], '{:.2f}x')}"
        )
    return lines


def _flow_summary(runs: list[dict[str, Any]] | None) -> str:
    if not runs:
        return "no flow run found"
    if "error" in runs[0]:
        return str(runs[0]["error"])
    queued = runs[0].get("queued_seconds")
    ran = sum(r.get("run_seconds") or 0.0 for r in runs)
    tasks: dict[str, float] = {}
    for r in runs:
        for name, seconds in r.get("task_seconds", {}).items():
            tasks[name] = tasks.get(name, 0.0) + seconds
    top = sorted(tasks.items(), key=lambda kv: -kv[1])[:2]
    split = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in top)
    return f"queued {_num(queued)} s + ran {ran:.1f} s ({split})"


def _safehold_detail(tool: dict[str, Any]) -> list[str]:
    parts = [
        f"{step} {_flow_summary(tool[step].get('flow_runs'))}"
        for step in _SHARE_STEPS
        if step in tool
    ]
    lines = [f"  safehold flow runs: {part}" for part in parts]
    for step in ("full", "incremental"):
        st = tool.get(step, {}).get("manifest_stats", {})
        if "bytes_read" in st:
            lines.append(
                f"  safehold {step} manifest: read {st['bytes_read'] / MIB:.1f} MiB, reused "
                f"{st['bytes_reused'] / MIB:.1f} MiB unread; chunks {st['chunks_new']:,} new, "
                f"{st['chunks_deduplicated']:,} deduplicated; {st['packs_written']} packs"
            )
    api = [
        f"{step} {_mib(tool[step]['api_stored_bytes'])} MiB"
        for step in ("full", "incremental")
        if tool.get(step, {}).get("api_stored_bytes") is not None
    ]
    if api:
        lines.append(f"  safehold API stored_bytes: {', '.join(api)}")
    return lines


def _share_tree_lines(name: str, tree: dict[str, Any]) -> list[str]:
    t, c = tree["tree"], tree["change"]
    kinds = sorted(t["bytes_by_kind"].items(), key=lambda kv: -kv[1])
    mix = ", ".join(f"{kind} {nbytes / t['bytes']:.0%}" for kind, nbytes in kinds)
    return [
        "",
        f"Tree {name!r}: {t['bytes'] / MIB:.1f} MiB in {t['files']:,} files, {t['dirs']:,} dirs, "
        f"{t['symlinks']} symlinks (seed {t['seed']}, generated in {t['generate_seconds']:.1f} s)",
        f"  bytes by kind: {mix}",
        f"  change: {c['files_changed']:,} of {c['files_before']:,} files ({c['rewritten']} "
        f"rewritten, {c['patched']} patched in place, {c['appended']} appended, "
        f"{c['deleted']} deleted, {c['added']} added): {c['changed_bytes'] / MIB:.2f} MiB "
        f"written, {c['deleted_bytes'] / MIB:.2f} MiB deleted",
        *_share_table(tree["tools"]),
        *_share_ratio_lines(tree["ratios"]),
        *_safehold_detail(tree["tools"].get("safehold", {})),
    ]


def render_shares(result: dict[str, Any]) -> str:
    """The share section: one table per tree, ratios, Safehold's flow-run split, notes."""
    if "trees" not in result:
        return f"\nshare backups: {result.get('error') or result.get('skipped') or 'not run'}"
    svc = result.get("service", {})
    if "startup_seconds" in svc:
        service = f"service start-up {svc['startup_seconds']:.1f} s, data in {svc['data_dir']}"
    else:
        service = f"not run: {svc.get('skipped', '?')}"
        for name, tail in svc.get("log_tails", {}).items():
            service += f"\n  --- {name} (tail)\n" + "\n".join(
                f"  | {line[:160]}" for line in tail.splitlines()[-12:]
            )
    cache = "worked" if result.get("cache_drop") else "NOT possible (numbers may be warm-cache)"
    lines = [
        "",
        "Share backups: directory trees (Safehold: Manila API call until 'available')",
        f"  safehold {service}",
        f"  page-cache drop before each timed step: {cache}; 1-min load average "
        f"{result['loadavg_start']:.2f} at start, {result['loadavg_end']:.2f} at end",
        "  columns: full / incremental backup (objects and MiB the step added to the store), "
        "/chg = incremental MiB over changed MiB, restore of the incremental (MB/s of the tree)",
    ]
    for name, tree in result["trees"].items():
        lines += _share_tree_lines(name, tree)
    lines += ["", "Share notes", *[f"  - {note}" for note in result.get("notes", [])]]
    return "\n".join(lines)
