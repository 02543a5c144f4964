"""Every route of every app, walked under auth_mode=tokens with each kind of caller.

The routes are read from the apps themselves, so a new route is walked as soon as it is
mounted, and this test fails until its handler is classified in CALLS below. Resources
of project A (volumes, snapshots, backups, shares, share backups, database instances and
backups, policies) fill the path parameters. For every route and call:

- project B's member, on B's URL (or a project-less one) naming A's resources, gets what
  it gets for ids that exist nowhere (404, or the documented answer), never sees an id
  of A it did not send, and on A's URL gets Cinder's 400 (URL/token project mismatch);
- A's reader reads (2xx) and is refused every change (403), and every admin-only call;
- A's member is refused every admin-only call (403);
- A's admin is never refused (no 403) and never meets a server error.

After every refused (or read-only) request no catalog row changed and no flow run,
cancellation or schedule reached the launcher stand-in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session

from api import create_app
from api.launcher import RecordingLauncher
from api.manila import create_manila_app
from api.manila.views import export_location_id
from api.trove.app import create_trove_app
from storage import catalog
from storage.catalog import (
    DbBackup,
    DbBackupStatus,
    DbInstance,
    InstanceStatus,
    db_backups,
    db_instances,
    share_backups,
    shares,
)
from storage.catalog.cas import compare_and_set
from storage.settings import Settings

A: Final = "a1c0ffee0000400080000000000000aa"
B: Final = "b2c0ffee0000400080000000000000bb"
TOKENS: Final = {
    "member_a": ("mem-a-Zq8v3LrTn1wXy5Kp0sDf7GhJ2mBc9V", "alice", A, ["member"]),
    "reader_a": ("rdr-a-Hk4pW9sQz2RtYx7Lc1VbN6mJ0aFg3D", "rita", A, ["reader"]),
    "admin_a": ("adm-a-Wd2Fh7Jk9Lp3Qs5Tv8Xz1Bn4Mc6Gr0", "root", A, ["admin"]),
    "member_b": ("mem-b-Rt5Yu8Io1Pa4Sd7Fg0Hj3Kl6Zx9Cv2", "bob", B, ["member"]),
}
# Cinder's newest microversion (v2 ignores it); Manila's newest, experimental APIs on.
HEADERS: Final[Mapping[str, Mapping[str, str]]] = {
    "cinder": {"OpenStack-API-Version": "volume 3.71"},
    "manila": {
        "X-OpenStack-Manila-API-Version": "2.91",
        "X-OpenStack-Manila-API-Experimental": "True",
    },
    "trove": {},
}
# Path parameters -> the resource kind they name, per app.
PARAMS: Final[Mapping[str, Mapping[str, str]]] = {
    "cinder": {
        "backup_id": "$backup",
        "volume_id": "$volume",
        "snapshot_id": "$snapshot",
        "policy_id": "$policy",
        "key": "k",
    },
    "manila": {
        "share_id": "$share",
        "backup_id": "$share_backup",
        "location_id": "$location",
        "key": "k",
    },
    "trove": {"instance_id": "$instance", "backup_id": "$db_backup", "name": "sqlite"},
}
# The routes served without a token (version discovery) and FastAPI's own documents.
PUBLIC: Final[Mapping[str, frozenset[str]]] = {
    "cinder": frozenset({"versions.list_versions", "versions.show_v3", "versions.show_v2"}),
    "manila": frozenset({"versions.list_versions", "versions.show_v2"}),
    "trove": frozenset({"versions.list_versions", "versions.show_version"}),
}
DOCUMENTS: Final = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
READS: Final = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Call:
    """One request to a route: its body and query, and how the route treats callers.

    `$kind` placeholders name project A's resources (`$kind_b`: project B's)."""

    body: Any = None
    query: str = ""
    admin: bool = False  # admin-only: 403 for anyone else, whatever the ids
    foreign: int | None = 404  # what B's member gets; None: acts in B's own project only
    params: Mapping[str, str] = field(default_factory=dict)
    v2: bool = True  # served on Cinder's v2 tree (v2 is 3.0)


LIST = (Call(foreign=200),)
LIST_ALL = (Call(foreign=200), Call(query="all_tenants=1", foreign=200))
# Lists filtered on a resource of A: B gets what it gets for an id that exists nowhere.
BY_VOLUME = (*LIST_ALL, Call(query="volume_id=$volume", foreign=200))
ONE = (Call(),)
POLICY = {
    "name": "walk",
    "targets": {"kind": "volume", "resource_id": "$volume"},
    "schedule": {"cron": "0 2 * * *"},
    "retention": {"keep_last": 2},
}

Calls = Mapping[tuple[str, str], tuple[Call, ...]]
# Every handler (module.function, method) of each app and the calls made to its routes.
CINDER: Final[Calls] = {
    # -- Cinder v3 / v2 / project-less ---------------------------------------------------
    ("records.export_record", "GET"): (Call(admin=True),),
    ("records.import_record", "POST"): (
        Call(
            {
                "backup-record": {
                    "backup_service": "cinder.backup.drivers.safehold.BlockV1Driver",
                    "backup_url": "e30=",
                }
            },
            admin=True,
        ),
    ),
    ("backups.create_backup", "POST"): (
        Call({"backup": {"volume_id": "$volume"}}),
        Call({"backup": {"volume_id": "$volume_b", "snapshot_id": "$snapshot"}}),
    ),
    ("backups.list_backups", "GET"): BY_VOLUME,
    ("backups.list_backups_detail", "GET"): BY_VOLUME,
    ("backups.show_backup", "GET"): ONE,
    ("backups.delete_backup", "DELETE"): (Call(), Call(query="cascade=true")),
    ("backups.restore_backup", "POST"): (
        Call({"restore": {"volume_id": "$volume"}}),
        Call({"restore": {"volume_id": "$volume"}}, params={"backup_id": "$backup_b"}),
        Call({"restore": {"name": "new"}}),
    ),
    ("backup_actions.update_backup", "PUT"): (Call({"backup": {"name": "x"}}, v2=False),),
    ("backup_actions.backup_action", "POST"): (
        Call({"os-reset_status": {"status": "error"}}, admin=True),
        Call({"os-force_delete": {}}, admin=True),
    ),
    ("volumes.create_volume", "POST"): (Call({"volume": {"size": 1}}, foreign=None),),
    ("volumes.list_volumes", "GET"): LIST_ALL,
    ("volumes.list_volumes_detail", "GET"): LIST_ALL,
    ("volumes.show_volume", "GET"): ONE,
    ("volumes.delete_volume", "DELETE"): ONE,
    ("volumes.volume_action", "POST"): (
        Call(
            {
                "os-attach": {
                    "mountpoint": "/dev/vdb",
                    "instance_uuid": "5e0c3f1a-9d2b-4c7e-8f6a-1b2c3d4e5f60",
                }
            }
        ),
        Call({"os-detach": {"attachment_id": None}}),
        Call({"os-reset_status": {"status": "error"}}, admin=True),
    ),
    ("volumes.manage_volume", "POST"): (
        Call({"volume": {"host": "h", "ref": {"source-name": "/nonexistent/v.img"}}}, admin=True),
    ),
    ("snapshots.create_snapshot", "POST"): (Call({"snapshot": {"volume_id": "$volume"}}),),
    ("snapshots.list_snapshots", "GET"): BY_VOLUME,
    ("snapshots.list_snapshots_detail", "GET"): BY_VOLUME,
    ("snapshots.show_snapshot", "GET"): ONE,
    ("snapshots.update_snapshot", "PUT"): (Call({"snapshot": {"name": "x"}}),),
    ("snapshots.delete_snapshot", "DELETE"): ONE,
    ("snapshots.snapshot_action", "POST"): (
        Call({"os-update_snapshot_status": {"status": "error"}}),
        Call({"os-reset_status": {"status": "error"}}, admin=True),
        Call({"os-force_delete": {}}, admin=True),
    ),
    ("snapshots.show_metadata", "GET"): ONE,
    ("snapshots.merge_metadata", "POST"): (Call({"metadata": {"k2": "v"}}),),
    ("snapshots.replace_metadata", "PUT"): (Call({"metadata": {"k2": "v"}}),),
    ("snapshots.show_metadata_key", "GET"): ONE,
    ("snapshots.update_metadata_key", "PUT"): (Call({"meta": {"k": "v2"}}),),
    ("snapshots.delete_metadata_key", "DELETE"): ONE,
    # -- Safehold's /v1 ------------------------------------------------------------------
    ("catalog.rebuild_catalog", "POST"): (Call(admin=True),),
    ("catalog.collect_garbage", "POST"): (Call({"dry_run": True}, admin=True),),
    ("progress.backup_progress", "GET"): ONE,
    ("policies.create_policy", "POST"): (Call({"policy": POLICY}),),
    ("policies.list_policies", "GET"): (
        Call(foreign=200),
        Call(query="all_projects=true", foreign=200),
    ),
    ("policies.show_policy", "GET"): ONE,
    ("policies.update_policy", "PUT"): (
        Call({"policy": {"name": "renamed"}}),
        Call({"policy": {"targets": POLICY["targets"]}}, params={"policy_id": "$policy_b"}),
    ),
    ("policies.delete_policy", "DELETE"): ONE,
    ("policies.pause_policy", "POST"): ONE,
    ("policies.resume_policy", "POST"): ONE,
    ("policies.run_policy", "POST"): ONE,
    ("policies.apply_retention", "POST"): (Call({"dry_run": True}), Call({"dry_run": False})),
}
# Manila refuses a filter on an unknown (or another project's) share with 400.
SHARE_BACKUP_LISTS = (
    Call(foreign=200),
    Call(query="all_tenants=1", admin=True),
    Call(query="share_id=$share", foreign=400),
)
MANILA: Final[Calls] = {
    ("share_actions.manage_share", "POST"): (
        Call(
            {"share": {"protocol": "NFS", "export_path": "/nonexistent", "service_host": "h"}},
            admin=True,
        ),
    ),
    ("share_actions.share_action", "POST"): (
        Call({"unmanage": None}, admin=True),
        Call({"reset_status": {"status": "error"}}, admin=True),
    ),
    ("shares.create_share", "POST"): (
        Call({"share": {"share_proto": "NFS", "size": 1}}, foreign=None),
    ),
    # A user's true all_tenants is refused in Manila (docs/api.md, deviation).
    ("shares.list_shares", "GET"): (Call(foreign=200), Call(query="all_tenants=1", admin=True)),
    ("shares.list_shares_detail", "GET"): (
        Call(foreign=200),
        Call(query="all_tenants=1", admin=True),
    ),
    ("shares.show_share", "GET"): ONE,
    ("shares.update_share", "PUT"): (Call({"share": {"name": "x"}}),),
    ("shares.delete_share", "DELETE"): ONE,
    ("share_extras.list_export_locations", "GET"): (Call(admin=True),),
    ("share_extras.show_export_location", "GET"): (Call(admin=True),),
    ("share_extras.show_metadata", "GET"): ONE,
    ("share_extras.merge_metadata", "POST"): (Call({"metadata": {"k2": "v"}}),),
    ("share_extras.replace_metadata", "PUT"): (Call({"metadata": {"k2": "v"}}),),
    ("share_extras.show_metadata_item", "GET"): ONE,
    ("share_extras.delete_metadata_item", "DELETE"): ONE,
    # Manila answers a backup of an unknown (or another project's) share with 400.
    ("share_backups.create_share_backup", "POST"): (
        Call({"share_backup": {"share_id": "$share"}}, foreign=400),
    ),
    ("share_backups.list_share_backups", "GET"): SHARE_BACKUP_LISTS,
    ("share_backups.list_share_backups_detail", "GET"): SHARE_BACKUP_LISTS,
    ("share_backups.show_share_backup", "GET"): ONE,
    ("share_backups.update_share_backup", "PUT"): (Call({"share_backup": {"name": "x"}}),),
    ("share_backups.delete_share_backup", "DELETE"): ONE,
    ("share_backup_actions.share_backup_action", "POST"): (
        Call({"restore": None}),
        Call({"restore": "$share"}, params={"backup_id": "$share_backup_b"}),
        Call({"reset_status": {"status": "error"}}, admin=True),
    ),
}
TROVE: Final[Calls] = {
    ("datastores.list_datastores", "GET"): LIST,
    ("datastores.show_datastore", "GET"): (Call(foreign=200),),
    ("datastores.list_versions", "GET"): (Call(foreign=200),),
    ("instances.create_instance", "POST"): (
        Call({"instance": {"name": "i2"}}, foreign=None),
        Call({"instance": {"name": "i3", "restorePoint": {"backupRef": "$db_backup"}}}),
    ),
    ("instances.manage_instance", "POST"): (
        Call({"instance": {"name": "m", "database": "nowhere"}}, admin=True),
    ),
    ("instances.list_instances", "GET"): LIST,
    ("instances.show_instance", "GET"): ONE,
    ("instances.delete_instance", "DELETE"): ONE,
    ("instances.list_databases", "GET"): ONE,
    ("instances.instance_backups", "GET"): ONE,
    ("backups.create_backup", "POST"): (
        Call({"backup": {"name": "b", "instance": "$instance"}}),
        Call({"backup": {"name": "b", "instance": "$instance_b", "parent_id": "$db_backup"}}),
    ),
    ("backups.list_backups", "GET"): (
        Call(foreign=200),
        Call(query="all_projects=true", foreign=200),
        Call(query="instance_id=$instance", foreign=200),
    ),
    ("backups.show_backup", "GET"): ONE,
    ("backups.delete_backup", "DELETE"): ONE,
}
CALLS: Final[Mapping[str, Calls]] = {"cinder": CINDER, "manila": MANILA, "trove": TROVE}


@dataclass(frozen=True)
class Route:
    """One served (path, method) of one app, with the calls its handler is walked with."""

    app: str
    method: str
    path: str
    handler: str

    @property
    def calls(self) -> tuple[Call, ...]:
        """The handler's calls; KeyError when the handler is not classified."""
        return CALLS[self.app][(self.handler, self.method)]

    @property
    def public(self) -> bool:
        """Version discovery: served without a token."""
        return self.handler in PUBLIC[self.app]


