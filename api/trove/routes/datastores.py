"""Datastores and their versions: what the operator configured, with real server versions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ContextDep, SettingsDep
from api.trove.datastores import datastores, find, version_of
from api.trove.views import datastore_id, version_id
from storage.sources.databases import Datastore

router = APIRouter(prefix="/{project_id}", tags=["datastores"])


def _versions(store: Datastore) -> list[dict[str, Any]]:
    version = version_of(store)
    if version is None:  # its server is down: listed, with nothing to create on
        return []
    return [
        {
            "id": version_id(store.type, version),
            "name": version,
            "datastore": datastore_id(store.type),
            "active": True,
            "packages": "",
            "image": "",
            "links": [],
        }
    ]


def _datastore(store: Datastore) -> dict[str, Any]:
    versions = _versions(store)
    body: dict[str, Any] = {
        "id": datastore_id(store.type),
        "name": store.type,
        "links": [],
        "versions": [
            {"id": v["id"], "name": v["name"], "links": [], "active": 1} for v in versions
        ],
    }
    if versions:
        body["default_version"] = versions[0]["id"]
    return body


@router.get("/datastores")
def list_datastores(_context: ContextDep, settings: SettingsDep) -> dict[str, Any]:
    """`{"datastores": [...]}`: sqlite always, postgresql and mariadb when configured."""
    return {"datastores": [_datastore(s) for s in datastores(settings).values()]}


@router.get("/datastores/{name}")
def show_datastore(name: str, _context: ContextDep, settings: SettingsDep) -> dict[str, Any]:
    """`{"datastore": {...}}` by type or id; 404 unknown."""
    return {"datastore": _datastore(find(settings, name))}


@router.get("/datastores/{name}/versions")
def list_versions(name: str, _context: ContextDep, settings: SettingsDep) -> dict[str, Any]:
    """`{"versions": [...]}`: the server's real version."""
    return {"versions": _versions(find(settings, name))}
