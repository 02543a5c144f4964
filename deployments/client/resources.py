"""A resource family of the APIs and the list/show/wait/delete/reset steps its commands share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from deployments.client.context import Cli
from deployments.client.http import Api, Body, Params
from deployments.client.output import Column
from deployments.client.waiting import Probe, Reading, fail_reason, status_probe


def list_rows(
    cli: Cli,
    api: Api,
    path: str,
    key: str,
    columns: Sequence[Column],
    as_json: bool,
    params: Params | None = None,
) -> None:
    """GET `path` and print its `key` list as a table (the body under --json)."""
    body = api.get(path, params)
    cli.out(as_json).rows(body, body[key], columns)


@dataclass(frozen=True)
class Resource:
    """One kind of resource: its endpoint and path, JSON key, name in messages, statuses."""

    api: Callable[[Cli], Api]
    path: str  # of the collection, e.g. "/share-backups"
    key: str  # of one in a body, e.g. "share_backup"
    kind: str  # as messages name it, e.g. "share backup"
    fields: Sequence[str] | None = None  # what `show` puts first
    ready: frozenset[str] = frozenset()  # statuses that end a wait well
    failed: frozenset[str] = frozenset()  # statuses that end it in failure
    reason: Callable[[Body], str | None] = fail_reason

    def url(self, rid: str) -> str:
        """The path of one resource."""
        return f"{self.path}/{rid}"

    def find(self, cli: Cli, rid: str) -> Body | None:
        """The resource, or None when it is gone."""
        return self.api(cli).find(self.url(rid), self.key)

    def action(self, cli: Cli, rid: str, value: Body) -> Body:
        """POST an action (`{"name": {...}}`) to the resource."""
        return self.api(cli).post(f"{self.url(rid)}/action", value)

    def report_action(self, cli: Cli, rid: str, value: Body, as_json: bool, outcome: str) -> None:
        """POST an action and print `<kind> <id>: <outcome>` (--json: the answer)."""
        body = self.action(cli, rid, value)
        cli.out(as_json).line(body, f"{self.kind} {rid}: {outcome}")

    def probe(self, cli: Cli, rid: str, *, gone_ok: bool = False) -> Probe:
        """Until the resource is ready (or gone, for a delete); a failed status ends it too."""
        return status_probe(
            lambda: self.find(cli, rid),
            ok=frozenset() if gone_ok else self.ready,
            bad=self.failed,
            gone_ok=gone_ok,
            reason=self.reason,
        )

    def show(self, cli: Cli, rid: str, as_json: bool) -> None:
        """Print the resource, `fields` first."""
        body = self.api(cli).get(self.url(rid))
        cli.out(as_json).record(body, body[self.key], self.fields)

    def finished(self, cli: Cli, rid: str, reading: Reading, as_json: bool) -> None:
        """After a followed operation: `<kind> <id> <status>` (--json: its body now)."""
        final = self.api(cli).get(self.url(rid))
        cli.out(as_json).line(final, f"{self.kind} {rid} {reading.status}")

    def created(
        self,
        cli: Cli,
        body: Body,
        wait: bool,
        as_json: bool,
        *,
        fields: Sequence[str] | None = None,
    ) -> None:
        """Print a new resource, or with --wait follow it until ready and print how it ended."""
        new = body[self.key]
        if not wait:
            cli.out(as_json).record(body, new, self.fields if fields is None else fields)
            return
        reading = cli.follow(self.probe(cli, new["id"]), kind=self.kind, rid=new["id"])
        self.finished(cli, new["id"], reading, as_json)

    def deleted(
        self,
        cli: Cli,
        body: Body,
        rid: str,
        wait: bool,
        as_json: bool,
        *,
        probe: Probe | None = None,
        words: tuple[str, str] = ("deleted", "deleting"),
    ) -> None:
        """After a delete or unmanage: with --wait follow it until gone; `<kind> <id> deleted`."""
        if wait:
            gone = self.probe(cli, rid, gone_ok=True) if probe is None else probe
            cli.follow(gone, kind=self.kind, rid=rid)
        cli.out(as_json).line(body, f"{self.kind} {rid} {words[0] if wait else words[1]}")

    def reset_status(
        self, cli: Cli, rid: str, status: str, as_json: bool, *, action: str = "os-reset_status"
    ) -> None:
        """Set the status by force (`action`: Cinder's name; Manila's is `reset_status`)."""
        value = {action: {"status": status}}
        self.report_action(cli, rid, value, as_json, f"status reset to {status}")
