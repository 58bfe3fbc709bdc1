"""Refusals (and requests to subscribe again, and questions about us) written as sentences.

The keyword match (``keywords``) reads a reply only when the whole of it is a keyword; a customer
who writes «Уберите меня из рассылки» or "Please stop sending me messages" asks for the same thing
in their own words, and the law (38-FZ art. 18) says sending stops however the request is worded.
So each clause of a reply is matched against patterns over *lemmas* (``lemmas``, ``reply_lexicon``):
a sending verb under negation («не пишите», «не надо мне писать»), a stopping verb with a sending
verb or our messages («хватит спамить», «прекратите рассылку»), a removing verb with me, my number
or a list («уберите меня из базы»), refusing our messages («отказаться от рассылки»), …

Sure or unsure. A pattern that names what is refused — us, our messages, a list — is an opt-out. A
refusal-shaped sentence that leaves room for doubt (a sending verb negated with an object we do not
know, a bare «хватит», «не интересно», «я не подписывался», STOP followed by a statement) is
``UNSURE``: the number is held until a person decides, because when in doubt we do not send. What
the sentence is about decides the rest: negation aimed at something else («Можно не присылать чек на
почту?»), a stop word before a question («Стоп, а сколько стоит доставка?») or a verb that merely
looks alike («Подпишите договор») read as ordinary replies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from compliance import reply_lexicon as lex
from compliance.intents import Intent
from compliance.lemmas import Clause, Word, analyse, clauses

# When clauses disagree, the strongest wins: a refusal anywhere in a reply is a refusal.
_STRENGTH = {Intent.OPT_OUT: 4, Intent.UNSURE: 3, Intent.OPT_IN: 2, Intent.HELP: 1, Intent.NONE: 0}

MAILING, MIXED, OTHER, UNKNOWN, NOTHING = "mailing", "mixed", "other", "unknown", "nothing"


def strongest(intents: Iterable[Intent | None]) -> Intent:
    return max((intent for intent in intents if intent is not None), key=_STRENGTH.__getitem__,
               default=Intent.NONE)


def recognise(text: str) -> Intent:
    """What a reply written in words asks for; ``Intent.NONE`` for an ordinary reply."""
    parts = clauses(text)
    if not parts:
        return Intent.NONE
    verdict = strongest(_clause(clause) for clause in parts)
    if verdict is Intent.OPT_OUT:
        return verdict
    stop = _stop_word(parts)
    if stop is not None and verdict is Intent.HELP:
        return Intent.UNSURE  # «Стоп. А кто вы?»: STOP, then a question about us
    return strongest((verdict, stop))


def _clause(clause: Clause) -> Intent:
    return strongest(rule(clause) for rule in _RULES)


# --- what a stretch of words is about --------------------------------------------------------------


def _about(words: Sequence[Word]) -> str:
    """Whether words (the object of a verb) name our messages, something else, both, something unknown or nothing."""
    mailing = any(word.any_of(lex.MAILING) or word.any_of(lex.LISTS) for word in words)
    other = any(word.any_of(lex.OTHER) for word in words)
    if mailing:
        # «отпишите от смс о статусе заказа»: our messages, but about an order — a person decides.
        return MIXED if other else MAILING
    if other:
        return OTHER
    return UNKNOWN if _unknown(words) else NOTHING


_KNOWN = (lex.MAILING, lex.LISTS, lex.OTHER, lex.SETTING, lex.ME, lex.NUMBER, lex.THIS, lex.YOU, lex.GAP,
          lex.EMPTY, lex.SEND, lex.STOP_VERBS)


def _unknown(words: Sequence[Word]) -> bool:
    """Whether a noun (any English word but glue) names something the lexicon does not know."""
    return any(
        not any(word.any_of(lemmas) for lemmas in _KNOWN)
        and (word.text not in lex.ENGLISH_GLUE if word.latin else word.pos == "NOUN")
        for word in words
    )


def _span(words: Sequence[Word], start: int) -> Sequence[Word]:
    """The words from ``start`` up to the next conjunction: «не пишите мне, а звоните» ends at «а»."""
    end = next((i for i in range(start, len(words)) if words[i].any_of(lex.CONJUNCTIONS)), len(words))
    return words[start:end]


def _negation_before(words: Sequence[Word], index: int, reach: int = 5) -> int | None:
    """The index of a negation governing ``words[index]`` («не надо мне больше писать»), or None."""
    for j in range(index - 1, max(-1, index - 1 - reach), -1):
        if words[j].any_of(lex.NEGATION):
            return j
        if not words[j].any_of(lex.GAP):
            return None
    return None


def _glued(word: Word, lemmas: frozenset[str]) -> bool:
    """A negation typed together with its verb («непишите», «нипишите»)."""
    return len(word.text) > 5 and word.text[:2] in ("не", "ни") and analyse(word.text[2:]).any_of(lemmas)


def _is_request(word: Word, clause: Clause) -> bool:
    """Whether a Russian verb reads as a request (imperative, infinitive, «хватит»), not a report of the past."""
    if word.latin:
        return not word.text.endswith("ed")
    if word.has("impr") or word.has("INFN"):
        return True
    if word.has("past") or word.has("1per"):
        return False
    return not clause.question


def _content(words: Iterable[Word]) -> list[Word]:
    return [word for word in words if not word.any_of(lex.EMPTY)]


# --- the rules: each reads one clause and has an opinion or none ------------------------------------


def _do_not_send(clause: Clause) -> Intent | None:
    """«Не пишите мне больше», «не надо мне ничего присылать», "don't text me", «не хочу получать рассылку»."""
    words = clause.words
    for i, word in enumerate(words):
        sending, receiving = word.any_of(lex.SEND), word.any_of(lex.RECEIVE)
        glued = _glued(word, lex.SEND)
        if not (sending or receiving or glued):
            continue
        negation = i if glued else _negation_before(words, i)
        if negation is None:
            continue
        between = words[negation + 1:i]
        if receiving and not sending and not any(w.any_of(lex.WANT) for w in between):
            continue  # «я не получаю сообщения» is a complaint about delivery, not a refusal
        if word.latin:
            # "do not text me", "never text me"; "you did not send the code" reports, it does not ask.
            before = words[negation - 1].text if negation else ""
            if words[negation].text == "not" and before not in ("do", "please", ""):
                continue
        elif not glued and not receiving and not _is_request(word, clause) and "чтобы" not in {
                w.text for w in words[:i]}:
            continue
        objects = [*between, *_span(words, i + 1)]
        about = _about(objects)
        if about in (MAILING, NOTHING) and _asks_to_write_elsewhere(clause, i):
            return Intent.UNSURE  # «не пишите мне на почту, пишите сюда»: where, not whether
        if about in (MAILING, NOTHING) and any(w.any_of(lex.TIMES) for w in objects):
            return Intent.UNSURE  # «не звоните мне до 10 утра», «не пишите по выходным»: when, not whether
        return {MAILING: Intent.OPT_OUT, NOTHING: Intent.OPT_OUT, UNKNOWN: Intent.UNSURE, MIXED: Intent.UNSURE,
                OTHER: Intent.NONE}[about]
    return None


def _asks_to_write_elsewhere(clause: Clause, refused: int) -> bool:
    """Whether the clause also asks to be contacted (a sending imperative not negated), or says "instead"."""
    words = clause.words
    if any(w.text in ("instead", "rather") for w in words):
        return True
    return any(
        j != refused and w.any_of(lex.SEND) and w.has("impr") and _negation_before(words, j) is None
        and not any(v.any_of(lex.STOP_VERBS) for v in words[max(0, j - 2):j])
        for j, w in enumerate(words)
    )


def _stop_sending(clause: Clause) -> Intent | None:
    """«Хватит спамить», «прекратите присылать рекламу», "please stop sending me messages"."""
    words = clause.words
    for i, word in enumerate(words):
        if not word.any_of(lex.STOP_VERBS) or _negation_before(words, i, reach=1) is not None:
            continue
        if not _is_request(word, clause) or any(w.text == "ли" for w in words):
            continue
        sent = any(w.any_of(lex.SEND) for j, w in enumerate(words) if j != i)
        if "хватить" in word.lemmas and not word.latin:
            if sent:
                return Intent.OPT_OUT  # «сколько можно писать, хватит»
            if any(w.any_of(lex.ME) for w in words[:i]):
                continue  # «мне двух штук хватит» is about having enough
        rest = _span(words, i + 1)
        if "хватить" in word.lemmas and [w.text for w in rest[:2]] == ["с", "меня"]:
            # «хватит с меня ваших скидок»: enough of it, whatever it is
            return Intent.OPT_OUT if _about(rest) == MAILING else Intent.UNSURE
        objects = [w for w in rest if not w.any_of(lex.SEND)]
        about = _about(objects)
        if clause.question and rest:
            # «Как остановить рассылку?» wants out but asks; «…подписку на журнал в приложении?» is elsewhere.
            return Intent.UNSURE if about == MAILING and not _unknown(objects) else Intent.NONE
        if any(w.any_of(lex.SEND) for w in rest) or about in (MAILING, MIXED):
            return {OTHER: Intent.NONE, UNKNOWN: Intent.UNSURE, MIXED: Intent.UNSURE}.get(about, Intent.OPT_OUT)
        unsaid = about == NOTHING or (about == UNKNOWN and any(w.any_of(lex.THIS) for w in rest))
        if unsaid and not clause.question:
            # «Хватит!», «прекратите это безобразие», "stop this nonsense": refusal-shaped, the object unsaid
            return Intent.UNSURE
        return Intent.NONE  # «остановите доставку», "stop by the store"
    return None


_ME_OBJECT = frozenset({"меня", "нас", "me", "us"})


def _remove_me(clause: Clause) -> Intent | None:
    """«Уберите меня из рассылки», «удалите мой номер из базы», «отпишите меня», "take me off your list"."""
    words = clause.words
    for i, word in enumerate(words):
        if not word.any_of(lex.REMOVE) or not _is_request(word, clause):
            continue
        if _negation_before(words, i, reach=2) is not None:
            return Intent.NONE  # «не удаляйте меня» asks to stay
        rest = _span(words, i + 1)
        if word.text == "take" and not any(w.text in ("off", "out") for w in rest):
            continue
        # Me (accusative: «уберите меня») or my number; «мой адрес» is not me, «отпишите мне» is "write back".
        me = any(w.text in _ME_OBJECT for w in (*words[max(0, i - 2):i], *rest))
        number = any(w.any_of(lex.NUMBER) for w in (*words[:i], *rest))  # «этот номер удалите»
        about = _about(rest)
        if about == MIXED:
            return Intent.UNSURE
        if about == MAILING or ((me or number) and about == NOTHING):
            return Intent.OPT_OUT
        if me and about == UNKNOWN:
            return Intent.OPT_OUT  # me out of anything we do not know of: «уберите меня из расылки» (a typo)
        if any(w.text in ("мне", "нам") for w in rest):
            return Intent.NONE  # «отпишите мне, когда будет в наличии»
        if about == NOTHING and word.any_of(lex.UNSUBSCRIBE):
            return Intent.OPT_OUT  # «отпишите, пожалуйста»
        if about == NOTHING and not _content(rest) and len(_content(words)) == 1:
            return Intent.UNSURE  # a bare «Удалите»
        return Intent.NONE  # «удалите заказ», "remove the item from my cart"
    return None


def _refuse(clause: Clause) -> Intent | None:
    """«Отказаться от рассылки», «хочу отписаться от всего», "unsubscribe me", "opt me out"."""
    words = clause.words
    for i, word in enumerate(words):
        opt_out = word.text == "opt" and any(w.text == "out" for w in words[i + 1:i + 3])
        if not (word.any_of(lex.REFUSE) or opt_out or (word.latin and word.any_of(lex.UNSUBSCRIBE))):
            continue
        if _negation_before(words, i, reach=3) is not None:
            return Intent.NONE  # «не хочу отписываться»
        rest = _span(words, i + 1)
        if any(w.any_of(lex.OTHER_LIST) for w in rest):
            return Intent.NONE  # «как отписаться от другой рассылки?»
        about = _about(rest)
        if about in (OTHER, UNKNOWN):
            return Intent.NONE  # «отказываюсь от заказа»
        if about == MIXED:
            return Intent.UNSURE
        if not word.latin and word.has("impr") and not any(w.text == "от" for w in rest):
            return Intent.NONE  # «отпишитесь, когда отправите» asks *us* to write back
        unsubscribing = opt_out or word.any_of(lex.UNSUBSCRIBE)
        if clause.question:
            return Intent.UNSURE  # «как отписаться?» wants out, but asks rather than tells
        return Intent.OPT_OUT if about == MAILING or unsubscribing else Intent.UNSURE
    return None


def _no_mailing(clause: Clause) -> Intent | None:
    """«Мне не нужны ваши рассылки», «никаких рассылок», "no more messages"; «не интересно» is unsure."""
    words = clause.words
    if _about(words) == OTHER:
        return None  # «мне не нужно смс с кодом» is about the order
    texts = {w.text for w in words}
    negated = bool(texts & {"не", "нет", "никаких", "никакой", "никакие", "not", "no", "without"})
    if not negated and not any(w.text.startswith("не") and w.any_of(lex.UNINTERESTED) for w in words):
        return None
    mailing = any(w.any_of(lex.MAILING) for w in words)
    if mailing and (texts & {"никаких", "никакой", "никакие", "more"} or any(w.any_of(lex.WANT) for w in words)):
        return Intent.OPT_OUT
    if any(w.any_of(lex.UNINTERESTED) for w in words) and not clause.question:
        return Intent.UNSURE
    if texts >= {"no", "more"} and not _content(w for w in words if w.text not in ("no", "more")):
        return Intent.UNSURE
    return None


def _fed_up(clause: Clause) -> Intent | None:
    """«Надоели ваши рассылки», «вы меня достали со своим спамом», «отстаньте», "leave me alone"."""
    words = clause.words
    texts = {w.text for w in words}
    if {"leave", "alone"} <= texts or any(w.any_of(lex.LEAVE_ALONE) and w.has("impr") for w in words):
        return Intent.OPT_OUT
    for i, word in enumerate(words):
        if word.latin or not word.any_of(lex.ANNOYED) or word.has("INFN") or word.has("impr"):
            continue
        if _negation_before(words, i, reach=1) is not None:
            return None
        others = [w for j, w in enumerate(words) if j != i]
        if any(w.pos == "INFN" and not w.any_of(lex.SEND) for w in others):
            return Intent.NONE  # «надоело ждать доставку»
        about = _about(others)
        if about == OTHER:
            return Intent.NONE
        if about == MAILING or any(w.any_of(lex.YOU) or w.any_of(lex.SEND) for w in others):
            return Intent.OPT_OUT
        return Intent.UNSURE
    return None


_GIVE = frozenset({"давать", "дать", "оставлять", "оставить"})


def _who_is_this(clause: Clause) -> Intent | None:
    """The doubtful: «я не подписывался», «откуда у вас мой номер», «зачем вы пишете», «это спам», «заблокирую»."""
    words = clause.words
    texts = {w.text for w in words}
    for i, word in enumerate(words):
        if not word.any_of(lex.NOT_SIGNED_UP) or not (word.has("past") or word.text in ("signed", "agreed")):
            continue
        negated = _negation_before(words, i, reach=3) is not None or "never" in texts
        # «не давал(а) согласия», «не оставлял номер»; «не давали скидку» is about something else.
        consent = not word.any_of(_GIVE) or bool(texts & {"согласие", "согласия", "номер"})
        if negated and consent:
            return Intent.UNSURE
    if any(w.any_of(lex.WHERE_FROM) for w in words) and any(w.any_of(lex.NUMBER) for w in words) and (
            any(w.any_of(lex.NUMBER_SOURCE) for w in words) or "у" in texts):
        return Intent.UNSURE
    # «Зачем вы мне пишете?», «почему мне приходят эти сообщения?»; «почему вы не пишете?» misses us.
    if any(w.any_of(lex.WHY) for w in words) and not any(w.any_of(lex.NEGATION) for w in words):
        sending = any(w.any_of(lex.SEND) for w in words)
        arriving = any("приходить" in w.lemmas for w in words) and any(w.any_of(lex.MAILING) for w in words)
        if (sending or arriving) and _about(words) != OTHER:
            return Intent.UNSURE
    if not clause.question and any(w.any_of(lex.THREATS) and w.has("1per") for w in words) and (
            _about(words) != OTHER):  # «пожалуюсь на курьера» is about the delivery
        return Intent.UNSURE
    # A wrong number («это не мой номер», «вы ошиблись номером»): whoever consented is not the one reading.
    if "номер" in {lemma for w in words for lemma in w.lemmas} and (
            {"не", "мой"} <= texts or any("ошибиться" in w.lemmas for w in words)) and _about(words) != OTHER:
        return Intent.UNSURE
    # «Сколько можно присылать одно и то же?»: exasperation at being written to.
    if {"сколько", "можно"} <= texts and any(w.any_of(lex.SEND) and w.has("INFN") for w in words):
        return Intent.UNSURE
    content = _content(words)
    if any(w.any_of(lex.SPAM_WORDS) for w in content) and len(content) <= 4 and _about(content) != OTHER:
        return Intent.UNSURE
    return None


def _subscribe_again(clause: Clause) -> Intent | None:
    """«Подпишите меня снова», «хочу снова получать рассылку», «верните меня в рассылку», "sign me up"."""
    words = clause.words
    if clause.question or any(w.any_of(lex.NEGATION) for w in words):
        return None
    texts = {w.text for w in words}
    about = _about(words)
    if about == OTHER:
        return None  # «Подпишите договор»
    me, again = any(w.any_of(lex.ME) for w in words), any(w.any_of(lex.AGAIN) for w in words)
    for word in words:
        if word.any_of(lex.SUBSCRIBE) and (me or again or about == MAILING) and not word.has("past"):
            return Intent.OPT_IN
        if word.any_of(lex.RESUME) and about == MAILING:
            return Intent.OPT_IN
        if word.any_of(lex.RECEIVE) and about == MAILING and any(w.any_of(lex.WANT) for w in words):
            return Intent.OPT_IN
    if ({"sign", "up"} <= texts and me) or {"opt", "in"} <= texts or {"start", "again"} <= texts:
        return Intent.OPT_IN
    return None


def _what_is_this(clause: Clause) -> Intent | None:
    """«Что это за рассылка?», «кто вы?», "who are you?", "what is this?"."""
    words = _content(clause.words)
    if not clause.question or not 2 <= len(words) <= 5 or _about(words) == OTHER:
        return None
    first, rest = words[0], words[1:]
    if first.any_of(lex.HELP_WHO) and any(w.any_of(lex.YOU) or w.any_of(lex.THIS) for w in rest):
        return Intent.HELP
    if first.any_of(lex.HELP_WHAT) and any(w.any_of(lex.THIS) for w in rest) and (
            len(words) <= 3 or any(w.any_of(lex.MAILING) or w.text in ("за", "about") for w in rest)):
        return Intent.HELP
    return None


_RULES = (_do_not_send, _stop_sending, _remove_me, _refuse, _no_mailing, _fed_up, _who_is_this,
          _subscribe_again, _what_is_this)


# --- STOP in a sentence -------------------------------------------------------------------------------


def _stop_word(parts: Sequence[Clause]) -> Intent | None:
    """«СТОП СТОП СТОП» and «Всё, стоп» opt out; «Стоп, а сколько стоит доставка?» asks something else.

    Only a reply that *begins* with STOP is read here («нажимаю стоп, а видео идёт» is about a button).
    What follows decides: nothing or more stopping is an opt-out, our messages named are an opt-out,
    a question is an ordinary reply and anything else may be a refusal (unsure)."""
    words = [w for clause in parts for w in _content(clause.words)]
    if not words or not words[0].any_of(lex.STOP_WORDS):
        return None
    rest = [w for w in words if not (w.any_of(lex.STOP_WORDS) or "хватить" in w.lemmas or w.text == "enough")]
    if not rest:
        return Intent.OPT_OUT
    about = _about(rest)
    if about == MAILING:
        return Intent.OPT_OUT
    asks = any(clause.question for clause in parts) or rest[0].any_of(lex.QUESTION_WORDS)
    return Intent.NONE if asks or about == OTHER else Intent.UNSURE
