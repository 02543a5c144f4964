"""What is backed up and restored: block volumes (raw image files or block devices)."""

from __future__ import annotations

__all__: list[str] = []
