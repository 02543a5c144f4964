"""Backup list semantics per microversion and role (FIELDS.md 1.5): filters, sorting, limits."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api import listing
from storage import catalog
from storage.settings import Settings

from .helpers import ADMIN, OTHER_PROJECT, PROJECT, USER, headers, make_volume

BACKUPS = f"/v3/{PROJECT}/backups"


@pytest.fixture
def names(session: Session, settings: Settings) -> list[str]:
    """Four backups in PROJECT and one in OTHER_PROJECT."""
    made = ["Nightly-1", "nightly-2", "weekly", "monthly"]
    for name in made:
        volume = make_volume(session, settings.volumes_dir)
        catalog.begin_backup(
            session=session, project_id=PROJECT, user_id=USER, volume_id=volume.id, name=name
        )
    volume = make_volume(session, settings.volumes_dir, project=OTHER_PROJECT)
    catalog.begin_backup(
        session=session, project_id=OTHER_PROJECT, user_id="bob", volume_id=volume.id, name="bob"
    )
    return made


def _names(client: TestClient, query: str, mv: str | None = None, user: str = USER) -> list[str]:
    response = client.get(f"{BACKUPS}?{query}", headers=headers(user=user, mv=mv))
    assert response.status_code == 200, response.text
    return sorted(b["name"] for b in response.json()["backups"])


def test_like_filters_from_3_34(client: TestClient, names: list[str]) -> None:
    assert _names(client, "name~=NIGHT", "3.34") == ["Nightly-1", "nightly-2"]
    assert _names(client, "name~=ly&status~=creat", "3.34") == sorted(names)
    response = client.get(f"{BACKUPS}?name~=night", headers=headers(mv="3.33"))
    assert response.status_code == 400
    assert "name~" in response.json()["badRequest"]["message"]
    # Before 3.31 an unknown filter is dropped: everything is listed.
    assert _names(client, "name~=night", "3.30") == sorted(names)


def test_exact_filters_stay_exact(client: TestClient, names: list[str]) -> None:
    assert _names(client, "name=nightly-2", "3.34") == ["nightly-2"]
    assert _names(client, "name=night", "3.34") == []


def test_admins_may_filter_on_columns_and_never_get_400(
    client: TestClient, names: list[str]
) -> None:
    assert _names(client, f"all_tenants=1&project_id={OTHER_PROJECT}", "3.31", ADMIN) == ["bob"]
    assert _names(client, "all_tenants=1&user_id=bob", "3.31", ADMIN) == ["bob"]
    # A filter on something backups do not have matches nothing (Cinder), not everything.
    assert _names(client, "all_tenants=1&colour=red", "3.31", ADMIN) == []
    assert _names(client, "all_tenants=1&colour=red", None, ADMIN) == []


def test_column_filters_are_admin_only(client: TestClient, names: list[str]) -> None:
    response = client.get(f"{BACKUPS}?user_id=bob", headers=headers(mv="3.31"))
    assert response.status_code == 400


def test_sorting_by_name_needs_3_37(client: TestClient, names: list[str]) -> None:
    response = client.get(f"{BACKUPS}?sort=name:asc", headers=headers(mv="3.36"))
    assert response.status_code == 400
    assert "3.37" in response.json()["badRequest"]["message"]
    legacy = client.get(f"{BACKUPS}?sort_key=name", headers=headers(mv="3.36"))
    assert legacy.status_code == 400
    ordered = client.get(f"{BACKUPS}?sort=name:asc", headers=headers(mv="3.37")).json()
    assert [b["name"] for b in ordered["backups"]] == sorted(names)
    # display_name (what cinderclient sends) works at any version.
    legacy_ok = client.get(f"{BACKUPS}?sort_key=display_name&sort_dir=desc", headers=headers())
    assert [b["name"] for b in legacy_ok.json()["backups"]] == sorted(names, reverse=True)


def test_limits_above_the_maximum_are_clamped(
    client: TestClient, names: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing, "MAX_LIMIT", 3)
    body = client.get(f"{BACKUPS}?limit=500", headers=headers()).json()
    assert len(body["backups"]) == 3
    [link] = body["backups_links"]
    assert link["href"].startswith("http://testserver/v3/")  # absolute: clients follow it
    rest = client.get(link["href"], headers=headers()).json()
    assert len(rest["backups"]) == 1
    # Without a limit a full page of the maximum also links to the next one.
    assert "backups_links" in client.get(BACKUPS, headers=headers()).json()


def test_count_is_the_total_before_paging(client: TestClient, names: list[str]) -> None:
    body = client.get(f"{BACKUPS}?with_count=true&limit=1", headers=headers(mv="3.45")).json()
    assert (len(body["backups"]), body["count"]) == (1, 4)
    assert "backups_links" in body
