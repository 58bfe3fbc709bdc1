"""The reliability harness: real processes (Redis, the sandbox provider, RQ workers) and campaign worlds.

Everything here is what an operator would run: ``redis-server`` on a unix socket that a test may kill
and start again (empty) on the same socket, the sandbox provider over HTTP, and ``python worker.py``
processes (the work horse, RQ's scheduler and the cron process below each) that a test may kill -9.
Campaigns are built, submitted, approved and scheduled through the real services, and launched by the
workers. What was sent is always counted from the sandbox's ledger and from the database's rows.
"""

from __future__ import annotations

import bisect
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import count as counter
from pathlib import Path
from typing import Any

import psutil
import redis as redis_client
from rq import Worker as RQWorker
from sqlalchemy import func, insert, select

from audience import segments
from audience.models import Contact
from campaigns import campaign_specs, review, senders, template_approvals
from campaigns import message_templates as templates
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, Sender, Template
from compliance import policy
from dbtypes import utcnow
from extensions import db, redis_queues
from tests.campaign_world import ACKNOWLEDGEMENT
from tests.conftest import start_redis
from tests.processes import WAIT_SECONDS, descendants, kill_all, survivors, wait_for
from tests.sandbox_provider import APP_SECRET, PHONE_NUMBER_ID, TOKEN, VERSION, WABA_ID

ROOT = Path(__file__).resolve().parent.parent.parent

# Short leases and a quick sweep, so that recovery happens within a test: a killed worker's rows come
# back after DISPATCH_LEASE_SECONDS, the sweep looks every second, and a dead cron holder is replaced
# within 4/3 of the cron lease. The web side (the test's app) and the workers share these settings, so
# both cut a campaign into the same batch ranges.
DISPATCH_SETTINGS = {
    "DISPATCH_LEASE_SECONDS": 3,
    "DISPATCH_SWEEP_SECONDS": 1,
    "DISPATCH_BATCH_SIZE": 250,
    "DISPATCH_IN_FLIGHT": 50,
    "DISPATCH_MAX_ATTEMPTS": 8,
    "CRON_LEASE_SECONDS": 2,
}
# Bounds of the waits: generous, since a loaded 2-core machine runs these several times slower than an idle
# one (a worker alone takes seconds to import the app); a wait only ever lasts as long as it must.
START_SECONDS = 90
FINISH_SECONDS = 120
PROGRESS_SECONDS = 60
# A request is counted as a send to the provider when it posts to a number's messages edge (any API version).
SEND_PATH = re.compile(r"/v\d+(\.\d+)?/\d+/messages")

_worlds = counter(1)


# --- Redis ---------------------------------------------------------------------------------------------

class RedisServer:
    """A redis-server of the test's own on a unix socket: killed and started again, it is empty (no
    persistence) and listens on the same socket, as a Redis that crashed and was restarted by its supervisor."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> RedisServer:
        self.process, self.url = start_redis(self.directory)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save; its socket file is left behind as after a crash."""
        self.process.kill()
        self.process.wait(timeout=WAIT_SECONDS)

    def restart(self) -> None:
        """Kill the server and start an empty one on the same socket."""
        self.kill()
        (self.directory / "redis.sock").unlink(missing_ok=True)
        self.start()

    def client(self) -> redis_client.Redis:
        return redis_client.Redis.from_url(self.url)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


# --- workers -------------------------------------------------------------------------------------------

@dataclass
class Worker:
    """One ``python worker.py`` process; ``seen`` keeps every descendant ever observed."""

    popen: subprocess.Popen
    log: Path
    seen: list[psutil.Process] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def observe(self) -> list[psutil.Process]:
        children = descendants(self.pid)
        self.seen += [child for child in children if child not in self.seen]
        return children

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-20_000:]

    def current_job_id(self) -> str | None:
        """The id of the job this worker is running, as it told Redis (None when idle or unknown)."""
        for registered in RQWorker.all(connection=redis_queues.connection):
            if registered.pid == self.pid:
                return registered.get_current_job_id()
        return None


