"""The README's `make run`, end to end: real make, honcho, gunicorn, worker and embedded Redis.

Nothing is configured but an instance folder and the bind address, as on a fresh laptop. The
install step of the Makefile is skipped (``-o``): it needs the network, and the suite runs on the
repository's ready ``.venv``.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus

import config
from tests import worker_jobs
from tests.helpers import csrf_token
from tests.processes import WAIT_SECONDS, descendants, is_alive, kill_all, session_members, survivors, wait_for

ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 60
HONCHO_KILL_WAIT = 5  # seconds honcho waits after the first process stopped, unless run.py says otherwise
RELEASE_KEY = "test:release-the-job"
# Variables that would configure the child instead of its defaults, or tie it to an outer make.
NOT_INHERITED = ("REDIS_URL", "DATABASE_URL", "SECRET_KEY", "VESTNIK_ENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "honcho").exists(), reason="make run uses the repository's .venv"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MakeRun:
    """One `make run` in a session of its own, its output in a file."""

    def __init__(self, instance: Path, log: Path):
        self.port = free_port()
        self.sandbox_port = free_port()
        self.log = log
        env = {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}
        env.update(VESTNIK_INSTANCE_PATH=str(instance), VESTNIK_BIND=f"127.0.0.1:{self.port}",
                   VESTNIK_SANDBOX_PORT=str(self.sandbox_port))
        self.env = env
        with log.open("wb") as handle:
            self.popen = subprocess.Popen(
                ["make", "--no-print-directory", "-o", ".venv/.installed", "run"],
                cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.seen = []  # every process ever seen below make, so none can slip away unnoticed
        # Cookies, and no proxy from the environment: everything here is on the loopback.
        self.browser = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def observe(self) -> None:
        self.seen += [process for process in descendants(self.popen.pid) if process not in self.seen]

    def request(self, path: str, form: dict | None = None) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.browser.open(f"http://127.0.0.1:{self.port}{path}", data=data, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def flask(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        """A `flask` command against this instance, as an operator beside `make run` would type it."""
        return subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "--app", "app", *args], cwd=ROOT, env=self.env,
                              input=stdin, capture_output=True, text=True, timeout=60)

    def sandbox_health(self) -> dict | None:
        """What the sandbox provider's health check says, or None while it is not listening."""
        try:
            with self.browser.open(f"http://127.0.0.1:{self.sandbox_port}/_sandbox/health", timeout=10) as response:
                return json.loads(response.read())
        except OSError:
            return None

    def health(self) -> dict | None:
        """What /healthz reports, or None while it says the app is not ready."""
        status, body = self.request("/healthz")
        return json.loads(body) if status == 200 else None

    def wait_until_serving(self) -> None:
        def login_page_answers() -> bool:
            assert self.popen.poll() is None, f"make run stopped early:\n{self.output()}"
            try:
                return self.request("/login")[0] == 200
            except OSError:  # not listening yet
                return False

        wait_for(login_page_answers, "GET /login to answer 200", timeout=START_SECONDS, interval=0.2)
        self.observe()

    def processes_running(self, program: str) -> list:
        """The processes seen so far whose command line names ``program``."""
        found = []
        for process in self.seen:
            try:
                if any(program in part for part in process.cmdline()):
                    found.append(process)
            except psutil.NoSuchProcess:
                continue
        return found

    def ctrl_c(self) -> None:
        """Ctrl-C: SIGINT to the whole foreground process group."""
        self.observe()
        os.killpg(self.popen.pid, signal.SIGINT)

    def wait_stopped(self) -> None:
        try:
            self.popen.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"make run did not stop within {WAIT_SECONDS} s of Ctrl-C:\n{self.output()}")

    def interrupt(self) -> None:
        """Ctrl-C, then wait for make to exit."""
        self.ctrl_c()
        self.wait_stopped()

    def clean_up(self) -> None:
        self.observe()
        kill_all(self.seen + session_members(self.popen.pid))
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=WAIT_SECONDS)


