"""A tempest AuthProvider with a fixed endpoint and token: tempest's clients without Keystone.

Tempest's service clients take their base URL and token from an AuthProvider, normally
backed by Keystone. This one answers both from its arguments (CLIENTS.md), so that
tempest.lib's clients, and the JSON schemas they validate every response against, can
be pointed at Safehold running in noauth mode.
"""

from __future__ import annotations

import re
from typing import Any

from tempest.lib import auth


class FixedTokenAuthProvider(auth.AuthProvider):  # type: ignore[misc]
    """Every request goes to `endpoint` (e.g. http://host/v3/<project>) with one token."""

    def __init__(self, endpoint: str, *, user_id: str, project_id: str) -> None:
        credentials = auth.KeystoneV3Credentials(
            user_id=user_id, password="unused", project_id=project_id
        )
        super().__init__(credentials)
        self._endpoint = endpoint.rstrip("/")
        self._token = f"{user_id}:{project_id}"  # Cinder noauth: user[:project]

    def _decorate_request(
        self,
        filters: Any,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        body: Any = None,
        auth_data: Any = None,
    ) -> tuple[str, dict[str, str], Any]:
        token, _ = auth_data if auth_data is not None else self.get_auth()
        decorated = dict(headers or {})
        decorated["X-Auth-Token"] = token
        full = self._endpoint if not url else f"{self._endpoint}/{url}"
        # As Keystone's provider does: no doubled slashes in the path part.
        scheme, _, rest = full.partition("://")
        return f"{scheme}://{re.sub('/{2,}', '/', rest)}", decorated, body

    def _get_auth(self) -> tuple[str, dict[str, Any]]:
        return self._token, {}

    def _fill_credentials(self, auth_data_body: Any) -> None:
        """Nothing to learn from a token that never came from Keystone."""

    def is_expired(self, auth_data: Any) -> bool:
        """A fixed token never expires."""
        return False

    def base_url(self, filters: Any, auth_data: Any = None) -> str:
        """The one endpoint, whatever service or interface was asked for."""
        return self._endpoint

    def get_token(self) -> str:
        """The fixed noauth token."""
        return self._token
