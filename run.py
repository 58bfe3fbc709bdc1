"""`make run`'s process manager: honcho, given the time a worker needs to finish its job on Ctrl-C.

    python run.py --procfile Procfile start [PROCESS]...   (the arguments are honcho's)

On Ctrl-C honcho sends SIGTERM to every process and, 5 s after the first of them has exited (the
web app goes at once), SIGKILLs whatever is left: a job running in the worker would be killed half
way. honcho 2.0 has no option for that wait, so this sets it: the worker gets
``WORKER_DRAIN_SECONDS`` (30 by default) to finish its job, the embedded Redis waits 5 s longer for
it to record the result and sign off (``embedded_redis.py``), and only after both, 10 s after the
drain, does the hard kill come.

It also gives every process one Prometheus multiprocess folder, ``PROMETHEUS_MULTIPROC_DIR`` (by default
``metrics/`` in the instance folder), emptied first: the web app's ``/metrics`` sums what gunicorn's workers,
the webhook receiver and the RQ workers write there, and a previous run's files would be counted again.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import honcho.manager
from honcho.command import main as honcho_main

import config

# After the drain and the embedded Redis's own wait for its clients (the drain + 5 s).
AFTER_DRAIN_SECONDS = 10


def main(argv: list[str] | None = None) -> None:
    """Run honcho with the longer wait; it exits with the status of the processes."""
    try:
        settings = config.load()
    except config.ConfigError as error:
        sys.exit(str(error))
    drain = settings["WORKER_DRAIN_SECONDS"]
    metrics_folder = Path(settings["METRICS_MULTIPROC_DIR"] or Path(settings["INSTANCE_PATH"]) / "metrics")
    shutil.rmtree(metrics_folder, ignore_errors=True)
    metrics_folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_folder)  # read by each process's Prometheus client
    honcho.manager.KILL_WAIT = drain + AFTER_DRAIN_SECONDS  # read by honcho's loop each time it checks
    honcho_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
