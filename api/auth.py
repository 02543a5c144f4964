"""Who is calling, from `X-Auth-Token`, in one of two modes (settings.auth_mode).

noauth, as Cinder's: the token is `user[:project]`; openstacksdk's `auth_type="none"`
sends `notused` with no project, which takes its project from the URL (on a project-less
URL it defaults to the user, as in Cinder); admins are the users named in settings.
tokens: only the tokens of the tokens file (api/tokens.py), each with its own project
and roles. A token is never logged or echoed. A v3 URL may omit the project (Cinder
3.67, `/v3/backups`): the caller's project is then the token's.

Roles are enforced here, once for every route: a reader-only token (Keystone's `reader`
without `member` or `admin`) gets 403 on any method but GET and HEAD, before the route
looks at anything; admin-only calls check `require_admin` themselves. noauth has no
readers: every caller is a member, or an admin when named in settings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Header, Request

from api.faults import Fault
from api.tokens import TokenFile
from storage.settings import Settings

logger = logging.getLogger(__name__)
UNAUTHORIZED = "The request you have made requires authentication."
# What a reader-only token may send: nothing else reaches a route that could change a row.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Context:
    """Who is calling: user, project, whether the admin role applies, and whether the
    caller may only read (Keystone's reader role without member or admin)."""

    user_id: str
    project_id: str
    is_admin: bool
    read_only: bool = False


def parse_token(token: str, path_project: str | None) -> tuple[str, str] | None:
    """(user, project) from a noauth token; None when it names no user."""
    user, colon, project = token.strip().partition(":")
    if not user:
        return None
    if not colon:
        project = path_project or user
    return user, project or user


def url_project(request: Request) -> str | None:
    """The URL's `{project_id}`; None on a project-less URL (Cinder 3.67: `/v3/backups`)."""
    project: str | None = request.path_params.get("project_id")
    return project


def get_context(
    request: Request,
    x_auth_token: Annotated[str | None, Header()] = None,
) -> Context:
    """The caller: 401 without a valid token, 400 for another project's URL, 403 for a
    reader's write; a project-less URL takes the token's project."""
    project_id = url_project(request)
    tokens: TokenFile | None = request.app.state.tokens
    if tokens is None:
        context = _noauth_context(request.app.state.settings, x_auth_token, project_id)
    else:
        context = _token_context(tokens, x_auth_token)
    if context is None:
        logger.info("unauthenticated request to %s refused", request.url.path)
        raise Fault(401, UNAUTHORIZED)
    if project_id is not None and context.project_id != project_id:
        # Cinder answers a URL/context project mismatch with 400, not 403.
        raise Fault(
            400,
            f"Malformed request URL: URL's project_id '{project_id}' doesn't match "
            f"Context's project_id '{context.project_id}'",
        )
    require_write_role(context, request)
    return context


def require_write_role(context: Context, request: Request) -> None:
    """Raise 403 (Cinder's policy wording) when a reader-only caller sends anything but a read."""
    if context.read_only and request.method not in READ_METHODS:
        logger.info("reader %s refused %s %s", context.user_id, request.method, request.url.path)
        raise Fault(
            403,
            f"Policy doesn't allow {request.method} {request.url.path} to be performed: "
            "the reader role may only read.",
        )


def _noauth_context(
    settings: Settings, token: str | None, project_id: str | None
) -> Context | None:
    parsed = parse_token(token or "", project_id)
    if parsed is None:
        return None
    user_id, token_project = parsed
    return Context(user_id, token_project, user_id in settings.admin_user_set())


def _token_context(tokens: TokenFile, token: str | None) -> Context | None:
    identity = tokens.lookup(token)
    if identity is None:
        return None
    return Context(identity.user_id, identity.project_id, identity.is_admin, identity.read_only)


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
