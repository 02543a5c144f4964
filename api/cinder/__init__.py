"""The Cinder dialect (block storage v3 and v2): backups, snapshots, volumes, versions.

Its routes, views, request schemas, listing rules, URL trees and microversion bounds.
What the dialects share (auth, faults, paging, microversion negotiation, project routes,
the app's make-up, launching runs) sits at api/'s top.
"""
