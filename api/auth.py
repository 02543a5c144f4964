"""No-auth identity, as Cinder's noauth: the token is `user[:project]`.

openstacksdk's `auth_type="none"` sends `X-Auth-Token: notused` with no project; such
a token takes its project from the URL. Admins are the users named in settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Header, Request

from api.faults import Fault
from storage.settings import Settings


@dataclass(frozen=True)
class Context:
    """Who is calling: user, project, and whether the admin role applies."""

    user_id: str
    project_id: str
    is_admin: bool


def parse_token(token: str, path_project: str | None) -> tuple[str, str] | None:
    """(user, project) from a noauth token; None when it names no user."""
    user, colon, project = token.strip().partition(":")
    if not user:
        return None
    if not colon:
        project = path_project or user
    return user, project or user


def get_context(
    request: Request,
    project_id: str,
    x_auth_token: Annotated[str | None, Header()] = None,
) -> Context:
    """The caller of a project route: 401 without a token, 400 for another project's URL."""
    parsed = parse_token(x_auth_token or "", project_id)
    if parsed is None:
        raise Fault(401, "The request you have made requires authentication.")
    user_id, token_project = parsed
    if token_project != project_id:
        # Cinder answers a URL/context project mismatch with 400, not 403.
        raise Fault(
            400,
            f"Malformed request URL: URL's project_id '{project_id}' doesn't match "
            f"Context's project_id '{token_project}'",
        )
    settings: Settings = request.app.state.settings
    return Context(user_id, token_project, user_id in settings.admin_user_set())


def require_admin(context: Context, action: str) -> None:
    """Raise 403 (Cinder's policy wording) unless the caller is an admin."""
    if not context.is_admin:
        raise Fault(403, f"Policy doesn't allow {action} to be performed.")


def visible_project(context: Context) -> str | None:
    """The project filter for reading one resource: admins see every project (Cinder)."""
    return None if context.is_admin else context.project_id


def list_project(context: Context, all_tenants: bool) -> str | None:
    """The project a list covers: every project (None) for an admin asking all_tenants;
    anyone else's all_tenants is silently ignored (Cinder)."""
    return None if context.is_admin and all_tenants else context.project_id
