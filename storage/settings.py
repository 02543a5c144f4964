"""Service settings, read from SAFEHOLD_* environment variables; built by the caller."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class Settings(BaseSettings):
    """Everything configurable; defaults give the embedded single-machine service."""

    model_config = SettingsConfigDict(env_prefix="SAFEHOLD_", extra="ignore")

    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    # The embedded Prefect server (and UI) is an unauthenticated admin interface to every
    # run: loopback unless the operator says otherwise, whatever the API binds.
    prefect_host: str = "127.0.0.1"
    api_port: int = 8776
    # Manila's API listens on its own port, as in OpenStack (its paths collide with Cinder's).
    manila_port: int = 8786
    trove_port: int = 8779
    ui_port: int = 4200
    # Catalog database URL; default: SQLite file under data_dir.
    catalog_url: str | None = None
    # Backup store URL (file://, s3://bucket/prefix, memory://); default: data_dir/backups.
    backup_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_region: str | None = None
    block_size: int = 1 * MIB
    # 16 MiB: a backup holds two segments (filling, uploading) and a restore three
    # (fetched ahead), so this bounds their memory; still large objects for S3.
    segment_size: int = 16 * MIB
    # zstd 1, measured on the ext4 bench image's blocks (CPU time, one core): 647 MB/s
    # storing 0.568 of the bytes, against level 2 587 MB/s / 0.539 and level 3 480 MB/s /
    # 0.529; compression is most of a full backup's CPU (sha256 runs at 1.8 GB/s).
    zstd_level: int = 1
    # Users treated as admin under noauth (comma separated).
    admin_users: str = "admin"
    # "noauth" trusts `user:project` tokens (local use); "tokens" accepts only the tokens
    # listed in tokens_file (production; docs/operations.md "Authentication").
    auth_mode: Literal["noauth", "tokens"] = "noauth"
    tokens_file: Path | None = None
    # noauth lets anyone claim any project and admin: refused on a non-loopback host
    # unless the operator says so explicitly (a lab behind its own firewall).
    noauth_beyond_loopback: bool = False
    # Test-only chaos switch: a JSON file naming store faults to inject (docs/operations.md).
    fault_file: Path | None = None
    # Data movements (backup/restore) running at once across all runners: a Prefect
    # global concurrency limit that the start-up creates (docs/operations.md).
    max_data_operations: int = 4
    # When every policy's retention runs on its own, besides after each policy run.
    retention_cron: str = "17 * * * *"
    # Directories (or single files/devices) manage-existing may register from, separated by
    # os.pathsep (":" on Linux, as PATH); unset: volumes_dir; empty: manage-existing refused
    # (docs/operations.md "Manage-existing roots").
    manage_roots: str | None = None
    # Directories under which Manila's manage call may register a share's tree, as
    # manage_roots; unset: shares_dir; empty: share manage refused.
    share_roots: str | None = None

    @property
    def data_path(self) -> Path:
        """The data directory as an absolute path."""
        return self.data_dir.resolve()

    @property
    def volumes_dir(self) -> Path:
        """Where file-backed volumes created through the API live."""
        return self.data_path / "volumes"

    @property
    def snapshots_dir(self) -> Path:
        """Where point-in-time copies (snapshots, temporary backup sources) live."""
        return self.data_path / "snapshots"

    @property
    def shares_dir(self) -> Path:
        """Where the trees of shares created through the API live."""
        return self.data_path / "shares"

    @property
    def databases_dir(self) -> Path:
        """Where the files of SQLite database instances live."""
        return self.data_path / "databases"

    def manage_root_paths(self) -> tuple[Path, ...]:
        """The roots manage-existing may register files under, as absolute paths."""
        return _roots(self.manage_roots, self.volumes_dir)

    def share_root_paths(self) -> tuple[Path, ...]:
        """The roots Manila's manage call may register share trees under."""
        return _roots(self.share_roots, self.shares_dir)

    def resolved_catalog_url(self) -> str:
        """The catalog URL, defaulting to SQLite under the data dir."""
        return self.catalog_url or f"sqlite:///{self.data_path / 'catalog.db'}"

    def resolved_backup_url(self) -> str:
        """The backup store URL, defaulting to a directory under the data dir."""
        return self.backup_url or f"file://{self.data_path / 'backups'}"

    def storage_options(self) -> dict[str, Any]:
        """fsspec options for the backup store (S3 endpoint and credentials)."""
        if not self.resolved_backup_url().startswith("s3://"):
            return {}
        opts: dict[str, Any] = {}
        if self.s3_endpoint_url:
            opts["endpoint_url"] = self.s3_endpoint_url
        if self.s3_access_key_id:
            opts["key"] = self.s3_access_key_id
        if self.s3_secret_access_key:
            opts["secret"] = self.s3_secret_access_key.get_secret_value()
        if self.s3_region:
            opts["client_kwargs"] = {"region_name": self.s3_region}
        return opts

    def admin_user_set(self) -> frozenset[str]:
        """The user ids granted the admin role under noauth."""
        return frozenset(u.strip() for u in self.admin_users.split(",") if u.strip())


def _roots(setting: str | None, default: Path) -> tuple[Path, ...]:
    """os.pathsep-separated absolute roots; ``default`` when unset, none when empty."""
    if setting is None:
        return (default,)
    parts = (p.strip() for p in setting.split(os.pathsep))
    return tuple(Path(os.path.abspath(p)) for p in parts if p)
