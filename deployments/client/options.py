"""The options and arguments that several commands share, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's JSON body instead.")]
WaitOpt = Annotated[
    bool, typer.Option("--wait", help="Follow the operation to its end; non-zero if it fails.")
]
AllProjectsOpt = Annotated[
    bool, typer.Option("--all-projects", help="Every project's (admin only).")
]
PropertyOpt = Annotated[
    list[str] | None,
    typer.Option("--property", metavar="KEY=VALUE", help="Metadata item (repeatable)."),
]
NoPropertyOpt = Annotated[
    bool, typer.Option("--no-property", help="Replace all metadata by the --property items.")
]
UnsetKeysOpt = Annotated[
    list[str], typer.Option("--property", metavar="KEY", help="Key to remove.")
]
NameOpt = Annotated[str | None, typer.Option("--name", help="Name.")]
DescriptionOpt = Annotated[str | None, typer.Option("--description", help="Description.")]
ZoneOpt = Annotated[str | None, typer.Option("--availability-zone", help="Availability zone.")]
SizeOpt = Annotated[int, typer.Option("--size", min=1, help="Size in GiB.")]
InUseOpt = Annotated[bool, typer.Option("--force", help="Also of an in-use volume.")]
StatusFilterOpt = Annotated[str | None, typer.Option("--status")]
NewStatusArg = Annotated[str, typer.Argument(help="New status.")]
LimitOpt = Annotated[int | None, typer.Option("--limit", help="One page of this size.")]
AfterBackupOpt = Annotated[str | None, typer.Option("--marker", help="After this backup.")]
