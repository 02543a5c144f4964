"""The environment every Safehold process runs with: quiet, offline, no result caching."""

from __future__ import annotations

import os
import re
from typing import Final

from deployments.instance import tree_env
from storage.settings import Settings

# What the Prefect server process never needs: Safehold's own settings (catalog URL with
# its password, S3 keys, tokens file) and cloud credentials. It is an unauthenticated
# admin interface to the runs; whatever it holds, its plugins and logs could show.
_NOT_FOR_PREFECT_SERVER: Final = re.compile(
    r"^(SAFEHOLD_|AWS_|AZURE_|GOOGLE_|GCS_|S3_|PGPASSWORD$|MYSQL_PWD$)"
)


def prefect_api_url(settings: Settings) -> str:
    """PREFECT_API_URL when the operator set one, else the embedded server's."""
    return os.environ.get("PREFECT_API_URL") or (
        f"http://{settings.prefect_host}:{settings.ui_port}/api"
    )


def service_env(settings: Settings) -> dict[str, str]:
    """Environment for the runner and the API process (the Prefect server gets less:
    prefect_server_env)."""
    data = settings.data_path
    env = dict(os.environ)
    env.update(
        {
            "SAFEHOLD_DATA_DIR": str(data),
            "PREFECT_HOME": str(data / "prefect"),
            "PREFECT_API_URL": prefect_api_url(settings),
            "PREFECT_SERVER_UI_API_URL": prefect_api_url(settings),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_LOGGING_LEVEL": env.get("PREFECT_LOGGING_LEVEL", "WARNING"),
            "PREFECT_SERVER_LOGGING_LEVEL": env.get("PREFECT_SERVER_LOGGING_LEVEL", "WARNING"),
            "PREFECT_TASKS_DISABLE_CACHING": "true",
            "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
            # Served runs are picked up within about a second of submission.
            "PREFECT_RUNNER_POLL_FREQUENCY": env.get("PREFECT_RUNNER_POLL_FREQUENCY", "1"),
            "PREFECT_UI_ENABLED": "true",
            # A new or resumed policy schedule gets its runs within ~10 s (default 60 s).
            "PREFECT_API_SERVICES_SCHEDULER_LOOP_SECONDS": env.get(
                "PREFECT_API_SERVICES_SCHEDULER_LOOP_SECONDS", "10"
            ),
            **tree_env(data),
        }
    )
    if settings.tokens_file is not None:
        # Children run from the repository root: a relative path would point elsewhere.
        env["SAFEHOLD_TOKENS_FILE"] = str(settings.tokens_file.resolve())
    if settings.manage_roots is not None:
        env["SAFEHOLD_MANAGE_ROOTS"] = os.pathsep.join(map(str, settings.manage_root_paths()))
    return env


def prefect_server_env(settings: Settings) -> dict[str, str]:
    """The service environment without what the Prefect server must not hold (secrets)."""
    env = service_env(settings)
    return {k: v for k, v in env.items() if not _NOT_FOR_PREFECT_SERVER.match(k)}