def handler_name(route: APIRoute) -> str:
    """`module.function` of a route's endpoint, the module without its packages."""
    endpoint = route.endpoint
    return f"{endpoint.__module__.rsplit('.', 1)[-1]}.{endpoint.__name__}"


def served_routes(name: str, app: FastAPI) -> Iterator[Route]:
    """Every (path, method) the app serves; AssertionError for anything but APIRoutes and
    FastAPI's documents."""
    for context in iter_route_contexts(app.routes):
        original = context.original_route
        if not isinstance(original, APIRoute):
            assert context.path in DOCUMENTS, f"{name}: unexpected route {context.path}"
            continue
        assert context.path is not None and context.methods
        for method in sorted(context.methods):
            yield Route(name, method, context.path, handler_name(original))


# -- the world: three apps on one catalog, and what project A (and B) own -------------------


@dataclass
class World:
    """The started apps, their shared catalog, the launcher stand-in and the seeded ids."""

    clients: dict[str, TestClient]
    engine: Engine
    launcher: RecordingLauncher
    ids: dict[str, str]
    routes: list[Route]

    def a_ids(self) -> dict[str, str]:
        """Project A's resource ids by placeholder."""
        return {k: v for k, v in self.ids.items() if not k.endswith("_b")}


MISSING_IDS: Final = {
    "$volume": "0d6e4b5c-2d8a-4f0e-9a3b-000000000001",
    "$snapshot": "0d6e4b5c-2d8a-4f0e-9a3b-000000000002",
    "$backup": "0d6e4b5c-2d8a-4f0e-9a3b-000000000003",
    "$share": "0d6e4b5c-2d8a-4f0e-9a3b-000000000004",
    "$share_backup": "0d6e4b5c-2d8a-4f0e-9a3b-000000000005",
    "$location": "0d6e4b5c-2d8a-4f0e-9a3b-000000000006",
    "$instance": "0d6e4b5c-2d8a-4f0e-9a3b-000000000007",
    "$db_backup": "0d6e4b5c-2d8a-4f0e-9a3b-000000000008",
    "$policy": "0d6e4b5c-2d8a-4f0e-9a3b-000000000009",
}


