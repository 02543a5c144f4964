"""The Cinder dialect (block storage v3 and v2): backups, snapshots, volumes, versions.

Its routes, views, request schemas, listing rules and URL trees. What the dialects share
(auth, faults, paging, microversions, launching runs) sits at api/'s top.
"""
