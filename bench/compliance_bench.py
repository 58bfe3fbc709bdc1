"""Compliance throughput on one core: how many messages (or texts) per second each check judges.

Run from anywhere: ``.venv/bin/python bench/compliance_bench.py``. Each benchmark is a function in
``BENCHMARKS`` that returns messages per second (best of a few runs); ``main`` prints one line per
benchmark against the goal. Add a benchmark by writing one more function and listing it.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compliance.lint import lint
from compliance.send_verdicts import RecipientFacts, SendContext, evaluate, preflight

GOAL = 50_000  # messages per second on one core
LINT_GOAL = 2_000  # texts per second on one core
LINT_TEXTS = 2_000
RUNS = 5
RECIPIENTS = 200_000
DISPATCH_BATCH = 500  # recipients per send_batch job; each judges its own batch
# 08:00 UTC on a Tuesday: inside the eleven-zone Russian window, before it in the Americas.
NOW = datetime(2025, 3, 11, 8, 0, tzinfo=UTC)
RU_ZONES = (
    "Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
    "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok", "Asia/Magadan", "Asia/Kamchatka",
)
KNOWN_PLACES = [
    ("RU", ("Europe/Moscow",)), ("RU", ("Asia/Yekaterinburg",)), ("RU", ("Asia/Novosibirsk",)),
    ("RU", ("Asia/Vladivostok",)), ("KZ", ("Asia/Almaty",)), ("DE", ("Europe/Berlin",)),
    ("US", ("America/New_York",)), ("US", ("America/Los_Angeles",)), ("AE", ("Asia/Dubai",)),
]


def best_rate(messages: int, run: Callable[[], object]) -> float:
    """Messages per second of the fastest of ``RUNS`` runs of ``run``."""
    best = min(_timed(run) for _ in range(RUNS))
    return messages / best


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


@cache  # every benchmark judges the same audience; build it once
def realistic_recipients(count: int, seed: int = 3) -> list[RecipientFacts]:
    """A mix like a real Russian audience: a third of mobiles with no city (eleven zones), the rest
    placed; about 2% suppressed, 3% without consent, 10% at a frequency cap, 30% contacted lately."""
    rng = random.Random(seed)
    recipients = []
    for index in range(count):
        if rng.random() < 0.35:
            country, zones = "RU", RU_ZONES
        else:
            country, zones = rng.choice(KNOWN_PLACES)
        roll = rng.random()
        recipients.append(RecipientFacts(
            phone=f"+7900{index:07d}",
            country=country,
            time_zones=zones,
            has_consent=roll >= 0.03,
            suppressed=(rng.choice(("opt_out", "block", "spam_report", "manual")),) if 0.03 <= roll < 0.05 else (),
            sent_today=1 if 0.05 <= roll < 0.10 else 0,
            sent_this_week=rng.choice((3, 4)) if 0.10 <= roll < 0.15 else rng.randint(0, 2),
            contacted_last_24h=rng.random() < 0.3,
        ))
    return recipients


@dataclass(frozen=True)
class Result:
    name: str
    rate: float
    unit: str = "messages"
    goal: int = GOAL


def bench_verdicts() -> Result:
    """Send-time verdicts for one marketing batch of the whole audience."""
    recipients = realistic_recipients(RECIPIENTS)
    context = SendContext(NOW, "marketing", tier_headroom=100_000)
    return Result("verdicts", best_rate(len(recipients), lambda: evaluate(recipients, context)))


def bench_dispatch_verdicts() -> Result:
    """The same audience judged in dispatch-sized batches, each paying for its own window look-ups."""
    recipients = realistic_recipients(RECIPIENTS)
    batches = [recipients[start:start + DISPATCH_BATCH] for start in range(0, len(recipients), DISPATCH_BATCH)]
    context = SendContext(NOW, "marketing", tier_headroom=100_000)

    def run() -> None:
        for batch in batches:
            evaluate(batch, context)

    return Result(f"verdicts in batches of {DISPATCH_BATCH}", best_rate(len(recipients), run))


def bench_preflight() -> Result:
    """The preflight report a reviewer sees: every verdict plus the counts by rule."""
    recipients = realistic_recipients(RECIPIENTS)
    context = SendContext(NOW, "marketing", tier_headroom=2_000)
    return Result("preflight", best_rate(len(recipients), lambda: preflight(recipients, context)))


LINT_OPENINGS = [
    "Здравствуйте, {{1}}! В нашем магазине началась осенняя распродажа: скидки до 30% на обувь и верхнюю одежду.",
    "Hello {{1}}, your favourite store has new arrivals: knitwear, boots and warm coats for the whole family.",
    "{{1}}, спасибо, что вы с нами! Дарим промокод на бесплатную доставку до конца недели — только сегодня и завтра.",
    "Dear {{1}}, we are opening a new shop in your city on Saturday; come for coffee, music and a small gift.",
]
LINT_MIDDLES = [
    " Подробности в нашем Инстаграме и на сайте shop.example.ru/sale, а вопросы задавайте в чате поддержки.",
    " Новинки смотрите на сайте shop.example.ru/new; запись на примерку по телефону +7 495 123-45-67.",
    " Follow us on Instagram: instagram.com/example_shop for daily offers and behind-the-scenes photos!!",
    " Details at https://bit.ly/3xYz and in the app; the offer is valid while stocks last, act now.",
    " Мы также есть в ВКонтакте и Telegram — подписывайтесь, чтобы первыми узнавать о скидках и акциях.",
]
LINT_CLOSINGS = [
    " Ждём вас ежедневно с 10:00 до 21:00 по адресу: ул. Ленина, 1. *Ваш Вестник-маркет*",
    " See you soon! _The Example Shop team_. Reply STOP to unsubscribe from these messages.",
    " Чтобы отписаться от рассылки, ответьте СТОП. Хорошего дня!",
]


@cache
def marketing_texts(count: int, seed: int = 5) -> list[str]:
    """Template bodies of 250–600 characters like the ones marketers write, a third with mentions or links."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        middle = "".join(rng.sample(LINT_MIDDLES, rng.randint(1, 3)))
        texts.append(rng.choice(LINT_OPENINGS) + middle + rng.choice(LINT_CLOSINGS))
    return texts


def bench_lint() -> Result:
    """The full content report (mentions, tagging, links, length, spam score) per template body."""
    texts = marketing_texts(LINT_TEXTS)
    lint(texts[0])  # load and compile the registry outside the timing

    def run() -> None:
        for text in texts:
            lint(text, "ru")

    return Result("lint", best_rate(len(texts), run), "texts", LINT_GOAL)


BENCHMARKS: list[Callable[[], Result]] = [bench_verdicts, bench_dispatch_verdicts, bench_preflight, bench_lint]


def main() -> None:
    """Run every benchmark and print its rate against its goal."""
    for benchmark in BENCHMARKS:
        result = benchmark()
        print(f"{result.name}: {result.rate:,.0f} {result.unit}/s ({result.rate / result.goal:.1f}× the "
              f"{result.goal:,} goal)", flush=True)


if __name__ == "__main__":
    main()
