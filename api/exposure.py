"""Refusing configurations that expose more than the operator meant to.

noauth trusts whatever ``user:project`` a caller sends, admin included: acceptable on
loopback, where only local users reach it, and nowhere else unless forced.
"""

from __future__ import annotations

import ipaddress

from storage.settings import Settings

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """True iff ``host`` names only this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # any other name may resolve to a reachable address


def exposure_problem(settings: Settings) -> str | None:
    """Why the API must not start as configured, or None."""
    if settings.auth_mode != "noauth" or settings.noauth_beyond_loopback:
        return None
    if is_loopback(settings.host):
        return None
    return (
        f"SAFEHOLD_AUTH_MODE=noauth on SAFEHOLD_HOST={settings.host}: anyone who can reach "
        "it could act as any project and as admin. Use SAFEHOLD_AUTH_MODE=tokens "
        "(docs/operations.md), bind to 127.0.0.1, or set SAFEHOLD_NOAUTH_BEYOND_LOOPBACK=true "
        "to accept that"
    )
