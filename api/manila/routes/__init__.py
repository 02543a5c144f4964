"""Manila v2 routers; api.manila.app mounts them with and without `/{project_id}`."""