class Workers:
    """Starts real workers with the test's database, Redis and dispatch settings; kills them like a lost host."""

    def __init__(self, env: dict[str, str], directory: Path):
        self.env = env
        self.directory = directory
        self.started: list[Worker] = []
        self.gone: list[Worker] = []  # killed by the test, or exited and replaced by ``supervise``

    def start(self, **settings: Any) -> Worker:
        log = self.directory / f"worker-{len(self.started)}.log"
        with log.open("wb") as handle:
            popen = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT,
                                     env={**self.env, **{key: str(value) for key, value in settings.items()}},
                                     stdout=handle, stderr=subprocess.STDOUT)
        worker = Worker(popen, log)
        self.started.append(worker)
        return worker

    def kill(self, worker: Worker) -> list[psutil.Process]:
        """kill -9 the worker and everything below it (its work horse, scheduler and cron process) at once,
        as when its host is lost; returns the processes killed."""
        doomed = [*worker.observe(), psutil.Process(worker.pid)]
        for process in doomed:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        worker.popen.wait(timeout=WAIT_SECONDS)
        self.gone.append(worker)
        left = survivors(worker.seen)
        assert not left, f"killed processes still alive: {left}"
        return doomed

    def supervise(self) -> int:
        """Start a worker in place of each one that exited by itself, as a supervisor (systemd's
        ``Restart=always``) would; returns how many were replaced."""
        exited = [worker for worker in self.started if worker.popen.poll() is not None and worker not in self.gone]
        for worker in exited:
            self.gone.append(worker)
            self.start()
        return len(exited)

    def ready(self, timeout: float = START_SECONDS) -> None:
        """Wait until every running worker has registered with RQ (it has imported the app and listens)."""

        def registered() -> bool:
            pids = {worker.pid for worker in RQWorker.all(connection=redis_queues.connection)}
            return all(worker.pid in pids for worker in self.alive())

        try:
            wait_for(registered, "the workers to start", timeout=timeout, interval=0.1)
        except BaseException:
            print(self.outputs())
            raise

    def alive(self) -> list[Worker]:
        return [worker for worker in self.started if worker.popen.poll() is None]

    def outputs(self) -> str:
        return "\n".join(f"--- worker {worker.pid} (exit {worker.popen.poll()}):\n{worker.output()}"
                         for worker in self.started)

    def stop_all(self) -> list[psutil.Process]:
        """Kill every worker and its processes; returns any process that outlived that (there must be none)."""
        everyone: list[psutil.Process] = []
        for worker in self.started:
            worker.observe()
            everyone += worker.seen
            if worker.popen.poll() is None:
                everyone.append(psutil.Process(worker.pid))
        for process in everyone:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        for worker in self.started:
            worker.popen.wait(timeout=WAIT_SECONDS)
        left = survivors(everyone, timeout=WAIT_SECONDS)
        kill_all(left)  # a last resort, should the assertion that follows fail
        return left


def worker_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The environment of a worker: this test's database and Redis, the suite's instance folder (so it
    reads the same secrets key as the test's app and can decrypt a sender's token) and short dispatch times."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "reliability-test-secret-key-long-enough-for-production",
        "WORKER_DRAIN_SECONDS": "2",
        "LOG_LEVEL": "INFO",
        **{key: str(value) for key, value in DISPATCH_SETTINGS.items()},
    }


# --- the campaign world --------------------------------------------------------------------------------

def midday_zone() -> str:
    """A time zone where it is about noon now, so that a marketing campaign is inside its send window
    (09:00–21:00 local) whenever the suite runs. ``Etc/GMT-N`` is UTC+N (POSIX signs)."""
    offset = (12 - utcnow().hour + 12) % 24 - 12  # -12 … +11
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def phone_number(world: int, index: int) -> str:
    """A unique Russian mobile number; the last two digits stay below 80, so that no number is one of
    the sandbox's simulated recipients (80–87 stop, block or reply)."""
    return f"+79{world % 100:02d}{index // 80:05d}{index % 80:02d}"


def add_contacts(count: int, tags: str | list[str] = "|promo|", *, world: int | None = None) -> list[str]:
    """Insert ``count`` consenting contacts set-wise (one executemany); returns their phones in id order.
    ``tags`` is every contact's, or a list to take them from in turn."""
    world = next(_worlds) if world is None else world
    cycle = [tags] if isinstance(tags, str) else tags
    zone, consent_at, created = midday_zone(), utcnow() - timedelta(days=30), utcnow()
    phones = [phone_number(world, index) for index in range(count)]
    db.session.execute(insert(Contact), [
        {"phone": phone, "name": f"Контакт {index}", "country": "RU", "timezone": zone,
         "tags": cycle[index % len(cycle)], "attributes": {}, "consent_source": "website form",
         "consent_at": consent_at, "created_at": created}
        for index, phone in enumerate(phones)
    ])
    db.session.commit()
    return phones


