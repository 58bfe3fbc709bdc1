"""The sandbox's SMSC.ru HTTP API (``/sys/send.php``, ``/sys/balance.php``) and its SMS control API
(``/_sandbox/sms/…``: accounts and where their status callbacks go, the messages taken, a report on demand).

Every request goes through :func:`smsc_api` (:mod:`.chain`), in the order SMSC meets it: added latency, an
injected fault (throttling is SMSC's code 9, a server error an HTTP 500), the handler — and the ledger. The
handler then checks the login and password (code 2), the account's request window (code 9,
``sms_requests_per_second``), the form (code 1), the phone (code 7), the same request within a minute (code
9) and the recipient (code 8). SMSC answers every refusal with HTTP 200 and ``{"error", "error_code"}``
(``fmt=3``).

What becomes of a taken message is decided by the phone's last two digits (see :data:`BEHAVIOURS`); each
status is posted to the account's callback URL as SMSC posts it, a form of ``id``, ``phone``, ``status``,
``time``, ``err``, ``cnt``, with the delays of ``callback_delays_ms``. The callback URL carries the
receiver's secret itself (``?secret=…``): SMSC signs nothing.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from channels.sandbox import chain, dice
from channels.sandbox.chain import JSON, respond
from channels.sandbox.errors import GraphError
from channels.sandbox.ledger import Message
from channels.sandbox.settings import Settings, SettingsError
from channels.sandbox.sms_state import Account, Sms
from channels.sms import segments

if TYPE_CHECKING:
    from channels.sandbox.app import Sandbox
    from channels.sandbox.routes import Router

MESSAGE_ID = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
PHONE = re.compile(r"^\+?[1-9][0-9]{6,14}$")
PRICE_PER_PART = "3.50"  # roubles, what the sandbox says a part cost
BALANCE = "10000.00"

# By the phone's last two digits: what the operator does with the message.
BEHAVIOURS = {
    84: "silent",  # taken and passed to the operator (status 0), then nothing until a report is posted on demand
    85: "unreachable",  # refused at once: SMSC knows the number cannot be reached (code 8)
    86: "wrong_number",  # passed on, then status 22 (the number does not exist)
    87: "switched_off",  # passed on, then status 3 (expired: the phone stayed off)
    88: "absent",  # passed on, then status 20 (cannot be delivered: absent from the network)
}
FAILURES = {"wrong_number": (22, 1), "switched_off": (3, 6), "absent": (20, 6)}  # status, err


def behaviour_of(phone: str) -> str:
    """The simulated phone behind a number (see :data:`BEHAVIOURS`); "ordinary": sent, then delivered."""
    digits = phone[-2:]
    return BEHAVIOURS.get(int(digits), "ordinary") if digits.isdigit() else "ordinary"


class SmscError(Exception):
    """SMSC's refusal: HTTP 200 with ``{"error", "error_code"}``; ``http_status`` other than 200 for a server error
    (a page, not SMSC's JSON)."""

    def __init__(self, code: int, message: str, key: str | None = None, http_status: int = 200) -> None:
        super().__init__(message)
        self.code, self.message, self.key, self.http_status = code, message, key, http_status

    def response(self) -> web.Response:
        if self.http_status != 200:
            return web.Response(text="Internal Server Error", status=self.http_status)
        body: dict[str, Any] = {"error": self.message, "error_code": self.code}
        if self.key:
            body["id"] = self.key
        return web.Response(body=json.dumps(body, ensure_ascii=False).encode(), content_type=JSON)


def _fault(error: GraphError, settings: Settings) -> SmscError:
    if error.status in (429, 400):
        return SmscError(9, "duplicate request, wait a minute")
    return SmscError(0, "server error", http_status=500)


SMSC = chain.Dialect(refused=SmscError, authenticate=lambda request, sandbox: None, fault=_fault,
                     refusal=lambda error: (error.response(), error.code if error.http_status == 200 else None),
                     path=lambda request: request.path)  # the query may hold the password: never in the ledger

Handler = Callable[[web.BaseRequest, "Sandbox", dict[str, str]], Awaitable[web.Response]]


def smsc_api(sandbox: Sandbox, handler: Handler) -> Callable[[web.BaseRequest], Awaitable[web.Response]]:
    """Wrap an SMSC handler: the chain, then the form (query and body), the login and the account's window."""

    async def authorised(request: web.BaseRequest, sandbox: Sandbox, _caller: Any) -> web.Response:
        fields = dict(request.query)
        if request.method == "POST":
            fields.update({name: str(value) for name, value in (await request.post()).items()})
        request["key"] = fields.get("id") or None
        state = sandbox.state
        account = state.sms.account(fields.get("login", ""), fields.get("psw", ""))
        if account is None:
            raise SmscError(2, "authorise error", fields.get("id"))
        settings = state.settings
        if settings.sms_enforce_limits and not state.sms.admit(account.login, request["arrived"],
                                                               settings.sms_requests_per_second):
            state.ledger.event("sms_requests_throttled")
            raise SmscError(9, "too many concurrent requests", fields.get("id"))
        return await handler(request, sandbox, fields)

    return chain.chained(sandbox, SMSC, authorised)


# --- the HTTP API -----------------------------------------------------------------------------------

async def send(request: web.BaseRequest, sandbox: Sandbox, fields: dict[str, str]) -> web.Response:
    key, text, phones = fields.get("id", ""), fields.get("mes", ""), fields.get("phones", "")
    if not text or not phones:
        raise SmscError(1, "parameters error", key or None)
    if not key:
        key = str(next(sandbox.state.requests))  # SMSC numbers a message sent without an id
    if not MESSAGE_ID.match(key):
        raise SmscError(1, "parameters error: id")
    if "," in phones or ";" in phones or not PHONE.match(phones.strip()):
        raise SmscError(7, "invalid number", key)
    phone = "+" + phones.strip().removeprefix("+")
    sender = fields.get("sender", "")
    state = sandbox.state
    login = fields["login"]
    if state.sms.repeated(login, key, phone, text):
        previous = next((m for m in state.ledger.messages if m.key == key and m.phone_number_id == login), None)
        if previous is not None:
            state.ledger.duplicate(previous)
        raise SmscError(9, "duplicate request, wait a minute", key)
    behaviour = behaviour_of(phone)
    if behaviour == "unreachable":
        raise SmscError(8, "couldn't be delivered", key)
    parts = segments.count(text).parts
    now = time.time()
    sms = Sms(key, login, sender, phone, text, parts, now)
    state.sms.messages[(login, key)] = sms
    state.ledger.accepted(Message(key, login, sender, phone.removeprefix("+"), key, "sms", now, text=text))
    _plan(sandbox, state.sms.accounts[login], sms, behaviour)
    return respond({"id": key, "cnt": parts, "cost": f"{float(PRICE_PER_PART) * parts:.2f}", "balance": BALANCE})


async def balance(request: web.BaseRequest, sandbox: Sandbox, fields: dict[str, str]) -> web.Response:
    return respond({"balance": BALANCE, "currency": "RUB"})


def _plan(sandbox: Sandbox, account: Account, sms: Sms, behaviour: str) -> None:
    """Schedule the message's statuses (sent; delivered, or its failure; nothing more for a silent phone)."""
    settings = sandbox.state.settings
    low, high = settings.callback_delays_ms

    def gap(step: str) -> float:
        return dice.between(low, high, settings.seed, "sms", step, sms.phone, sms.id) / 1000

    sent = gap("sent")
    report(sandbox, account, sms, 0, later=sent)
    if behaviour == "silent":
        return
    if behaviour in FAILURES:
        status, err = FAILURES[behaviour]
        report(sandbox, account, sms, status, err, later=sent + gap("final"))
    elif dice.chance(settings.seed, "sms_failed", sms.phone, sms.id) < settings.status_shares["failed"]:
        report(sandbox, account, sms, 20, 6, later=sent + gap("final"))
    else:
        report(sandbox, account, sms, 1, later=sent + gap("final"))


def report(sandbox: Sandbox, account: Account, sms: Sms, status: int, err: int = 0, later: float = 0.0) -> None:
    """Post the status callback of ``sms`` to the account's callback URL (now, or ``later`` seconds from now)."""

    def post() -> None:
        sms.reported.append(status)
        body = {"id": sms.id, "phone": sms.phone.removeprefix("+"), "status": status, "time": int(time.time()),
                "ts": int(sms.at), "err": err, "cnt": sms.parts}
        sandbox.state.ledger.event("sms_reports")
        sandbox.callbacks.post(account.callback_url, "", body, headers={}, form=True)

    sandbox.state.ledger.event("statuses_planned")
    if later:
        sandbox.callbacks.later(later, post)
    else:
        post()


# --- the control API --------------------------------------------------------------------------------

def _account_json(account: Account) -> dict[str, Any]:
    return {"login": account.login, "callback_url": account.callback_url}


async def register_account(request: web.BaseRequest, sandbox: Sandbox, body: dict[str, Any]) -> Any:
    """``{login, password?, callback_url}``: add an account, or point an existing one's callbacks elsewhere."""
    login = body.get("login")
    if not isinstance(login, str) or not login:
        raise SettingsError("an account needs its login")
    url = body.get("callback_url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise SettingsError("callback_url must be an http(s) URL or null")
    accounts = sandbox.state.sms.accounts
    current = accounts.get(login)
    password = body.get("password", current.password if current is not None else None)
    if not isinstance(password, str) or not password:
        raise SettingsError("a new account needs its password")
    accounts[login] = Account(login, password, url)
    return _account_json(accounts[login])


async def list_accounts(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    return [_account_json(account) for account in sandbox.state.sms.accounts.values()]


async def list_messages(request: web.BaseRequest, sandbox: Sandbox) -> Any:
    return [{"id": sms.id, "login": sms.login, "sender": sms.sender, "phone": sms.phone, "text": sms.text,
             "parts": sms.parts, "at": sms.at, "reported": sms.reported}
            for sms in sandbox.state.sms.messages.values()]


async def post_report(request: web.BaseRequest, sandbox: Sandbox, body: dict[str, Any]) -> Any:
    """``{status: 1, err?: 0, login?}``: post a status of a message now (a late delivery report, on demand)."""
    state = sandbox.state.sms
    login = body.get("login")
    found = [sms for (owner, key), sms in state.messages.items()
             if key == request["message"] and (login is None or owner == login)]
    if not found:
        raise SettingsError(f"no SMS has the id {request['message']}")
    status, err = body.get("status", 1), body.get("err", 0)
    if not isinstance(status, int) or isinstance(status, bool) or not isinstance(err, int) or isinstance(err, bool):
        raise SettingsError("status and err are SMSC's numbers")
    sms = found[-1]
    report(sandbox, state.accounts[sms.login], sms, status, err)
    return {"id": sms.id, "status": status}


def add_routes(router: Router, sandbox: Sandbox) -> None:
    """SMSC's HTTP API paths and the SMS control API, on the sandbox's router."""
    for method in ("POST", "GET"):
        router.add(method, "/sys/send.php", smsc_api(sandbox, send))
        router.add(method, "/sys/balance.php", smsc_api(sandbox, balance))
    router.add("GET", "/_sandbox/sms/accounts", chain.control(sandbox, list_accounts))
    router.add("POST", "/_sandbox/sms/accounts", chain.control(sandbox, chain.with_body(register_account)))
    router.add("GET", "/_sandbox/sms/messages", chain.control(sandbox, list_messages))
    router.add("POST", "/_sandbox/sms/messages/{message}/reports", chain.control(sandbox, chain.with_body(post_report)))
