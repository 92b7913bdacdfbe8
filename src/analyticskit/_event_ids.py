"""Where a log message becomes an event id: snake_case words, variable parts removed.

``"could not fetch user %s"`` gives ``could_not_fetch_user``, so all such records
group under one event name. A template that is mostly placeholders (Django's
``"%s: %s"``, Celery's ``"Task %(name)s[%(id)s] %(description)s: %(exc)s"``) has
too few words of its own: the id then comes from the formatted message with its
variable parts (quoted values, paths and URLs, anything with a digit) removed.
"""

from __future__ import annotations

import re

_PRINTF = r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]"
_OTHER = (
    r"\{[^{}]*\}"  # str.format style
    r"|\$\{?\w+\}?"  # string.Template style
)
_PLACEHOLDER = re.compile(_PRINTF + "|" + _OTHER)
# Without args the stdlib does not %-format the message: a "%" there is text
# ("95% slower" must not lose "% s" as if it were a placeholder).
_PLACEHOLDER_NO_ARGS = re.compile(_OTHER)
_VARIABLE = re.compile(
    r"'[^']*'|\"[^\"]*\""  # quoted values
    r"|\S*[/\\@]\S*"  # paths, URLs, e-mail addresses
    r"|[\w-]*\d[\w-]*"  # numbers, ids, hashes, uuids, times
)
_NON_WORD = re.compile(r"\W+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_MAX_ID = 64
_CACHE_SIZE = 4096
_CACHED_CHARS = 512  # longer templates are not cached: the cache stays under ~2 MB
_NO_WORDS = ""  # cached: the template has too few words of its own
_from_templates: dict[tuple[str, bool], str] = {}


def _words(text: str) -> str:
    words = _NON_WORD.sub("_", text.lower()).strip("_")
    if len(words) > _MAX_ID:
        words = words[:_MAX_ID].rsplit("_", 1)[0] or words[:_MAX_ID]
    return words.replace("__", "_")


def from_template(template: object, has_args: bool = True) -> str | None:
    """The id of a message template, or None when it has fewer words than placeholders.

    A non-string message (``log.error(exc)``) gives its type's name
    (``value_error``). Prose camelCase is not split ("iOS", "OAuth"):
    ``"fetchAllUsers"`` gives ``fetchallusers``. ``has_args`` False (a record
    without args) keeps ``%`` signs as text.
    """
    if not isinstance(template, str):
        return _words(_CAMEL.sub("_", type(template).__name__))
    key = (template, has_args)
    cached = _from_templates.get(key)
    if cached is None:
        placeholder = _PLACEHOLDER if has_args else _PLACEHOLDER_NO_ARGS
        placeholders = sum(1 for found in placeholder.findall(template) if found != "%%")
        words = _words(placeholder.sub(" ", template))
        cached = words if words and words.count("_") + 1 >= placeholders else _NO_WORDS
        if len(template) <= _CACHED_CHARS:
            if len(_from_templates) >= _CACHE_SIZE:
                _from_templates.clear()
            _from_templates[key] = cached
    return cached or None


def from_message(message: str) -> str | None:
    """The id of a formatted message with its variable parts removed, or None if
    nothing is left."""
    return _words(_VARIABLE.sub(" ", message.split("\n", 1)[0])) or None


def from_logger(name: str) -> str:
    """The last resort: the logger's name (``django.request`` gives ``django_request``)."""
    return _words(name) or "log"