def token_file(directory: Path) -> Path:
    """A tokens file with a member, a reader and an admin of A, and a member of B."""
    path = directory / "tokens.json"
    document = {
        token: {"user_id": user, "project_id": project, "roles": roles}
        for token, user, project, roles in TOKENS.values()
    }
    path.write_text(json.dumps(document))
    return path


@contextmanager
def started_world(directory: Path) -> Iterator[World]:
    """The three apps started on one catalog in `directory`, projects A and B seeded."""
    settings = Settings(
        data_dir=directory,
        catalog_url=f"sqlite:///{directory / 'catalog.db'}",
        auth_mode="tokens",
        tokens_file=token_file(directory),
    )
    launcher = RecordingLauncher()
    apps = {
        "cinder": create_app(settings, launcher),
        "manila": create_manila_app(settings, launcher),
        "trove": create_trove_app(settings, launcher),
    }
    with ExitStack() as stack, pytest.MonkeyPatch.context() as env:
        # Only Trove's built-in SQLite datastore: no server of this machine is configured.
        for name in ("SAFEHOLD_POSTGRESQL_URL", "SAFEHOLD_MARIADB_URL", "SAFEHOLD_DATASTORES_FILE"):
            env.delenv(name, raising=False)
        clients = {name: stack.enter_context(TestClient(app)) for name, app in apps.items()}
        engine: Engine = apps["cinder"].state.engine
        ids = seed(engine, settings, A) | {
            f"{k}_b": v for k, v in seed(engine, settings, B).items()
        }
        ids["$policy"] = make_policy(clients["cinder"], "member_a", A, ids["$volume"])
        ids["$policy_b"] = make_policy(clients["cinder"], "member_b", B, ids["$volume_b"])
        routes = [r for name, app in apps.items() for r in served_routes(name, app)]
        yield World(clients, engine, launcher, ids, routes)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world for the walks that must change nothing (each checks that it did not)."""
    with started_world(tmp_path_factory.mktemp("walk")) as started:
        yield started


@pytest.fixture
def own_world(tmp_path: Path) -> Iterator[World]:
    """A world of its own, for the admin's walk (which changes it)."""
    with started_world(tmp_path) as started:
        yield started