def add_sender(sandbox, *, idempotent: bool = True, rate: int = 500, name: str = "Main",
               phone: str = "+74950000001") -> Sender:
    """A sender on the sandbox: its own ``sandbox`` channel (idempotent sends), or the real Cloud API's
    ``whatsapp_cloud`` channel pointed at it (not idempotent)."""
    fields: dict[str, Any] = {"base_url": sandbox.url, "tier": "TIER_UNLIMITED", "messages_per_second": rate}
    if not idempotent:
        fields.update(channel="whatsapp_cloud", phone_number_id=PHONE_NUMBER_ID, waba_id=WABA_ID,
                      api_version=VERSION, access_token=TOKEN, app_secret=APP_SECRET)
    sender = senders.create_sender(name, phone, **fields)
    db.session.commit()
    return sender


def add_approved_template(name: str = "autumn_sale") -> Template:
    """A marketing template, submitted to the sandbox (which approves it at once) for every sender's account."""
    template = templates.create_template({
        "name": name, "language": "en", "category": "marketing",
        "body": "Hi {{1}}, the autumn sale starts on {{2}}. See you!", "examples": {"1": "Anna", "2": "Monday"},
        "buttons": [{"type": "quick_reply", "text": "Stop promotions"}],
    })
    db.session.commit()
    template_approvals.submit(template)
    db.session.commit()
    return template


def daily_cap(per_day: int = 1) -> None:
    """The workspace's frequency cap: ``per_day`` marketing messages a person a day."""
    policy.save_section("sending", {**policy.section_data("sending"), "cap_per_day": per_day}, None)
    db.session.commit()


def submitted_campaign(marketer, sender: Sender, template: Template, tag: str = "promo", *, rate: int,
                       name: str = "Autumn sale") -> Campaign:
    """A campaign to the contacts tagged ``tag``, written by the marketer and submitted (the preflight runs);
    committed."""
    segment = segments.create_segment(f"Tagged {tag} {next(_worlds)}", {"tags": [tag]})
    db.session.flush()
    campaign = campaign_specs.create_campaign({
        "name": name, "sender": sender.name, "template": {"name": template.name, "language": template.language},
        "segment": segment.name,
        "variables": {"1": {"source": "field", "value": "name", "fallback": "friend"},
                      "2": {"source": "constant", "value": "Monday"}},
        "send_at": None, "send_window": None, "messages_per_second": rate,
    }, marketer)
    db.session.commit()
    review.submit(campaign, marketer)
    db.session.commit()
    return campaign


def approved_campaign(marketer, reviewer, sender: Sender, template: Template, tag: str = "promo", *,
                      rate: int, name: str = "Autumn sale") -> Campaign:
    """A submitted campaign approved by the reviewer, and so scheduled to launch now. The caller commits: the
    launch job reaches Redis then (so nothing else may commit in between)."""
    campaign = submitted_campaign(marketer, sender, template, tag, rate=rate, name=name)
    review.approve(campaign, reviewer, acknowledgement=ACKNOWLEDGEMENT)
    return campaign


# --- what happened: the database -----------------------------------------------------------------------

def fresh() -> None:
    """End the test's transaction, so that the next read sees what the workers committed."""
    db.session.rollback()
    db.session.expire_all()


def campaign_status(campaign_id: int) -> CampaignStatus:
    fresh()
    return db.session.get(Campaign, campaign_id).status


def row_counts(campaign_id: int) -> Counter:
    """The campaign's message rows by status (values of ``MessageStatus``)."""
    fresh()
    rows = db.session.execute(select(Message.status, func.count()).where(Message.campaign_id == campaign_id)
                              .group_by(Message.status)).all()
    return Counter({status.value: number for status, number in rows})


def rows_by_phone(campaign_id: int) -> dict[str, Message]:
    fresh()
    return {row.phone: row for row in db.session.scalars(select(Message).where(Message.campaign_id == campaign_id))}


