"""What every optional bench section does around its measurement: run it without ever
raising, skip it on request in a full run, and run it alone with an exit status."""

from __future__ import annotations

import os
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench import report

Result = dict[str, Any]


def env_flag(name: str) -> bool:
    """True when the environment variable says 1/true/yes."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class Section:
    """One optional section: its banner, measurement, rendering, failures and results."""

    name: str  # as in SAFEHOLD_BENCH_ONLY and SAFEHOLD_BENCH_SKIP_<NAME>
    title: str
    measure: Callable[[Path], Result]
    render: Callable[[Result], str]
    failed: Callable[[Result], list[str]]
    results: Path

    def run(self, workdir: Path) -> Result:
        """The section; a failure is recorded, never raised; results written."""
        print(f"* {self.title} ...", flush=True)
        start = time.perf_counter()
        try:
            result = self.measure(workdir)
        except Exception as exc:
            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}"[:1500]}
        print(f"  done in {time.perf_counter() - start:.1f} s", flush=True)
        report.write_json(result, self.results)
        return result

    def section(self, workdir: Path) -> Result:
        """What a full run calls: the section, unless SAFEHOLD_BENCH_SKIP_<NAME>=1."""
        flag = f"SAFEHOLD_BENCH_SKIP_{self.name.upper()}"
        if env_flag(flag):
            print(f"* {self.name} section skipped ({flag}=1)")
            return {"skipped": f"skipped: {flag}=1"}
        return self.run(workdir)

    def only(self, workdir: Path) -> int:
        """SAFEHOLD_BENCH_ONLY=<name>: this section alone; 0 when every step worked."""
        try:
            result = self.run(workdir)
        finally:
            if env_flag("SAFEHOLD_BENCH_KEEP"):
                print(f"kept {workdir}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
        print(self.render(result))
        print(f"\nresults written to {self.results}")
        errors = self.failed(result)
        for error in errors:
            print(f"{self.name.upper()} SECTION FAILURE: {error.splitlines()[0][:300]}")
        return 1 if errors else 0
