"""Prefect flows and tasks: orchestration only; every data or catalog call goes to storage."""
