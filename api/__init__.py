"""The HTTP façade: OpenStack-shaped routes, auth, faults and version discovery.

It validates, guards and transitions rows in the catalog, starts flow runs by
deployment name through the Prefect client, and renders OpenStack bodies. It never
imports `flows`.
"""

from api.app import create_app

__all__ = ["create_app"]
