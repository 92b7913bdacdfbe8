"""Where a log message becomes an event id: the words the code wrote, never its data.

``"could not fetch user %s"`` gives ``could_not_fetch_user``, and so does the
f-string ``f"could not fetch user {uid}"`` (a record without args): before the
slug is made, the text is scrubbed (every default key name and pattern of
`_engine.scrub`), and the parts that are data rather than words are taken out: quoted
values, paths, URLs and e-mail addresses, and every word with a digit in it
(numbers, times, IPs, hex, UUIDs, ids such as ``cus_ax9f``). So one call site
gives one name whatever its values, and no secret reaches a name. A template
that is mostly placeholders (Django's ``"%s: %s"``, Celery's ``"Task
%(name)s[%(id)s] %(description)s: %(exc)s"``) has too few words of its own: the
id then comes from the formatted message by the same rule.

Each template and each message text is normalised once, then read from a
bounded table.
"""

from __future__ import annotations

import re

from .._engine.scrub import MASK, Scrubber

_PRINTF = r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]"
_OTHER = (
    r"\{[^{}]*\}"  # str.format style
    r"|\$\{?\w+\}?"  # string.Template style
)
_PLACEHOLDER = re.compile(_PRINTF + "|" + _OTHER)
# Without args the stdlib does not %-format the message: a "%" there is text
# ("95% slower" must not lose "% s" as if it were a placeholder).
_PLACEHOLDER_NO_ARGS = re.compile(_OTHER)
_QUOTED = re.compile(r"(?<!\w)'[^'\n]*'(?!\w)|\"[^\"\n]*\"")  # quoted values (not "can't")
_SPLIT = re.compile(r"[\s=&;,()\[\]{}<>|]+")  # words, key=value parts, brackets
# A word with one of these is data: numbers, ids, times, IPs, UUIDs,
# versions; paths, URLs, e-mail addresses.
_DATA_WORD = re.compile(r"[\d/\\@]")
_HEX_WORD = re.compile(r"(?i)[0-9a-f]{8,}")  # hex without a digit ("deadbeef")
_PUNCTUATION = ".,;:!?()[]{}"
_NON_WORD = re.compile(r"\W+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_MAX_ID = 64
_CACHE_SIZE = 4096
_CACHED_CHARS = 512  # longer texts are not cached: each table stays under ~2 MB
_NO_WORDS = ""  # cached: the template has too few words of its own
_from_templates: dict[str, str] = {}
_from_texts: dict[str, str] = {}
_scrubber = Scrubber()  # the defaults, whatever a handler's scrub options


def _words(text: str) -> str:
    words = _NON_WORD.sub("_", text.lower()).strip("_")
    if len(words) > _MAX_ID:
        words = words[:_MAX_ID].rsplit("_", 1)[0] or words[:_MAX_ID]
    return words.replace("__", "_")


def _without_data(text: str) -> str:
    text = _scrubber.text(text).replace(MASK, " ")
    if "'" in text or '"' in text:
        text = _QUOTED.sub(" ", text)
    data, hex_word = _DATA_WORD.search, _HEX_WORD.fullmatch
    return _words(
        " ".join(
            word
            for word in _SPLIT.split(text)
            if not data(word) and not (len(word) >= 8 and hex_word(word.strip(_PUNCTUATION)))
        )
    )


def _placeholder_out(found: re.Match[str]) -> str:
    return "%" if found.group() == "%%" else " "  # "%%" is a "%" of the text


def _remember(table: dict[str, str], text: str, found: str) -> None:
    if len(text) <= _CACHED_CHARS:
        if len(table) >= _CACHE_SIZE:
            table.clear()
        table[text] = found


def from_template(template: object, has_args: bool = True) -> str | None:
    """The id of a message template, or None when it has fewer words than placeholders.

    A non-string message (``log.error(exc)``) gives its type's name
    (``value_error``). Prose camelCase is not split ("iOS", "OAuth"):
    ``"fetchAllUsers"`` gives ``fetchallusers``. ``has_args`` False (a record
    without args: its template is its text) is `from_message`.
    """
    if not isinstance(template, str):
        return _words(_CAMEL.sub("_", type(template).__name__))
    if not has_args:
        return from_message(template)
    cached = _from_templates.get(template)
    if cached is None:
        placeholders = sum(1 for found in _PLACEHOLDER.findall(template) if found != "%%")
        words = _without_data(_PLACEHOLDER.sub(_placeholder_out, template))
        cached = words if words and words.count("_") + 1 >= placeholders else _NO_WORDS
        _remember(_from_templates, template, cached)
    return cached or None


def from_message(message: str) -> str | None:
    """The id of a message's text (its first line) with its data and secrets taken
    out, or None if nothing is left."""
    cached = _from_texts.get(message)
    if cached is None:
        line = message.split("\n", 1)[0]
        if len(line) > _CACHED_CHARS:  # the id has 64 characters: read no more than this
            line = line[:_CACHED_CHARS].rsplit(None, 1)[0]  # whole words (a whole token)
        cached = _without_data(_PLACEHOLDER_NO_ARGS.sub(" ", line))
        _remember(_from_texts, message, cached)
    return cached or None


def from_logger(name: str) -> str:
    """The last resort: the logger's name (``django.request`` gives ``django_request``)."""
    return _words(name) or "log"
