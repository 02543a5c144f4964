"""Safehold's own API (`/v1/...`): catalog rebuild, store garbage, progress."""
