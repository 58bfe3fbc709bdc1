"""A reply as clauses of words, each word with its dictionary forms (lemmas) and grammemes.

Russian words are analysed by pymorphy3 (OpenCorpora's dictionary with a predictor for unknown
words), so "не пишите", "не писать" and "не надо мне писать" all carry the lemma «писать». A word
keeps the lemmas of *every* parse: «прекратите» is both an imperative and a future indicative, and
the patterns decide which reading they need. English words get a small suffix-stripping lemma
("sending" → "send"), which is all the short English replies we see need.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from dataclasses import dataclass

# Letters that look alike in the two alphabets: a word is written back into the alphabet most of its
# letters are in, so "Отпиcка" (Latin c) is analysed as Russian and "STОP" (Cyrillic О) as English.
_TO_CYRILLIC = str.maketrans("aeopcyxkmtbhi", "аеорсухкмтвні")
_TO_LATIN = str.maketrans("аеорсухкмтвні", "aeopcyxkmtbhi")
_CYRILLIC = re.compile(r"[а-я]")
_LATIN = re.compile(r"[a-z]")
_WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*")
# A clause ends at sentence punctuation or a line break; "?" is remembered (questions read differently).
_CLAUSE = re.compile(r"[^.!?;\n…]+[.!?;\n…]*")
_CONTRACTIONS = (("n't", " not"), ("dont", "do not"), ("cant", "can not"), ("wont", "will not"),
                 ("thank you", "thanks"))

# A reply longer than this is a letter; its first words are read and the rest is not (cost stays flat).
MAX_WORDS = 80


@dataclass(frozen=True)
class Word:
    text: str
    lemmas: frozenset[str]
    grammemes: frozenset[str]  # of every parse
    pos: str | None = None  # the part of speech of the likeliest parse

    @property
    def latin(self) -> bool:
        return not _CYRILLIC.search(self.text)

    def any_of(self, words: frozenset[str]) -> bool:
        """Whether the word, or one of its lemmas, is one of ``words``."""
        return self.text in words or not self.lemmas.isdisjoint(words)

    def has(self, *grammemes: str) -> bool:
        return all(grammeme in self.grammemes for grammeme in grammemes)


@dataclass(frozen=True)
class Clause:
    words: tuple[Word, ...]
    question: bool


_analyser = None
_analyser_lock = threading.Lock()


def analyser():
    """The one pymorphy3 analyser of the process, built on first use (0.1-0.5 s and ~28 MB)."""
    global _analyser
    if _analyser is None:
        with _analyser_lock:
            if _analyser is None:
                import pymorphy3  # imported here so that processes which never read a reply never load it

                _analyser = pymorphy3.MorphAnalyzer()
    return _analyser


def _one_alphabet(word: str) -> str:
    cyrillic, latin = len(_CYRILLIC.findall(word)), len(_LATIN.findall(word))
    return word.translate(_TO_CYRILLIC) if cyrillic >= latin else word.translate(_TO_LATIN)


def _english_lemmas(word: str) -> frozenset[str]:
    lemmas = {word}
    for suffix, replacement in (("ies", "y"), ("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"), ("es", ""),
                                ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)] + replacement
            lemmas.add(stem)
            if len(stem) > 3 and stem[-1] == stem[-2]:  # "texting" → "text", "stopped" → "stop"
                lemmas.add(stem[:-1])
    return frozenset(lemmas)


# The spelling slips of quick replies, as rules of Russian orthography rather than a list of misspellings:
# an unstressed vowel written as its pair («атпишите», «удолите»), «ы» after ж/ш («пишыте»), «-ити» for the
# imperative «-ите» («уберити»), «-тся» for «-ться», a letter typed twice («стопп»).
_VOWEL_PAIRS = {"а": "о", "о": "а", "е": "и", "и": "е"}
_ENDINGS = (("ити", "ите"), ("тся", "ться"), ("ться", "тся"))


def _variants(word: str):
    yield re.sub(r"(.)\1+", r"\1", word)
    yield re.sub(r"(?<=[жш])ы", "и", word)
    for typed, meant in _ENDINGS:
        if word.endswith(typed):
            yield word[: -len(typed)] + meant
    for i, letter in enumerate(word):
        if letter in _VOWEL_PAIRS:
            yield word[:i] + _VOWEL_PAIRS[letter] + word[i + 1:]


def repaired(word: str) -> str:
    """A Russian word the dictionary does not know, as the known word one spelling slip away; else itself."""
    morph = analyser()
    if len(word) < 4 or morph.word_is_known(word):
        return word
    return next((variant for variant in _variants(word) if variant != word and morph.word_is_known(variant)), word)


@functools.lru_cache(maxsize=50_000)
def analyse(word: str) -> Word:
    """One word (lower case, one alphabet) with its lemmas and grammemes; cached, replies repeat words."""
    if not _CYRILLIC.search(word):
        return Word(word, _english_lemmas(word), frozenset({"LATN"}))
    word = repaired(word)
    parses = analyser().parse(word)
    lemmas = frozenset(parse.normal_form.replace("ё", "е") for parse in parses)
    grammemes = frozenset(grammeme for parse in parses for grammeme in parse.tag.grammemes)
    return Word(word, lemmas, grammemes, parses[0].tag.POS)


def clauses(text: str) -> list[Clause]:
    """The reply's clauses in order, each a tuple of analysed words (punctuation and emoji dropped)."""
    text = unicodedata.normalize("NFKC", text or "").casefold().replace("ё", "е").replace("’", "'")
    for contraction, full in _CONTRACTIONS:
        text = re.sub(contraction if contraction.startswith("n'") else rf"\b{contraction}\b", full, text)
    result, budget = [], MAX_WORDS
    for match in _CLAUSE.finditer(text):
        words = tuple(analyse(_one_alphabet(word)) for word in _WORD.findall(match.group())[:budget])
        if words:
            result.append(Clause(words, "?" in match.group()))
            budget -= len(words)
        if budget <= 0:
            break
    return result
