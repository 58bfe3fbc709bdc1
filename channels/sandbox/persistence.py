"""Numbers and templates kept in a JSON file across restarts (``--state-file``), so that templates a
Vestnik instance submitted are still approved after ``make run`` starts the sandbox again.

Only what changes rarely is kept: numbers and templates, MAX's bots (with their webhook subscriptions), the
people MAX knows and their dialogs (who started a bot: what Vestnik's addresses stand on), and Telegram's bots
(their webhooks and update counters), people and dialogs (who started or blocked which bot). Messages, the
ledger, recipients' state and settings changed over the control API live in memory only. The file is rewritten
whole (to a
temporary file, then renamed) after each change; a reset empties it too.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from channels.sandbox import defaults
from channels.sandbox.max_state import MaxState
from channels.sandbox.state import Number, State, number_from
from channels.sandbox.templates import delay_ms, parse_submission

KEPT = ("name", "language", "category", "parameter_format", "components")


def save(path: Path, state: State) -> None:
    """Write the state's numbers and templates to ``path``."""
    data = {
        "numbers": [asdict(number) for number in state.numbers.values()],
        "next_template_id": state.book.next_id,
        "templates": [
            {"id": t.id, "waba_id": t.waba_id, **{k: getattr(t, k) for k in KEPT}, "status": t.status,
             "reason": t.reason, "previous_category": t.previous_category, "forced": t.forced, "edits": t.edits}
            for t in state.book.by_id.values()
        ],
        "max": state.max.to_json(),
        "telegram": state.telegram.to_json(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)  # instance/ may not exist yet on a fresh checkout
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(temporary, path)


def load(path: Path, state: State) -> list:
    """Read ``path`` (if it exists) into a fresh state; returns the templates whose timed decision the restart
    interrupted (``_pending`` names keep waiting for a forced one)."""
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    state.numbers = {n["phone_number_id"]: Number(**n) for n in data.get("numbers", ())} or state.numbers
    state.telegram.restore(data.get("telegram") or {})
    waiting = []
    for row in data.get("templates", ()):
        template = parse_submission(row["waba_id"], row["id"], {k: row[k] for k in KEPT})
        template.status, template.reason = row["status"], row["reason"]
        template.previous_category, template.forced = row.get("previous_category"), row.get("forced", False)
        template.edits = list(row.get("edits", ()))  # the edit limits of approved templates outlive a restart
        state.book.add(template)
        if template.status == "PENDING" and not template.forced and delay_ms(template, 0, 0) is not None:
            waiting.append(template)
    state.book.next_id = max(state.book.next_id, int(data.get("next_template_id", 0)))
    if "max" in data:
        state.max.load(data["max"])
    return waiting


def register(path: Path, fields: dict) -> None:
    """Register (or change) a number in the state file of a sandbox that is not running, which starts with it:
    ``fields`` as ``POST /_sandbox/numbers`` takes them (the others keep their values, or the defaults)."""
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    numbers = {str(n["phone_number_id"]): n for n in data.get("numbers", ())} or {
        Number().phone_number_id: asdict(Number())}  # the default number stays, as an empty list would leave it
    current = numbers.get(str(fields.get("phone_number_id")))
    number = number_from(fields, Number(**current) if current else None)
    numbers[number.phone_number_id] = asdict(number)
    data["numbers"] = list(numbers.values())
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(temporary, path)


def subscribe_max(path: Path, url: str, secret: str, token: str = defaults.MAX_TOKEN,
                  update_types: tuple[str, ...] = ()) -> None:
    """Subscribe a MAX bot's webhook (as ``POST /subscriptions`` would) in the state file of a sandbox that is not
    running, which starts with it; ``token`` names the bot (the default bot if the file has no bots yet)."""
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    world = MaxState()
    world.load(data.get("max", {}))
    bot = world.bots.get(token)
    if bot is None:
        raise KeyError(f"the state file has no MAX bot with that token ({path})")
    bot.subscription_url, bot.subscription_secret, bot.update_types = url, secret, list(update_types)
    bot.subscribed_at = int(time.time() * 1000)
    data["max"] = world.to_json()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(temporary, path)
