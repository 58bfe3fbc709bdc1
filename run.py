"""`make run`'s process manager: honcho, given the time a worker needs to finish its job on Ctrl-C.

    python run.py --procfile Procfile start [PROCESS]...   (the arguments are honcho's)

On Ctrl-C honcho sends SIGTERM to every process and, 5 s after the first of them has exited (the
web app goes at once), SIGKILLs whatever is left: a job running in the worker would be killed half
way. honcho 2.0 has no option for that wait, so this sets it: the worker gets
``WORKER_DRAIN_SECONDS`` (30 by default) to finish its job, the embedded Redis waits 5 s longer for
it to record the result and sign off (``embedded_redis.py``), and only after both, 10 s after the
drain, does the hard kill come.

Once the processes start, it subscribes the embedded default's sandbox bots (MAX, Telegram) to the webhook
receiver at the sandbox, through their platforms' own API (``flask campaigns sender connect-sandbox-bots
--wait``, in the background: the sandbox is starting beside it), every run, since the receiver's URL may have
changed. The WhatsApp sender's callbacks were pointed before the start (``ensure-sandbox``, the state file).

It also gives every process one Prometheus multiprocess folder, ``PROMETHEUS_MULTIPROC_DIR`` (by default
``metrics/`` in the instance folder), emptied first: the web app's ``/metrics`` sums what gunicorn's workers,
the webhook receiver and the RQ workers write there, and a previous run's files would be counted again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import honcho.manager
from honcho.command import main as honcho_main

import config

# After the drain and the embedded Redis's own wait for its clients (the drain + 5 s).
AFTER_DRAIN_SECONDS = 10
# How long the bots' subscription waits for the sandbox to answer.
SANDBOX_START_SECONDS = 60


def connect_sandbox_bots(argv: list[str]) -> subprocess.Popen | None:
    """When ``argv`` starts the sandbox (``start`` with it, or with every process), subscribe the sandbox bots'
    webhooks once it answers, in a process of its own that ends when done; None when nothing is to be done."""
    if "start" not in argv:
        return None
    named = argv[argv.index("start") + 1:]
    if named and "sandbox" not in named:
        return None
    command = [sys.executable, "-m", "flask", "--app", "app", "campaigns", "sender", "connect-sandbox-bots",
               "--wait", str(SANDBOX_START_SECONDS)]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL)


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
    if settings["VESTNIK_ENV"] != "production":  # production has no sandbox bots to subscribe
        connect_sandbox_bots(argv)
    honcho_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
