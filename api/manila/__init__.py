"""The Manila v2 dialect: shares (directory trees) and share backups on their own port."""

from api.manila.app import create_manila_app

__all__ = ["create_manila_app"]
