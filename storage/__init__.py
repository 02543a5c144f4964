"""Everything that holds data: object store, backup format, sources and the catalog."""