def seed(engine: Engine, settings: Settings, project: str) -> dict[str, str]:
    """One resource of every kind in `project`, each settled (no run in flight)."""
    with Session(engine) as db:
        volume = catalog.create_volume(
            session=db, project_id=project, user_id="u", size_gb=1, name="v",
            volumes_dir=settings.volumes_dir, status="available",
        )  # fmt: skip
        snapshot = catalog.begin_snapshot(
            session=db, project_id=project, user_id="u", volume_id=volume.id,
            snapshots_dir=settings.snapshots_dir, metadata={"k": "v"},
        )  # fmt: skip
        assert catalog.finish_snapshot(session=db, snapshot_id=snapshot.id)
        backup = catalog.begin_backup(
            session=db, project_id=project, user_id="u", volume_id=volume.id, name="b"
        )
        assert catalog.finish_backup(
            session=db, backup_id=backup.id, object_count=1, stored_bytes=1
        )
        share = shares.create_share(
            session=db, project_id=project, user_id="u", size_gb=2, share_proto="NFS",
            shares_dir=settings.shares_dir, metadata={"k": "v"},
        )  # fmt: skip
        assert shares.finish_share_setup(session=db, share_id=share.id)
        share_backup = share_backups.begin_share_backup(
            session=db, project_id=project, user_id="u", share_id=share.id, name="sb"
        )
        result = {"object_count": 1, "stored_bytes": 1, "size_bytes": 1024, "stats": {}}
        assert share_backups.finish_share_backup(
            session=db, backup_id=share_backup.id, result=result
        )
        instance = db_instances.create_instance(
            session=db, project_id=project, user_id="u", name="db", datastore="sqlite",
            version="3", volume_size=1,
        )  # fmt: skip
        assert db_instances.finish_build(session=db, instance_id=instance.id, used_bytes=1)
        db_instance = db.get(DbInstance, instance.id)
        assert db_instance is not None
        db_backup = db_backups.begin_db_backup(
            session=db, project_id=project, user_id="u", instance=db_instance, name="dbb",
            description=None, parent_id=None, incremental=False,
        )  # fmt: skip
        _set(db, DbBackup, db_backup.id, DbBackupStatus.COMPLETED, size_bytes=1)
        _set(db, DbInstance, instance.id, InstanceStatus.ACTIVE)
        return {
            "$volume": volume.id,
            "$snapshot": snapshot.id,
            "$backup": backup.id,
            "$share": share.id,
            "$share_backup": share_backup.id,
            "$location": export_location_id(share),
            "$instance": instance.id,
            "$db_backup": db_backup.id,
        }


