"""tempest.lib's Cinder clients for one user, pointed at a Safehold URL tree (v3 or v2)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tempest.lib.services.volume import base_client
from tempest.lib.services.volume.v3 import (
    BackupsClient,
    SnapshotsClient,
    VersionsClient,
    VolumesClient,
)

from tests.wire.tempest_auth import FixedTokenAuthProvider

PROJECT = "0c2eba2c5af04d3f9e9d0d410b371fde"  # keystone-style: 32 hex digits
USER = "alice"
ADMIN = "admin"


@dataclass(frozen=True)
class VolumeClients:
    """The clients one tempest test would use."""

    backups: BackupsClient
    volumes: VolumesClient
    versions: VersionsClient
    snapshots: SnapshotsClient  # a plain RestClient: never sends a microversion


@contextmanager
def microversion(mv: str | None) -> Iterator[None]:
    """Set tempest's module-level VOLUME_MICROVERSION as a tempest test class does (None:
    no header, base schemas), and restore it after."""
    saved = base_client.VOLUME_MICROVERSION
    base_client.VOLUME_MICROVERSION = mv
    try:
        yield
    finally:
        base_client.VOLUME_MICROVERSION = saved


def volume_clients(
    base_url: str, *, tree: str = "v3", user: str = USER, project: str = PROJECT
) -> VolumeClients:
    """Clients for `user` on <base_url>/<tree>/<project> (tempest's v2 clients are v3's)."""
    provider = FixedTokenAuthProvider(
        f"{base_url}/{tree}/{project}", user_id=user, project_id=project
    )
    service = "volumev3" if tree == "v3" else "volumev2"
    return VolumeClients(
        backups=BackupsClient(provider, service, "RegionOne"),
        volumes=VolumesClient(provider, service, "RegionOne"),
        versions=VersionsClient(provider, service, "RegionOne"),
        snapshots=SnapshotsClient(provider, service, "RegionOne"),
    )
