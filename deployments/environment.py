"""The environment every Safehold process runs with: quiet, offline, no result caching."""

from __future__ import annotations

import os

from storage.settings import Settings


def prefect_api_url(settings: Settings) -> str:
    """PREFECT_API_URL when the operator set one, else the embedded server's."""
    return os.environ.get("PREFECT_API_URL") or (f"http://{settings.host}:{settings.ui_port}/api")


def service_env(settings: Settings) -> dict[str, str]:
    """Environment for the Prefect server, the runner and the API process."""
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
        }
    )
    if settings.tokens_file is not None:
        # Children run from the repository root: a relative path would point elsewhere.
        env["SAFEHOLD_TOKENS_FILE"] = str(settings.tokens_file.resolve())
    if settings.manage_roots is not None:
        env["SAFEHOLD_MANAGE_ROOTS"] = os.pathsep.join(map(str, settings.manage_root_paths()))
    return env
