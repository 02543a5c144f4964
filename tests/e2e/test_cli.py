"""The `safehold` client against a real `safehold run`: every command group, `--wait`,
`--json`, errors as one line, a failing backup, and the live bar in a real tmux.

Commands run in-process through `deployments.cli.main(argv)` (stdout/stderr captured),
except where the entry point itself is the subject (a subprocess, and tmux).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deployments.cli import main
from tests.e2e.helpers import MIB, write_mixed
from tests.live import ROOT, Service

pytestmark = pytest.mark.e2e
PROJECT = "cli00000000000000000000000000001"


@dataclass(frozen=True)
class Result:
    """One command's exit status and output."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout as JSON (the command ran with --json)."""
        return json.loads(self.out)


class Safehold:
    """Runs `safehold ARGS...` in-process and checks its exit status."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str, code: int = 0) -> Result:
        status = main(list(args))
        captured = self.capsys.readouterr()
        result = Result(status, captured.out, captured.err)
        assert status == code, f"safehold {' '.join(args)} -> {status}\n{result.out}\n{result.err}"
        return result

    def json(self, *args: str) -> Any:
        """The JSON document of `safehold --json ARGS...`."""
        return self("--json", *args).json()


def client_env(service: Service, config_home: Path) -> dict[str, str]:
    """The client's settings for `service`, as an operator would export them."""
    return {
        "SAFEHOLD_URL": service.url,
        "SAFEHOLD_MANILA_URL": service.manila_url,
        "SAFEHOLD_TROVE_URL": service.trove_url,
        "SAFEHOLD_PREFECT_URL": service.prefect_api,
        "SAFEHOLD_PROJECT": PROJECT,
        "SAFEHOLD_POLL_INTERVAL": "0.1",
        "XDG_CONFIG_HOME": str(config_home),
    }