def _set(db: Session, model: Any, record_id: str, status: str, **values: Any) -> None:
    row = db.get(model, record_id)
    assert row is not None
    assert compare_and_set(db, model, record_id, to=status, expected={row.status}, **values)
    db.commit()


def make_policy(client: TestClient, who: str, project: str, volume_id: str) -> str:
    """A policy on the volume, made through the API (so its schedule exists too)."""
    body = {"policy": {**POLICY, "targets": {"kind": "volume", "resource_id": volume_id}}}
    response = client.post(f"/v1/{project}/policies", json=body, headers=token_header(who))
    assert response.status_code == 201, response.text
    return str(response.json()["policy"]["id"])


def token_header(who: str) -> dict[str, str]:
    """The X-Auth-Token of one of TOKENS."""
    return {"X-Auth-Token": TOKENS[who][0]}


# -- "nothing changed" -------------------------------------------------------------------------


def every_row(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table of the catalog, read fresh, in a comparable form."""
    with engine.connect() as connection:
        return {
            table: sorted(
                repr(tuple(row)) for row in connection.execute(text(f'SELECT * FROM "{table}"'))
            )
            for table in inspect(connection).get_table_names()
        }


def launched(launcher: RecordingLauncher) -> tuple[Any, ...]:
    """Everything the API told the orchestrator stand-in: runs, cancels, schedules."""
    schedules = launcher.schedules
    return (
        tuple(launcher.submissions),
        tuple(launcher.cancelled),
        repr(sorted(schedules.states.items())),
        repr(sorted((k, v[1]) for k, v in schedules.specs.items())),
    )


def state(world: World) -> tuple[Any, ...]:
    """The catalog and the launcher, for before/after comparisons."""
    return every_row(world.engine), launched(world.launcher)


# -- making requests ---------------------------------------------------------------------------


def filled(value: Any, ids: Mapping[str, str]) -> Any:
    """`value` with its `$kind` placeholders replaced by ids."""
    if isinstance(value, str):
        return re.sub(r"\$[a-z_]+", lambda m: ids.get(m.group(0), m.group(0)), value)
    if isinstance(value, dict):
        return {k: filled(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [filled(v, ids) for v in value]
    return value


@dataclass(frozen=True)
class Request:
    """One concrete request."""

    method: str
    url: str
    body: Any

    def text(self) -> str:
        """URL and body, to see which ids the caller named."""
        return self.url + json.dumps(self.body)


def request_for(route: Route, call: Call, project: str, ids: Mapping[str, str]) -> Request:
    """The route's URL in `project` with its parameters (and the body) filled from `ids`."""
    params = {**PARAMS[route.app], **call.params}

    def parameter(match: re.Match[str]) -> str:
        name = match.group(1)
        return project if name == "project_id" else str(filled(params[name], ids))

    url = re.sub(r"\{(\w+)\}", parameter, route.path)
    if call.query:
        url += "?" + str(filled(call.query, ids))
    return Request(route.method, url, filled(call.body, ids))


def send(world: World, route: Route, who: str, request: Request) -> Any:
    """Send as `who` with the app's dialect headers."""
    headers = {**HEADERS[route.app], **token_header(who)}
    kwargs: dict[str, Any] = {"headers": headers}
    if request.body is not None:
        kwargs["json"] = request.body
    return world.clients[route.app].request(request.method, request.url, **kwargs)


def absent(route: Route, call: Call) -> bool:
    """Whether the route does not exist on this URL tree (Cinder's v2 is 3.0)."""
    return route.app == "cinder" and route.path.startswith("/v2/") and not call.v2


def walked(world: World) -> Iterator[tuple[Route, Call]]:
    """Every (route, call) that needs a token."""
    for route in world.routes:
        if not route.public:
            yield from ((route, call) for call in route.calls)


def expect(failures: list[str], label: str, response: Any, wanted: set[int]) -> None:
    """Record a failure unless the status is one of `wanted`."""
    if response.status_code not in wanted:
        failures.append(f"{label}: {response.status_code} {response.text[:200]}")


def unchanged(failures: list[str], world: World, label: str, before: tuple[Any, ...]) -> None:
    """Record a failure when the catalog or the launcher moved."""
    if state(world) != before:
        failures.append(f"{label}: changed something")


def report(failures: list[str]) -> None:
    """Fail with every recorded failure at once."""
    assert failures == [], "\n".join(failures)


# -- the tests ---------------------------------------------------------------------------------


def named(who: str, route: Route, call: Call) -> str:
    """A failure's label: who sent what to which route."""
    query = f"?{call.query}" if call.query else ""
    return f"{who}: {route.app} {route.method} {route.path}{query} {json.dumps(call.body)}"


def test_every_route_is_classified(world: World) -> None:
    unclassified = set()
    for route in world.routes:
        if route.public:
            continue
        try:
            assert route.calls
        except KeyError:
            unclassified.add(f"{route.app} {route.method} {route.path} ({route.handler})")
    assert unclassified == set(), "add these handlers to CALLS"
    unfilled = {
        f"{route.app} {route.path}: {name}"
        for route in world.routes
        if not route.public
        for name in re.findall(r"\{(\w+)\}", route.path)
        if name != "project_id" and name not in PARAMS[route.app]
    }
    assert unfilled == set(), "add these path parameters to PARAMS"
    used = {(r.app, r.handler, r.method) for r in world.routes}
    listed = {(app, *key) for app, calls in CALLS.items() for key in calls}
    assert listed - used == set(), "CALLS names handlers no app serves"
    assert len(world.routes) > 150


def test_version_discovery_needs_no_token(world: World) -> None:
    failures: list[str] = []
    for route in world.routes:
        if route.public:
            response = world.clients[route.app].get(route.path)
            expect(failures, f"{route.app} GET {route.path}", response, {200, 300})
    report(failures)


def test_another_project_finds_nothing_of_a_and_changes_nothing(world: World) -> None:
    failures: list[str] = []
    before = state(world)
    a_ids = world.a_ids()
    missing = {**world.ids, **MISSING_IDS}
    for route, call in walked(world):
        if call.foreign is None:
            continue
        label = named("member of B", route, call)
        real = request_for(route, call, B, world.ids)
        wanted = {404} if absent(route, call) else {403 if call.admin else call.foreign}
        response = send(world, route, "member_b", real)
        expect(failures, label, response, wanted)
        leaked = [i for i in a_ids.values() if i in response.text and i not in real.text()]
        if leaked:
            failures.append(f"{label}: shows A's {leaked}")
        twin = request_for(route, call, B, missing)
        if twin != real:  # A's ids named: answered exactly as ids that exist nowhere
            answer = send(world, route, "member_b", twin)
            shown = answer.text
            for kind, gone in MISSING_IDS.items():
                shown = shown.replace(gone, world.ids[kind])
            if (answer.status_code, shown) != (response.status_code, response.text):
                failures.append(f"{label}: {response.text} but {answer.text} for missing ids")
        unchanged(failures, world, label, before)
    report(failures)


def test_another_projects_url_is_a_malformed_url(world: World) -> None:
    failures: list[str] = []
    before = state(world)
    for route, call in walked(world):
        if "{project_id}" not in route.path:
            continue
        label = named("member of B on A's URL", route, call)
        response = send(world, route, "member_b", request_for(route, call, A, world.ids))
        expect(failures, label, response, {404} if absent(route, call) else {400})
        if response.status_code == 400 and "Malformed request URL" not in response.text:
            failures.append(f"{label}: {response.text}")
        unchanged(failures, world, label, before)
    report(failures)


def forbidden(failures: list[str], label: str, response: Any) -> None:
    """Record a failure unless the answer is the 403 fault body."""
    expect(failures, label, response, {403})
    if response.status_code == 403 and set(response.json()) != {"forbidden"}:
        failures.append(f"{label}: {response.text}")


def test_a_reader_reads_and_changes_nothing(world: World) -> None:
    failures: list[str] = []
    before = state(world)
    for route, call in walked(world):
        label = named("reader of A", route, call)
        response = send(world, route, "reader_a", request_for(route, call, A, world.ids))
        if absent(route, call):
            expect(failures, label, response, {404})
        elif route.method in READS and not call.admin:
            expect(failures, label, response, {200})
        else:
            forbidden(failures, label, response)
        unchanged(failures, world, label, before)
    report(failures)


def test_a_member_is_refused_every_admin_only_call(world: World) -> None:
    failures: list[str] = []
    before = state(world)
    for route, call in walked(world):
        if call.admin:
            label = named("member of A", route, call)
            response = send(world, route, "member_a", request_for(route, call, A, world.ids))
            forbidden(failures, label, response)
            unchanged(failures, world, label, before)
    report(failures)


def _admin_order(item: tuple[Route, Call]) -> int:
    """Reads, writes, admin overrides, then deletes: the walk changes the world as it goes."""
    route, call = item
    if route.method in READS:
        return 0
    if route.method == "DELETE" or "force_delete" in json.dumps(call.body):
        return 3
    return 2 if call.admin else 1


def test_an_admin_is_never_forbidden(own_world: World) -> None:
    failures: list[str] = []
    for route, call in sorted(walked(own_world), key=_admin_order):
        label = named("admin of A", route, call)
        response = send(own_world, route, "admin_a", request_for(route, call, A, own_world.ids))
        if response.status_code == 403 or response.status_code >= 500:
            failures.append(f"{label}: {response.status_code} {response.text[:200]}")
    report(failures)