def in_flight(campaign_id: int) -> dict[str, str]:
    """Rows a batch holds right now (claimed, or passed the gate and maybe on the wire): phone → status."""
    fresh()
    rows = db.session.execute(select(Message.phone, Message.status).where(
        Message.campaign_id == campaign_id,
        Message.status.in_((MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.DEFERRED)),
        Message.lease_until.is_not(None), Message.lease_until > utcnow())).all()
    return {phone: status.value for phone, status in rows}


OPEN = ("queued", "deferred", "sending")


def wait_until_done(campaign_ids, workers: Workers, timeout: float = FINISH_SECONDS, *,
                    supervise: bool = False) -> None:
    """Wait until every campaign is completed with no row left queued, deferred or sending (with ``supervise``,
    replacing meanwhile any worker that exits by itself)."""
    ids = [campaign_ids] if isinstance(campaign_ids, int) else list(campaign_ids)

    def done() -> bool:
        if supervise:
            workers.supervise()
        for campaign_id in ids:
            counts = row_counts(campaign_id)
            if any(counts[state] for state in OPEN) or campaign_status(campaign_id) is not CampaignStatus.COMPLETED:
                return False
        return True

    try:
        wait_for(done, "the campaigns to complete", timeout=timeout, interval=0.2)
    except BaseException:
        print({campaign_id: (campaign_status(campaign_id).value, dict(row_counts(campaign_id))) for campaign_id in ids})
        print(queue_state())
        print(workers.outputs())
        raise


def queue_state() -> dict[str, Any]:
    """The dispatch queue as Redis has it: jobs waiting, running and failed (for a failure's message)."""
    queue = redis_queues.queue("dispatch")
    try:
        return {"queued": queue.job_ids, "started": queue.started_job_registry.get_job_ids(),
                "failed": queue.failed_job_registry.get_job_ids()}
    except redis_client.RedisError as error:
        return {"redis": repr(error)}


def wait_until_launched(campaign_id: int, workers: Workers) -> None:
    try:
        wait_for(lambda: campaign_status(campaign_id) is not CampaignStatus.SCHEDULED, "the campaign to launch",
                 timeout=PROGRESS_SECONDS, interval=0.1)
    except BaseException:
        print(workers.outputs())
        raise
    assert campaign_status(campaign_id) is CampaignStatus.SENDING, workers.outputs()


# --- what happened: the sandbox's ledger -----------------------------------------------------------------

def e164(wa_id: str) -> str:
    return "+" + wa_id.lstrip("+")


def accepted(sandbox) -> int:
    """How many messages the sandbox has accepted so far (repeated keys not counted)."""
    return sandbox.ledger(summary=True)["counts"]["accepted"]


def wait_for_job(worker: Worker, prefix: str, workers: Workers, campaign_id: int | None = None) -> str:
    """Wait until ``worker`` runs a job whose id starts with ``prefix`` (with ``campaign_id``: and the campaign
    has rows on the wire), and return its id: the moment to kill it."""

    def running() -> str | None:
        job_id = worker.current_job_id()
        if not job_id or not job_id.startswith(prefix):
            return None
        if campaign_id is not None and "sending" not in in_flight(campaign_id).values():
            return None
        return job_id

    try:
        return wait_for(running, f"the worker to run a {prefix} job", timeout=PROGRESS_SECONDS, interval=0.01)
    except BaseException:
        print(workers.outputs())
        raise


def wait_for_accepted(sandbox, at_least: int, workers: Workers, timeout: float = PROGRESS_SECONDS) -> int:
    try:
        return wait_for(lambda: (n := accepted(sandbox)) >= at_least and n, f"{at_least} messages accepted",
                        timeout=timeout, interval=0.02)
    except BaseException:
        print(workers.outputs())
        raise


def messages_by_phone(ledger: dict) -> Counter:
    """Accepted messages per recipient (E.164), from the ledger."""
    return Counter(e164(message["to"]) for message in ledger["messages"])


def send_requests(ledger: dict) -> list[dict]:
    return [request for request in ledger["requests"]
            if request["method"] == "POST" and SEND_PATH.fullmatch(request["path"].split("?")[0])]


def busiest_second(times: list[float]) -> int:
    """The largest number of ``times`` in any window of one second (any start, half-open)."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, start + 1.0, lo=index) - index for index, start in enumerate(ordered)),
               default=0)


def assert_no_leftovers(workers: Workers) -> None:
    left = workers.stop_all()
    assert not left, f"processes left running: {left}"

