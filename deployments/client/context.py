"""The state of one `safehold` invocation (ctx.obj): configuration, endpoints, output."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from functools import cached_property

import typer

from deployments.client.config import ClientConfig, environment, resolve
from deployments.client.http import Api
from deployments.client.output import Output, stderr_console
from deployments.client.services import Services
from deployments.client.waiting import Meter, Probe, Reading, settle, watch


class Cli:
    """Global flags, resolved configuration (lazily) and the endpoints."""

    def __init__(
        self, flags: Mapping[str, str | None], as_json: bool, env: Mapping[str, str] | None = None
    ) -> None:
        self.flags = dict(flags)
        self.as_json = as_json
        self.env = dict(env) if env is not None else environment()

    @cached_property
    def config(self) -> ClientConfig:
        """The resolved configuration; its warnings are printed once."""
        config = resolve(self.flags, self.env)
        for warning in config.warnings:
            sys.stderr.write(warning + "\n")
        return config

    @cached_property
    def services(self) -> Services:
        """The endpoints (one connection pool)."""
        return Services(self.config)

    @property
    def cinder(self) -> Api:
        """Cinder v3."""
        return self.services.cinder

    @property
    def native(self) -> Api:
        """Safehold's /v1."""
        return self.services.native

    @property
    def manila(self) -> Api:
        """Manila v2."""
        return self.services.manila

    @property
    def trove(self) -> Api:
        """Trove v1.0."""
        return self.services.trove

    @property
    def prefect(self) -> Api:
        """Prefect's REST API."""
        return self.services.prefect

    def out(self, as_json: bool = False) -> Output:
        """The output of a command (`--json` before or after the sub-command)."""
        return Output(self.as_json or as_json)

    def follow(self, probe: Probe, *, kind: str, rid: str, meter: Meter = Meter.STATUS) -> Reading:
        """Watch the operation on `kind` `rid` to its end; OperationFailed on an error."""
        what = f"{kind} {rid}"
        reading = watch(
            probe,
            label=f"{kind} {rid[:8]}",
            what=what,
            meter=meter,
            console=stderr_console(),
            interval=self.config.poll_interval,
        )
        return settle(reading, what)

    def close(self) -> None:
        """Release the connection pool, if one was opened."""
        if "services" in self.__dict__:
            self.services.close()


def state(ctx: typer.Context) -> Cli:
    """The invocation's Cli (set by the root callback)."""
    cli = ctx.find_object(Cli)
    if cli is None:  # a sub-app invoked on its own (tests): configure from the environment
        cli = Cli({}, False)
        ctx.obj = cli
    return cli