@pytest.fixture
def sh(
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> Safehold:
    for name in ("SAFEHOLD_TOKEN", "SAFEHOLD_USER", "SAFEHOLD_CONFIG", "SAFEHOLD_ADMIN_USERS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in client_env(service, tmp_path).items():
        monkeypatch.setenv(name, value)
    return Safehold(capsys)


@pytest.fixture
def faults(service: Service) -> Iterator[Path]:
    """The service's fault plan file, removed after the test whatever happens."""
    try:
        yield service.fault_file
    finally:
        service.fault_file.unlink(missing_ok=True)


def one_error_line(result: Result) -> str:
    """The stderr of a failed command: exactly one `error: ...` line, no traceback."""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert "Traceback" not in result.err
    return lines[0]


def new_volume(sh: Safehold, *args: str) -> dict[str, Any]:
    """A new available volume (its show body: admins see metadata safehold:path)."""
    volume: dict[str, Any] = sh.json("volume", "create", "--wait", *args)["volume"]
    assert volume["status"] == "available"
    return volume


def volume_path(volume: dict[str, Any]) -> Path:
    """Where the volume's bytes are."""
    return Path(volume["metadata"]["safehold:path"])


# -- Cinder: volumes and backups ---------------------------------------------------------


def test_backup_lifecycle(sh: Safehold, tmp_path: Path) -> None:
    volume = new_volume(sh, "--name", "cli-source", "--property", "team=ops")
    assert volume["metadata"]["team"] == "ops"
    write_mixed(volume_path(volume), 4 * MIB, seed=21)
    full = sh.json("backup", "create", volume["id"], "--name", "cli-full", "--wait")["backup"]
    assert (full["status"], full["is_incremental"]) == ("available", False)
    write_mixed(volume_path(volume), 2 * MIB, seed=22)
    created = sh("backup", "create", volume["id"], "--incremental", "--name", "cli-inc", "--wait")
    inc_id = created.out.split()[1]
    assert created.out.strip() == f"backup {inc_id} available"

    listed = sh.json("backup", "list", "--volume-id", volume["id"])["backups"]
    assert [b["id"] for b in listed] == [inc_id, full["id"]]
    assert [b["id"] for b in sh.json("backup", "list", "--name", "cli-full")["backups"]] == [
        full["id"]
    ]
    assert sh.json("backup", "list", "--volume-id", volume["id"], "--status", "error") == {
        "backups": []
    }
    page = sh.json("backup", "list", "--volume-id", volume["id"], "--limit", "1")
    assert [b["id"] for b in page["backups"]] == [inc_id] and page["backups_links"]
    after = sh.json(
        "backup", "list", "--volume-id", volume["id"], "--limit", "1", "--marker", inc_id
    )
    assert [b["id"] for b in after["backups"]] == [full["id"]]
    table = sh("backup", "list", "--volume-id", volume["id"]).out
    assert "Incr." in table and inc_id in table and full["id"] in table

    shown = sh("backup", "show", inc_id).out
    assert re.search(r"is_incremental\s+│ true", shown), shown
    sh("backup", "update", inc_id, "--name", "cli-renamed", "--property", "k=v")
    renamed = sh.json("backup", "show", inc_id)["backup"]
    assert (renamed["name"], renamed["metadata"]) == ("cli-renamed", {"k": "v"})
    progress = sh.json("backup", "progress", inc_id)["progress"]
    assert progress["percent"] == 100.0 and progress["bytes_done"] == progress["bytes_total"]

    restored = sh.json("backup", "restore", inc_id, "--name", "cli-restored", "--wait")["restore"]
    target = sh.json("volume", "show", restored["volume_id"])["volume"]
    assert target["status"] == "available" and target["name"] == "cli-restored"
    with open(volume_path(volume), "rb") as src, open(volume_path(target), "rb") as dst:
        assert src.read(6 * MIB) == dst.read(6 * MIB)

    # Export, then import under a new id (as tempest does); a duplicate is refused.
    record = sh("backup", "export", full["id"], "--json").json()["backup-record"]
    decoded = json.loads(base64.b64decode(record["backup_url"]))
    decoded["id"] = str(uuid.uuid4())
    record["backup_url"] = base64.b64encode(json.dumps(decoded).encode()).decode()
    (tmp_path / "record.json").write_text(json.dumps({"backup-record": record}))
    imported = sh.json("backup", "import", "--file", str(tmp_path / "record.json"))["backup"]
    assert imported["id"] == decoded["id"]
    again = sh("backup", "import", record["backup_service"], record["backup_url"], code=1)
    assert "already exists" in one_error_line(again) and "(HTTP 400 badRequest)" in again.err
    gone = sh("backup", "force-delete", imported["id"], "--wait")
    assert gone.out.strip() == f"backup {imported['id']} deleted"

    refused = sh("backup", "delete", full["id"], code=1)
    assert "Incremental backups exist" in one_error_line(refused)
    sh("backup", "delete", full["id"], "--cascade", "--wait")
    assert sh.json("backup", "list", "--volume-id", volume["id"]) == {"backups": []}
    sh("volume", "delete", target["id"])


def test_volume_admin_snapshots_and_backup_admin(sh: Safehold, service: Service) -> None:
    source = service.data_dir / "volumes" / "cli-managed.img"
    source.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "wb") as f:
        f.truncate(64 * MIB)
    write_mixed(source, 2 * MIB, seed=23)
    managed = sh.json("volume", "manage", str(source), "--name", "cli-managed", "--wait")
    volume = managed["volume"]
    assert (volume["status"], volume_path(volume)) == ("available", source)
    assert "cli-managed" in sh("volume", "list").out
    sh("volume", "attach", volume["id"], "--mountpoint", "/dev/vdb", "--host-name", "h1")
    assert sh.json("volume", "show", volume["id"])["volume"]["status"] == "in-use"
    sh("volume", "detach", volume["id"])
    sh("volume", "reset-status", volume["id"], "--status", "error")
    assert sh.json("volume", "show", volume["id"])["volume"]["status"] == "error"
    sh("volume", "reset-status", volume["id"], "--status", "available")

    snapshot = sh.json(
        "snapshot", "create", volume["id"], "--name", "s1", "--property", "a=b", "--wait"
    )["snapshot"]
    assert snapshot["status"] == "available"
    assert [
        s["id"] for s in sh.json("snapshot", "list", "--volume", volume["id"])["snapshots"]
    ] == [snapshot["id"]]
    sh("snapshot", "update", snapshot["id"], "--name", "s2", "--property", "c=d")
    sh("snapshot", "unset", snapshot["id"], "--property", "a")
    shown = sh.json("snapshot", "show", snapshot["id"])["snapshot"]
    assert (shown["name"], shown["metadata"]) == ("s2", {"c": "d"})

    backup = sh.json("backup", "create", volume["id"], "--snapshot-id", snapshot["id"], "--wait")
    assert backup["backup"]["snapshot_id"] == snapshot["id"]
    backup_id = backup["backup"]["id"]
    into = sh("backup", "restore", backup_id, "--volume-id", volume["id"], "--wait")
    assert into.out.strip() == f"backup {backup_id} restored to volume {volume['id']}"
    sh("backup", "reset-status", backup_id, "error")
    assert sh.json("backup", "show", backup_id)["backup"]["status"] == "error"
    sh("backup", "delete", backup_id, "--wait")

    # An admin's reset to creating, then a status report (os-update_snapshot_status).
    sh("snapshot", "reset-status", snapshot["id"], "creating")
    sh("snapshot", "update-status", snapshot["id"], "available", "--progress", "90%")
    reported = sh.json("snapshot", "show", snapshot["id"])["snapshot"]
    assert reported["status"] == "available"
    assert reported["os-extended-snapshot-attributes:progress"] == "90%"
    sh("snapshot", "force-delete", snapshot["id"], "--wait")
    assert sh.json("snapshot", "list", "--volume", volume["id"]) == {"snapshots": []}
    deleted = sh("volume", "delete", volume["id"], "--wait")
    assert deleted.out.strip() == f"volume {volume['id']} deleted"


def test_a_failing_backup_makes_wait_fail_with_its_reason(sh: Safehold, faults: Path) -> None:
    volume = new_volume(sh)
    write_mixed(volume_path(volume), 2 * MIB, seed=24)
    faults.write_text(json.dumps({"put": {"permanent": 1}}))
    failed = sh("backup", "create", volume["id"], "--wait", code=1)
    line = one_error_line(failed)
    assert re.fullmatch(r"error: backup \S+ ended error: .*injected fault.*", line), line
    backup_id = line.split()[2]
    assert sh.json("backup", "show", backup_id)["backup"]["status"] == "error"
    assert sh("backup", "progress", backup_id, code=1).err.startswith("error: backup ")


# -- Manila: shares and share backups ------------------------------------------------------


def test_shares_and_share_backups(sh: Safehold, service: Service) -> None:
    share = sh.json("share", "create", "--name", "cli-share", "--property", "a=1", "--wait")
    share_id = share["share"]["id"]
    sh("share", "update", share_id, "--name", "cli-share2", "--public", "--property", "b=2")
    sh("share", "unset", share_id, "--property", "a")
    shown = sh.json("share", "show", share_id)["share"]
    assert (shown["name"], shown["is_public"], shown["metadata"]) == (
        "cli-share2",
        True,
        {"b": "2"},
    )
    assert share_id in sh("share", "list", "--name", "cli-share2").out
    [location] = sh.json("share", "export-locations", share_id)["export_locations"]
    root = Path(location["path"])
    (root / "kept.txt").write_text("kept\n")

    created = sh.json("share-backup", "create", share_id, "--full", "--name", "sb", "--wait")
    backup = created["share_backup"]
    assert (backup["status"], backup["progress"]) == ("available", "100")
    listed = sh.json("share-backup", "list", "--share", share_id)["share_backups"]
    assert [b["id"] for b in listed] == [backup["id"]]
    sh("share-backup", "update", backup["id"], "--description", "before the accident")
    assert "before the accident" in sh("share-backup", "show", backup["id"]).out
    (root / "kept.txt").unlink()
    restored = sh("share-backup", "restore", backup["id"], "--wait")
    assert restored.out.strip() == f"share backup {backup['id']} restored to share {share_id}"
    assert (root / "kept.txt").read_text() == "kept\n"
    sh("share-backup", "reset-status", backup["id"], "error")
    assert sh.json("share-backup", "show", backup["id"])["share_backup"]["status"] == "error"
    sh("share-backup", "delete", backup["id"])
    assert sh("share", "delete", share_id).out.strip() == f"share {share_id} deleting"

    tree = service.data_dir / "shares" / "cli-managed"
    tree.mkdir(parents=True, exist_ok=True)
    (tree / "f").write_text("x")
    managed = sh.json("share", "manage", str(tree), "--name", "cli-managed", "--wait")["share"]
    assert managed["status"] == "available"
    sh("share", "reset-status", managed["id"], "manage_error")
    assert sh.json("share", "show", managed["id"])["share"]["status"] == "manage_error"
    sh("share", "unmanage", managed["id"], "--wait")
    assert (tree / "f").read_text() == "x"  # unmanage keeps the tree


# -- Trove: database instances and backups -------------------------------------------------


def _sqlite(instance: dict[str, Any], database: str) -> Path:
    return Path(instance["hostname"]) / f"{database}.sqlite3"


def test_database_instances_and_backups(sh: Safehold, service: Service) -> None:
    stores = sh.json("database", "datastore", "list")["datastores"]
    store = next(d for d in stores if d["name"] == "sqlite")  # the session may have more
    assert (
        store["name"] == "sqlite" and "sqlite" in sh("database", "datastore", "show", "sqlite").out
    )
    assert sh.json("database", "datastore", "versions", "sqlite")["versions"][0]["active"]
    instance = sh.json("database", "instance", "create", "cli-db", "--database", "clidb", "--wait")
    instance = instance["instance"]
    assert instance["status"] == "ACTIVE"
    assert sh.json("database", "instance", "databases", instance["id"]) == {
        "databases": [{"name": "clidb"}]
    }
    with sqlite3.connect(_sqlite(instance, "clidb")) as db:
        db.execute("CREATE TABLE t (v TEXT)")
        db.execute("INSERT INTO t VALUES ('first')")
    full = sh.json("db", "backup", "create", "full", "--instance", instance["id"], "--wait")
    full_id = full["backup"]["id"]
    assert full["backup"]["status"] == "COMPLETED"
    with sqlite3.connect(_sqlite(instance, "clidb")) as db:
        db.execute("INSERT INTO t VALUES ('second')")
    inc = sh.json(
        "db", "backup", "create", "inc", "--instance", instance["id"], "--incremental", "--wait"
    )["backup"]
    assert inc["parent_id"] == full_id
    listed = sh.json("database", "backup", "list", "--instance", instance["id"])["backups"]
    assert [b["id"] for b in listed] == [inc["id"], full_id]
    assert inc["id"] in sh("database", "instance", "backups", instance["id"]).out
    assert sh.json("database", "backup", "show", full_id)["backup"]["locationRef"]
    taken = sh("database", "backup", "register", "again", "--location", inc["locationRef"], code=1)
    assert "(HTTP 409 conflictingRequest)" in one_error_line(taken)

    restored = sh.json(
        "database", "instance", "create", "cli-restored", "--restore-from", inc["id"], "--wait"
    )["instance"]
    [database] = sh.json("database", "instance", "databases", restored["id"])["databases"]
    with sqlite3.connect(_sqlite(restored, database["name"])) as db:
        assert db.execute("SELECT v FROM t ORDER BY v").fetchall() == [("first",), ("second",)]
    assert restored["id"] in sh("database", "instance", "list").out

    sqlite3.connect(Path(instance["hostname"]) / "cli_managed.sqlite3").close()
    managed = sh.json("database", "instance", "manage", "cli-managed", "--database", "cli_managed")
    assert managed["instance"]["status"] == "BUILD"
    sh("database", "backup", "delete", full_id, "--wait")  # with its incremental
    assert sh.json("database", "backup", "list", "--instance", instance["id"]) == {"backups": []}
    sh("database", "instance", "delete", restored["id"])
    assert sh.json("database", "instance", "show", instance["id"])["instance"]["status"] == "ACTIVE"


# -- Safehold's own admin API ------------------------------------------------------------


def test_catalog_rebuild_and_store_garbage(sh: Safehold) -> None:
    rebuilt = sh("catalog", "rebuild", "--wait")
    assert re.fullmatch(r"rebuild-catalog run \S+ Completed\n", rebuilt.out), rebuilt.out
    garbage = sh.json("store", "garbage", "--dry-run", "--grace-hours", "0", "--wait")
    assert garbage["garbage"]["flow_run_id"]


# -- errors, configuration, output ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_errors_are_one_line_and_non_zero(sh: Safehold) -> None:
    missing = "00000000-0000-0000-0000-00000000dead"
    for group in ("volume", "backup", "snapshot", "share", "share-backup"):
        line = one_error_line(sh(group, "show", missing, code=1))
        assert line.endswith("(HTTP 404 itemNotFound)"), line
    assert "(HTTP 404" in one_error_line(sh("database", "backup", "show", missing, code=1))
    port = _free_port()
    refused = sh("--url", f"http://127.0.0.1:{port}", "backup", "list", code=1)
    assert (
        one_error_line(refused)
        == f"error: cannot reach http://127.0.0.1:{port}: connection refused"
    )
    someone = sh("--user", "someone", "catalog", "rebuild", code=1)
    assert one_error_line(someone).endswith("(HTTP 403 forbidden)")
    assert sh("backup", "create", code=2).code == 2  # usage: the volume is missing


def test_configuration_from_a_file_and_json_everywhere(
    sh: Safehold, service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "cli.toml"
    config.write_text(f'url = "{service.url}"\nproject = "{PROJECT}"\nuser = "admin"\n')
    with monkeypatch.context() as env:
        env.delenv("SAFEHOLD_URL")
        env.delenv("SAFEHOLD_PROJECT")
        shown = sh.json("--config", str(config), "config", "show")["config"]
        assert (shown["url"], shown["token"]) == (service.url, f"admin:{PROJECT}")
        assert isinstance(sh.json("--config", str(config), "volume", "list")["volumes"], list)
    for args in (("snapshot", "list"), ("share", "list"), ("share-backup", "list")):
        assert isinstance(sh.json(*args), dict)
    assert sh("database", "instance", "list", "--json").json()["instances"] is not None


def test_the_entry_point_as_a_subprocess(service: Service, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEHOLD_")}
    env |= client_env(service, tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "deployments.cli", "--json", "volume", "list"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout)["volumes"], list)


# -- the live bar, in a real terminal ----------------------------------------------------


def _pane(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_backup_wait_draws_a_moving_bar_in_tmux(
    sh: Safehold, service: Service, faults: Path, tmp_path: Path
) -> None:
    volume = new_volume(sh, "--name", "cli-big")
    with open(volume_path(volume), "r+b") as f:  # incompressible, no block twice
        for offset in range(0, 256 * MIB, 16 * MIB):
            os.pwrite(f.fileno(), os.urandom(16 * MIB), offset)
    # A slow store (every segment write waits), so the bar has time to move.
    faults.write_text(json.dumps({"put": {"delay_ms": 400}}))
    env = " ".join(f"{k}={v}" for k, v in client_env(service, tmp_path).items())
    command = (
        f"cd {ROOT} && env {env} {sys.executable} -m deployments.cli "
        f"backup create {volume['id']} --wait; echo EXIT=$?; sleep 60"
    )
    session = f"safehold-cli-{uuid.uuid4().hex[:8]}"
    subprocess.run(["tmux", "new-session", "-d", "-x", "120", "-y", "30", "-s", session, command])
    seen: set[str] = set()
    try:
        deadline = time.monotonic() + 90
        while "EXIT=" not in (screen := _pane(session)):
            assert time.monotonic() < deadline, screen
            seen |= set(re.findall(r"creating .*?(\d+)% (\d+\.\d)/1\.0 GiB", screen))
            time.sleep(0.2)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    lines = [line for line in screen.splitlines() if line.strip()]
    assert lines[-1] == "EXIT=0", screen
    assert re.fullmatch(r"backup \S{36} available", lines[-2]), screen
    assert re.match(r"backup \S{8} available .* 100% 1\.0/1\.0 GiB", lines[-3]), screen
    assert len({percent for percent, _ in seen}) >= 2, (seen, screen)

    # The service's own `progress` command reads the same numbers.
    backup_id = lines[-2].split()[1]
    followed = sh("progress", backup_id, "--project", PROJECT, "--url", service.url)
    assert followed.out.strip() == f"backup {backup_id} available"


# -- Policies ----------------------------------------------------------------------------


def test_policy_commands(sh: Safehold) -> None:
    volume = new_volume(sh, "--name", "cli-policy")
    created = sh.json(
        "policy", "create", "cli-nightly",
        "--kind", "volume", "--resource", volume["id"],
        "--cron", "0 2 * * *", "--timezone", "Europe/Paris",
        "--full-every-runs", "2", "--window", "10m", "--keep-last", "1",
    )["policy"]  # fmt: skip
    policy_id = created["id"]
    assert created["schedule"] == {
        "cron": "0 2 * * *",
        "timezone": "Europe/Paris",
        "interval_seconds": None,
    }
    assert created["start_window_seconds"] == 600 and created["retention"]["keep_last"] == 1
    assert created["mode"]["full_every_runs"] == 2
    listed = sh("policy", "list").out
    assert "cli-nightly" in listed and "cron 0 2 * * * (Europe/Paris)" in listed
    assert sh.json("policy", "show", policy_id)["policy"]["status"] == "active"
    updated = sh.json("policy", "update", policy_id, "--every", "1h", "--description", "hourly")
    assert updated["policy"]["schedule"]["interval_seconds"] == 3600
    assert updated["policy"]["description"] == "hourly"
    assert sh.json("policy", "pause", policy_id)["policy"]["status"] == "paused"
    assert sh.json("policy", "resume", policy_id)["policy"]["status"] == "active"
    for _ in range(3):  # full, incremental, full: retention then expires the first chain
        ran = sh("policy", "run", policy_id, "--wait")
        assert "completed" in (ran.out + ran.err).lower()
    backups = sh.json("backup", "list", "--volume-id", volume["id"])["backups"]
    assert len(backups) == 1
    plan = sh.json("policy", "retention", policy_id, "--dry-run")["retention"]
    assert [k["id"] for k in plan["kept"]] == [backups[0]["id"]] and plan["expired"] == []
    assert "last 1" in sh("policy", "retention", policy_id, "--dry-run").out
    applied = sh("policy", "retention", policy_id, "--wait")
    assert "completed" in (applied.out + applied.err).lower()
    shown = sh.json("policy", "show", policy_id)["policy"]
    assert shown["last_run_state"] == "COMPLETED" and shown["consecutive_failures"] == 0
    sh("policy", "delete", policy_id)
    assert "Policy" in one_error_line(sh("policy", "show", policy_id, code=1))
