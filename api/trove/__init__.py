"""The Trove v1.0 dialect: database instances, datastores and database backups."""