@pytest.fixture
def instance():
    # Short, so the embedded Redis socket fits in a unix socket address.
    path = Path(tempfile.mkdtemp(prefix="vestnik-run-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_run(instance, tmp_path):
    runs: list[MakeRun] = []

    def start() -> MakeRun:
        run = MakeRun(instance, tmp_path / f"make-run-{len(runs)}.log")
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.clean_up()


def assert_stopped_cleanly(run: MakeRun, redis_socket: Path) -> None:
    left = survivors(run.seen) + session_members(run.popen.pid)
    assert not left, f"processes left behind: {left}\n{run.output()}"
    assert "Traceback" not in run.output(), run.output()
    if redis_socket.exists():
        with pytest.raises(redis.ConnectionError):
            redis.Redis(unix_socket_path=str(redis_socket), socket_connect_timeout=1).ping()


def audited_markers(instance: Path) -> list[str]:
    with sqlite3.connect(instance / "vestnik.db") as connection:
        rows = connection.execute("SELECT details FROM audit_events WHERE action = ?", (worker_jobs.MARKER_ACTION,))
        return [json.loads(details)["marker"] for (details,) in rows]


def assert_a_fresh_instance_sends_a_test_message(run: MakeRun, folder: Path) -> None:
    """The embedded default's sandbox sender works at once: a template approved by the sandbox, one test send."""
    template = folder / "welcome.json"
    template.write_text(json.dumps({"name": "welcome", "language": "ru", "category": "utility",
                                    "body": "Здравствуйте, {{1}}! Ваш заказ готов.", "examples": {"1": "Анна"}}))
    for command in (["campaigns", "template", "create", "--file", str(template)],
                    ["campaigns", "template", "submit", "welcome"]):
        done = run.flask(*command)
        assert done.returncode == 0, done.stdout + done.stderr
    sent = run.flask("campaigns", "send-test", "--sender", "Sandbox", "--template", "welcome", "--to", "+79161234501",
                     "--var", "1=Анна", "--json")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    answer = json.loads(sent.stdout)
    assert answer["status"] == "accepted" and answer["provider_id"].startswith("wamid."), answer
    with run.browser.open(f"http://127.0.0.1:{run.sandbox_port}/_sandbox/ledger", timeout=10) as response:
        [message] = json.loads(response.read())["messages"]
    assert (message["id"], message["to"]) == (answer["provider_id"], "79161234501")
    assert message["template"]["name"] == "welcome"


def sandbox_bots(run: MakeRun, channel: str) -> list[dict]:
    with run.browser.open(f"http://127.0.0.1:{run.sandbox_port}/_sandbox/{channel}/bots", timeout=10) as response:
        return json.loads(response.read())


def assert_the_sandbox_bots_are_subscribed_to_the_receiver(run: MakeRun, instance: Path) -> None:
    """The embedded default's MAX and Telegram bots, seeded once, their webhooks at the receiver (port 8026)."""
    with sqlite3.connect(instance / "vestnik.db") as connection:
        ids = dict(connection.execute("SELECT channel, id FROM senders WHERE channel IN ('max', 'telegram')"))
    assert sorted(ids) == ["max", "telegram"]

    def subscribed() -> bool:
        [max_bot] = [bot for bot in sandbox_bots(run, "max") if bot["token"]]
        [telegram_bot] = sandbox_bots(run, "telegram")
        return (max_bot["subscription_url"], telegram_bot["webhook_url"]) == (
            f"http://127.0.0.1:8026/webhooks/max/{ids['max']}",
            f"http://127.0.0.1:8026/webhooks/telegram/{ids['telegram']}")

    wait_for(subscribed, "the sandbox bots' webhooks to be subscribed to the receiver")


def test_make_run_serves_signs_in_and_stops_on_ctrl_c_without_leftovers(instance, make_run, tmp_path):
    redis_socket = config.embedded_redis_socket(instance)
    first = make_run()
    first.wait_until_serving()
    credentials = dict(re.findall(r"^\s*(e-mail|password):\s*(\S+)\s*$", first.output(), re.MULTILINE))
    assert set(credentials) == {"e-mail", "password"}, first.output()
    email = credentials["e-mail"]

    form = {"csrf_token": csrf_token(first.request("/login")[1]), "email": email, "password": credentials["password"]}
    status, page = first.request("/login", form)
    assert status == 200 and email in page, page  # redirected to the home page, signed in
    # Started side by side, Redis may answer a moment after the web app does.
    assert wait_for(first.health, "/healthz to answer 200") == {"status": "ok", "database": "ok", "redis": "ok"}
    assert wait_for(first.sandbox_health, "the sandbox provider to answer")
    assert_a_fresh_instance_sends_a_test_message(first, tmp_path)
    assert_the_sandbox_bots_are_subscribed_to_the_receiver(first, instance)

    # A job running at Ctrl-C is finished and recorded before Redis goes away, even one that needs
    # longer than honcho's own 5 s: this one runs until the test releases it.
    connection = redis.Redis(unix_socket_path=str(redis_socket))
    job = Queue("default", connection=connection).enqueue(worker_jobs.write_when_released, RELEASE_KEY,
                                                          "finished-during-ctrl-c")
    wait_for(lambda: job.get_status(refresh=True) == JobStatus.STARTED, "the job to start")
    first.observe()
    web = first.processes_running("gunicorn")
    assert web, first.output()
    first.ctrl_c()
    wait_for(lambda: not any(is_alive(process) for process in web), "the web app to stop (honcho's kill wait starts)")
    held_until = time.monotonic() + HONCHO_KILL_WAIT + 2

    def still_draining_past_honchos_default() -> bool:
        assert first.popen.poll() is None, f"make run stopped while the job was running:\n{first.output()}"
        try:
            assert job.get_status(refresh=True) == JobStatus.STARTED, first.output()
        except redis.ConnectionError:
            pytest.fail(f"Redis was stopped while the job was running:\n{first.output()}")
        return time.monotonic() > held_until

    wait_for(still_draining_past_honchos_default, "honcho's default kill wait to pass", interval=0.2)
    connection.rpush(RELEASE_KEY, "go")
    connection.close()  # Redis waits for its clients to leave before it stops
    first.wait_stopped()
    assert_stopped_cleanly(first, redis_socket)
    assert "SIGKILL" not in first.output(), first.output()
    assert audited_markers(instance) == ["finished-during-ctrl-c"]

    second = make_run()
    second.wait_until_serving()
    assert "password:" not in second.output()  # the administrator exists; nothing new to show
    assert wait_for(second.health, "/healthz to answer 200")["redis"] == "ok"
    # The embedded Redis kept its queues across the restart, and the job's result with them.
    connection = redis.Redis(unix_socket_path=str(redis_socket))
    assert Job.fetch(job.id, connection=connection).get_status() == JobStatus.FINISHED
    connection.close()
    second.interrupt()
    assert_stopped_cleanly(second, redis_socket)
