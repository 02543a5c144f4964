"""What every view needs: the request's base URL, caller, microversion, and time format."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from api.microversion import APIVersion


@dataclass(frozen=True)
class ViewContext:
    """The request facts a view depends on."""

    base_url: str  # scheme://host[:port][root_path], no trailing slash
    # The URL's project (Cinder builds links from the caller's); None for a project-less
    # URL (3.67), whose links carry no project either.
    project_id: str | None
    version: APIVersion
    is_admin: bool
    tree: str = "v3"  # the URL tree the request came in on: "v3" or "v2"

    def links(self, collection: str, resource_id: str) -> list[dict[str, str]]:
        """Cinder's self (versioned) and bookmark (unversioned) links of a resource."""
        project = f"{self.project_id}/" if self.project_id is not None else ""
        tail = f"{project}{collection}/{resource_id}"
        return [
            {"href": f"{self.base_url}/{self.tree}/{tail}", "rel": "self"},
            {"href": f"{self.base_url}/{tail}", "rel": "bookmark"},
        ]


def isotime(value: datetime | None) -> str | None:
    """Naive UTC ISO-8601 with microseconds, as Cinder emits; naive input is UTC."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")
