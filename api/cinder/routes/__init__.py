"""Cinder's HTTP routes; each validates, guards in the catalog, launches, renders."""
