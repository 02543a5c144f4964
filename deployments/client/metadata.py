"""Changing a resource's fields and metadata (`update`, `unset` of snapshots and shares)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from deployments.client.context import Cli
from deployments.client.http import Body
from deployments.client.parsing import given, pairs
from deployments.client.resources import Resource


def update(
    cli: Cli,
    resource: Resource,
    rid: str,
    fields: Mapping[str, Any],
    prop: list[str] | None,
    replace: bool,
    as_json: bool,
    *,
    missing: str,
) -> None:
    """Set the fields given, then merge (`replace`: replace) the metadata; else BadParameter."""
    api = resource.api(cli)
    body: Body = {}
    changes = given(fields)
    if changes:
        body = api.put(resource.url(rid), {resource.key: changes})
    metadata = pairs(prop)
    if metadata is not None or replace:
        method = api.put if replace else api.post
        body = method(f"{resource.url(rid)}/metadata", {"metadata": metadata or {}})
    if not body:
        raise typer.BadParameter(missing)
    cli.out(as_json).line(body, f"{resource.kind} {rid} updated")


def unset(cli: Cli, resource: Resource, rid: str, keys: list[str], as_json: bool) -> None:
    """Remove metadata keys; the metadata left is the --json body."""
    api = resource.api(cli)
    for key in keys:
        api.delete(f"{resource.url(rid)}/metadata/{key}")
    body = api.get(f"{resource.url(rid)}/metadata")
    cli.out(as_json).line(body, f"{resource.kind} {rid}: removed {', '.join(keys)}")
