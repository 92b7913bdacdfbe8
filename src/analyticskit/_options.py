"""Every option, declared once: its name, type, default on each layer and one-line doc.

Two layers take options. `Analytics` (and `configure`) owns a connection and a
delivery engine; the logging front-ends (`PostHogHandler`, `install`, the
structlog processor and the loguru sink) map records and either deliver through
the shared default `Analytics`, through one given to them, or build their own
from the connection options they are given. Everything else is derived from
this table: the front-ends' accepted options and defaults, `parse_options`'s
input, the ``Args`` sections of `Analytics`' and `PostHogHandler`'s docstrings,
and the options table in the README (checked by a test). The explicit, typed
signatures of `Analytics.__init__` and `PostHogHandler.__init__` stay for
editors and mypy; a test checks them against this table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._mapping.record_to_event import DEFAULT_MAX_EVENT_NAMES
from ._volume.control import DEFAULT_DEDUPE_WINDOW
from .config import DEFAULT_MAX_QUEUED, DEFAULT_MAX_QUEUED_BYTES, DEFAULT_SHUTDOWN_TIMEOUT


class _Absent:
    """The default of an option on a layer that does not take it."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()
#: The line of a docstring's ``Args:`` section that `with_options` replaces.
_MARKER = "(The options, as `analyticskit._options` declares them, are listed here.)"


@dataclass(frozen=True)
class Option:
    """One option: where it is taken and with which default, and what it does."""

    name: str
    #: The type as the signatures spell it.
    type: str
    doc: str
    #: The default on `Analytics`/`configure`; ABSENT: not taken there.
    analytics: Any = ABSENT
    #: The default on the logging front-ends; ABSENT: not taken there.
    handler: Any = ABSENT
    #: Given to a front-end, it builds the front-end an `Analytics` of its own
    #: with it (the front-end's default, None, means "not given").
    connection: bool = False
    #: The default as the README's table shows it, where ``repr`` would not say it.
    shown: str | None = None


def _connection(name: str, type_: str, doc: str, default: Any, shown: str | None = None) -> Option:
    return Option(name, type_, doc, analytics=default, handler=None, connection=True, shown=shown)


def _front(
    name: str, type_: str, doc: str, default: Any = None, shown: str | None = None
) -> Option:
    return Option(name, type_, doc, handler=default, shown=shown)


