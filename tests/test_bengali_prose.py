"""The rule for "English prose" in what a Bengali learner is shown, and tests of the rule itself.

Rule: after removing what is code or a value (inline `code`, fenced code, text in quotes, URLs, paths,
an exception as Python or a library reports it (`ValueError: No route found ...`, to the end of the line),
a terminal transcript (a line that starts with `$ `, the command, and the lines the program printed after it up
to the next blank line: daphne's log, Django's migrate, the learner's own management command),
--options, {placeholders}, dotted or snake_case or CamelCase identifiers, ALL-CAPS names), a line holds
English prose when it still has THREE OR MORE Latin-letter words in a row, separated by single spaces,
at least one of them all lowercase. Two words ("Channels Kit", "Django Channels") are names; a
comma-separated list ("memory, redis, pubsub") is a list of values, not a sentence.
What stays English on purpose is in ALLOWED, one list for every Bengali test.
"""
from __future__ import annotations

import re

# Phrases that stay English in Bengali text on purpose (names and terms the glossary keeps; program output).
ALLOWED = (
    "Django Channels",          # a name
    "Open from Path",           # JupyterLab's menu item, as the learner sees it in the English UI
    "Reload … from Disk",       # the same
    "first words that stay",    # the chat message lesson 11's code saves: a value in code, printed by the model
)

_TRANSCRIPT = re.compile(r"^\$ .*(?:\n.+)*", re.M)   # a `$ command` line and its output, to a blank line
_CODE = [
    re.compile(r"\b[A-Z]\w*(?:Error|Exception|Operation|Warning)\b: .*$", re.M),   # an exception Python reports
    re.compile(r"```.*?```", re.S),                     # fenced code
    re.compile(r"`[^`\n]*`"),                           # inline code
    re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|“[^”\n]*”|‘[^’\n]*’"),   # quoted values
    re.compile(r"\b[a-z][a-z0-9+.-]*://\S+"),           # URLs
    re.compile(r"\{[^{}\n]*\}"),                        # placeholders
    re.compile(r"(?<![\w/])(?:\.{0,2}/)?[\w.-]+(?:/[\w.<>-]*)+"),   # paths: a/b, ../x, ws/chat/<room>/
    re.compile(r"--?[a-zA-Z][\w-]*"),                   # options
    re.compile(r"\b\w+(?:[._]\w+)+\b"),                 # dotted and snake_case names, files (x.py)
    re.compile(r"\b[a-z]+[A-Z]\w*\b|\b[A-Z][a-z]+[A-Z]\w*\b"),   # camelCase and CamelCase
    re.compile(r"\b[A-Z][A-Z0-9]+\b"),                  # ALL-CAPS names and acronyms
]
_RUN = re.compile(r"(?<![\w'’-])[A-Za-z]+(?: [A-Za-z]+){2,}(?![\w-])")


def english_prose(text: str) -> list[str]:
    """The runs of English prose in text (empty when there is none), by the module's rule."""
    for phrase in ALLOWED:
        text = text.replace(phrase, " ")
    text = _TRANSCRIPT.sub(" \x00 ", text)
    for pattern in _CODE:
        text = pattern.sub(" \x00 ", text)
    found = []
    for run in _RUN.findall(text):
        if any(word.islower() for word in run.split()):
            found.append(run)
    return found


def test_the_rule_finds_english_sentences():
    assert english_prose("grade stages of a project tree") == ["grade stages of a project tree"]
    assert english_prose("ধাপ ৩: the socket never answered") == ["the socket never answered"]
    assert english_prose("usage: kit check [-h]") == []  # two words then code
    assert english_prose("show this help message and exit")


def test_the_rule_lets_code_names_and_values_through():
    for text in ("`python manage.py runserver` চালান", "ধাপ `consumer` ফেল করেছে", "'after the quiet'-এর বদলে",
                 "INSTALLED_APPS (daphne, channels, myapp), ASGI_APPLICATION", "Channels Kit: আপনার চ্যাট প্রজেক্ট",
                 "ws/chat/<room_name>/-এর জন্য websocket_urlpatterns", "{project}-এর ধাপ", "--format points-এর সমান",
                 "Django Channels দিয়ে", "https://example.org/a b c", "memory, redis, pubsub",
                 "ফিরিয়ে দেওয়া হয়েছে: ValueError: No route found for path"):
        assert english_prose(text) == [], text


def test_a_terminal_transcript_is_the_programs_output_up_to_a_blank_line():
    transcript = ("$ python manage.py migrate   (REDIS_URL=redis://127.0.0.1:6379/0)\nOperations to perform:\n"
                  "  Apply all migrations: admin, auth\n2026-12-07 00:03:39,217 INFO     Configuring endpoint tcp\n")
    assert english_prose(transcript) == []
    # the transcript ends at the blank line: the lesson's own words after it are read again
    assert english_prose(transcript + "\nthe lesson speaks again here") == ["the lesson speaks again here"]
    # and only a line that starts with "$ " opens one
    assert english_prose("run it as $ python manage.py migrate in a terminal") == ["run it as", "migrate in a terminal"]
