"""A real Dask cluster on 127.0.0.1 for tests: ``dask scheduler`` and ``dask worker`` processes.

Every process writes its output to a log file, so a test can search all of
it (for the token, say) after the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DASK = str(Path(sys.executable).with_name("dask"))


def _dask_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCUTICS_")}
    # Our library's DEBUG lines (every request) go to the worker's log too, so a
    # token in any of them would be found.
    env["DASK_LOGGING__ACCUTICS_ASYNC"] = "debug"
    env.update(extra)
    return env


class LocalDaskCluster:
    """One scheduler and any number of single-threaded workers, each its own process."""

    def __init__(self, folder: Path, worker_env: dict[str, str]) -> None:
        self.folder = folder
        self._worker_env = worker_env
        self._scheduler_file = folder / "scheduler.json"
        self._procs: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        self._start(
            "scheduler",
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"],
            {},
        )
        deadline = time.monotonic() + 60
        while not self._scheduler_file.exists():
            assert time.monotonic() < deadline, self.read_logs()
            assert self._procs[0].poll() is None, self.read_logs()
            time.sleep(0.05)
        while True:  # written, then filled in: read it once it parses
            try:
                self.address: str = json.loads(self._scheduler_file.read_text())["address"]
                break
            except (ValueError, KeyError):
                time.sleep(0.05)

    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = self.folder / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        with open(log, "wb") as handle:
            proc = subprocess.Popen(
                [*argv, "--scheduler-file", str(self._scheduler_file)],
                env=_dask_env(env),
                stdout=handle,
                stderr=subprocess.STDOUT,
                cwd=self.folder,  # not the tests' directory: workers resolve nothing from it
            )
        self._procs.append(proc)
        return proc

    def start_worker(self, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        argv = [DASK, "worker", "--nworkers", "1", "--nthreads", "1", "--no-nanny"]
        argv += ["--no-dashboard", "--host", "127.0.0.1"]
        argv += ["--local-directory", str(self.folder / "scratch")]
        proc = self._start("worker", argv, {**self._worker_env, **(env or {})})
        self.workers.append(proc)
        return proc

    def live_workers(self) -> int:
        return sum(proc.poll() is None for proc in self.workers)

    def read_logs(self) -> str:
        return "\n".join(log.read_text(errors="replace") for log in self.logs if log.exists())

    def close(self) -> None:
        for proc in reversed(self._procs):  # workers first, then the scheduler
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self._procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:  # pragma: no cover - a stuck process
                proc.kill()
                proc.wait()


def token_findings(token: str, texts: dict[str, Any]) -> list[str]:
    """The names of the texts that contain ``token``."""
    return [name for name, text in texts.items() if token in str(text)]