OPTIONS: tuple[Option, ...] = (
    _connection(
        "api_key",
        "str | None",
        "PostHog project API key; without one (nor POSTHOG_API_KEY/POSTHOG_PROJECT_API_KEY)"
        " events go to the local sink on stderr.",
        None,
        "`POSTHOG_API_KEY`",
    ),
    _connection(
        "host",
        "str | None",
        "PostHog host (POSTHOG_HOST), e.g. https://eu.i.posthog.com.",
        None,
        "`POSTHOG_HOST`, else US cloud",
    ),
    _connection(
        "client",
        "posthog.Posthog | None",
        "an existing posthog client to deliver through; flushed, never shut down.",
        None,
    ),
    Option(
        "analytics",
        "Analytics | None",
        "an `Analytics` object to deliver through (default: the shared instance).",
        handler=None,
    ),
    _connection(
        "max_queued",
        "int",
        "how many events may wait, here and in the SDK's queue together; past it new"
        " events are dropped and counted (buffer_full).",
        DEFAULT_MAX_QUEUED,
    ),
    _connection(
        "max_queued_bytes",
        "int",
        "how many bytes those events may hold together (their strings, estimated as"
        " they are captured); past it new events are dropped and counted (buffer_full).",
        DEFAULT_MAX_QUEUED_BYTES,
        "32 MiB",
    ),
    _connection(
        "shutdown_timeout",
        "float",
        "seconds shutdown() and interpreter exit wait for delivery before counting"
        " what is left as dropped (timeout).",
        DEFAULT_SHUTDOWN_TIMEOUT,
    ),
    _connection(
        "scrub",
        "bool",
        "mask secrets (secret-named keys, credential-shaped strings) in every event"
        " and log; False turns the defaults off.",
        True,
    ),
    _connection(
        "scrub_keys",
        "Iterable[str] | None",
        "more key names whose values are masked, beside the defaults.",
        None,
    ),
    _connection(
        "scrub_patterns",
        "Iterable[str | Pattern[str]] | None",
        "more regular expressions whose matches are masked, beside the defaults.",
        None,
    ),
    _connection(
        "sink",
        "Sink | None",
        "deliver to this `Sink` instead of PostHog (not with api_key, host or client).",
        None,
        "`PostHogSink` with a key, else `LocalSink`",
    ),
    Option(
        "before_send",
        "BeforeSend | None",
        "hook(event) -> event | None, run on the worker after scrubbing: it may change the"
        " event dict (event, distinct_id, properties, timestamp, uuid) or drop it (None);"
        " one that raises drops it too (counted before_send). A front-end's runs first.",
        analytics=None,
        handler=None,
    ),
    Option(
        "rate_limit",
        "bool | Mapping[str, Any] | None",
        "capture_event's cap per event name, off by default: True (100 at once, then 5 a"
        ' second), {"burst": ..., "per_second": ...}, or False/None (off). For log'
        " records, on by default, a cap per event and user (personless records share one"
        " key per event): True (from WARNING up 100 at once, then 5 a second; below, 1,000"
        " at once, then 20 a second), False, one such mapping, a mapping by level name"
        ' ({"ERROR": {...}, "INFO": True}), or by logger name, "" for the others'
        ' ({"myapp.orders": False, "": True}).',
        analytics=None,
        handler=True,
    ),
    _front("sources", "Mapping[str, str] | None", "logger-name prefix to source, longest wins."),
    _front(
        "default_source",
        "str",
        "the source of records no prefix in sources matches.",
        "general",
    ),
    _front(
        "level_map",
        "Mapping[Any, Any] | None",
        'per-level overrides: {"WARNING": {"relevancy": "medium"}} or {"WARNING": "error"}.',
    ),
    _front(
        "include",
        "Iterable[str] | None",
        "logger names (with their children) or globs whose records are kept; others dropped.",
    ),
    _front(
        "exclude",
        "Iterable[str] | None",
        "logger names (with their children) or globs whose records are dropped.",
    ),
    _front(
        "ignore_loggers",
        "Iterable[str] | None",
        "more loggers whose records never become events, beside the SDK's and ours.",
    ),
    _front(
        "capture_exceptions",
        "bool",
        "also send records' exceptions to PostHog Error Tracking ($exception).",
        False,
    ),
    _front(
        "dedupe_window",
        "float | None",
        "seconds within which records identical to one logged are held back and summed up"
        " in one event with repeatCount (0 or None: off).",
        DEFAULT_DEDUPE_WINDOW,
    ),
    _front(
        "sample_levels",
        "Mapping[str, float] | None",
        'sampling rates by level name, e.g. {"DEBUG": 0.1}; off unless set.',
    ),
    _front(
        "sample_loggers",
        "Mapping[str, float] | None",
        "sampling rates by logger (prefix); off unless set.",
    ),
    _front(
        "event_level",
        "int | str | None",
        "records at or above it become events.",
        None,
        "the front-end's level",
    ),
    _front(
        "logs_level",
        "int | str | None",
        "records at or above it also go to PostHog Logs (extra analyticskit-posthog[logs]).",
        None,
        "None (off)",
    ),
    _front(
        "service_name",
        "str | None",
        "the logs' service.name.",
        None,
        "`OTEL_SERVICE_NAME`, else the program",
    ),
    _front("service_version", "str | None", "the logs' service.version."),
    _front("environment", "str | None", "the logs' deployment.environment."),
    _front(
        "logs_endpoint",
        "str | None",
        "send the logs lane to this OTLP/HTTP URL instead (an OpenTelemetry Collector),"
        " or to this path on the PostHog host (/otlp/v1/logs).",
        None,
        "`OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`, else `<host>/i/v1/logs`",
    ),
    _front(
        "logs_rate_cap",
        "bool | Mapping[str, float] | None",
        "the logs lane's cap per tumbling window, after before_send:"
        ' {"max_logs": ..., "window": ...}, or False.',
        None,
        "50,000 logs per 10 s",
    ),
    _front(
        "max_event_names",
        "int",
        "distinct event names a front-end makes before each new one is folded into one per"
        " logger and level (`<logger>_other_<level>`, the would-be id in `foldedId`),"
        " reported once and counted in `stats().names_folded`.",
        DEFAULT_MAX_EVENT_NAMES,
    ),
)

