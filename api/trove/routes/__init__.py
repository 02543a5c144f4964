"""Trove v1.0 routers."""
