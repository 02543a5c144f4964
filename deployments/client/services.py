"""The endpoints of one configuration: Cinder (+ Safehold's native /v1), Manila, Trove,
and Prefect's REST API (to follow runs the Safehold API has no status of)."""

from __future__ import annotations

from functools import cached_property
from typing import Final

import httpx

from deployments.client.config import ClientConfig
from deployments.client.errors import ConfigError
from deployments.client.http import Api

# The newest microversions served (api.cinder.microversion, api.manila.microversion).
CINDER_VERSION: Final = "volume 3.71"
MANILA_VERSION: Final = "2.91"
USER_AGENT: Final = "safehold-cli"


class Services:
    """Lazily built Apis sharing one connection pool; close() when done."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.client = httpx.Client(timeout=config.timeout, headers={"User-Agent": USER_AGENT})

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    @property
    def project(self) -> str:
        """The project every project-scoped URL names; ConfigError when unknown."""
        if not self.config.project:
            raise ConfigError(
                "no project: give --project, SAFEHOLD_PROJECT or `project` in the config file"
            )
        return self.config.project

    def _auth(self) -> dict[str, str]:
        return {"X-Auth-Token": self.config.token, "Accept": "application/json"}

    @cached_property
    def cinder(self) -> Api:
        """`<url>/v3/<project>` at the newest Cinder microversion."""
        headers = {**self._auth(), "OpenStack-API-Version": CINDER_VERSION}
        return Api(self.client, f"{self.config.url}/v3/{self.project}", headers)

    @cached_property
    def native(self) -> Api:
        """Safehold's own API, `<url>/v1/<project>`."""
        return Api(self.client, f"{self.config.url}/v1/{self.project}", self._auth())

    @cached_property
    def manila(self) -> Api:
        """`<manila_url>/v2/<project>`, newest microversion, experimental APIs on."""
        headers = {
            **self._auth(),
            "X-OpenStack-Manila-API-Version": MANILA_VERSION,
            "X-OpenStack-Manila-API-Experimental": "True",
        }
        return Api(self.client, f"{self.config.manila_url}/v2/{self.project}", headers)

    @cached_property
    def trove(self) -> Api:
        """`<trove_url>/v1.0/<project>`."""
        return Api(self.client, f"{self.config.trove_url}/v1.0/{self.project}", self._auth())

    @cached_property
    def prefect(self) -> Api:
        """Prefect's REST API (no Safehold token is ever sent there)."""
        return Api(self.client, self.config.prefect_url, {"Accept": "application/json"})