BY_NAME: Mapping[str, Option] = {option.name: option for option in OPTIONS}
#: The options `Analytics` and `configure` take, in declaration order.
ANALYTICS_OPTIONS: tuple[Option, ...] = tuple(o for o in OPTIONS if o.analytics is not ABSENT)
#: The options every logging front-end takes (beside its level), in declaration order.
FRONT_END_OPTIONS: tuple[Option, ...] = tuple(o for o in OPTIONS if o.handler is not ABSENT)
#: The front-ends' defaults, keyed by name.
FRONT_END_DEFAULTS: Mapping[str, Any] = {o.name: o.handler for o in FRONT_END_OPTIONS}
#: The connection options a front-end passes to an `Analytics` of its own.
CONNECTION_OPTIONS: tuple[str, ...] = tuple(o.name for o in OPTIONS if o.connection)


def given_options(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The front-end options among a constructor's ``locals()`` (its arguments)."""
    return {name: arguments[name] for name in FRONT_END_DEFAULTS}


def front_end_values(given: Mapping[str, Any]) -> dict[str, Any]:
    """Every front-end option's value: the given ones over the defaults. An unknown
    name is a TypeError naming it and the known ones."""
    unknown = sorted(set(given) - set(FRONT_END_DEFAULTS))
    if unknown:
        raise TypeError(
            f"unknown option(s) {', '.join(unknown)};"
            f" known: {', '.join(sorted(FRONT_END_DEFAULTS))}"
        )
    return {**FRONT_END_DEFAULTS, **given}


def with_options(doc: str | None, options: Iterable[Option], layer: str) -> str:
    """``doc`` (a class's docstring) with the marker line of its ``Args:`` section
    replaced by one line per option on ``layer`` (``"analytics"`` or ``"handler"``),
    indented as the marker is (Python 3.13 dedents docstrings, older ones do not)."""
    doc = doc or ""
    at = doc.find(_MARKER)
    if at < 0:
        return doc
    indent = doc[doc.rfind("\n", 0, at) + 1 : at]
    lines = "\n".join(
        f"{indent}{o.name}: {o.doc} Default: {default_text(o, layer).replace('`', '')}."
        for o in options
    )
    return doc[: at - len(indent)] + lines + doc[at + len(_MARKER) :]


def default_text(option: Option, layer: str) -> str:
    """An option's default on ``layer`` as the docs say it (Markdown); "—" where the
    layer does not take it."""
    value = getattr(option, layer)
    if value is ABSENT:
        return "—"
    if layer == "handler" and option.connection:
        return "as `Analytics`; given, its own `Analytics`"
    return option.shown if option.shown is not None else f"`{value!r}`"


def readme_table() -> str:
    """The README's options table (Markdown), one row per option."""
    rows = [
        "| option | type | `Analytics`, `configure` | `PostHogHandler`, `install`,"
        " structlog, loguru | what it does |",
        "|---|---|---|---|---|",
    ]
    for option in OPTIONS:
        type_ = option.type.replace("|", "\\|")
        doc = option.doc.replace("|", "\\|")
        rows.append(
            f"| `{option.name}` | `{type_}` | {default_text(option, 'analytics')}"
            f" | {default_text(option, 'handler')} | {doc} |"
        )
    return "\n".join(rows)
