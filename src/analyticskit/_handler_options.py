"""Where a `PostHogHandler`'s options are read: plain values (from code or
``dictConfig``) checked and turned into one frozen `HandlerOptions`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from . import _guard
from ._logs.otlp_http import endpoint_problem, env_endpoint_problem
from ._mapping.levels import level_number
from ._mapping.message import BeforeSend
from ._mapping.record_to_event import DEFAULT_MAX_EVENT_NAMES, LevelRule
from ._options import CONNECTION_OPTIONS, front_end_values
from ._validate import (
    bool_problem,
    check,
    choice_problem,
    describe,
    optional_text_problem,
    positive_problem,
)
from ._volume.control import RecordCaps, parse_rates, parse_record_caps
from ._volume.window_cap import parse_cap
from .analytics import Analytics
from .events import EVENT_TYPES, RELEVANCIES, registered_sources


@dataclass(frozen=True)
class Connection:
    """Where a handler delivers: an `Analytics` given to it, the arguments to build
    its own, or (neither) the shared default instance."""

    analytics: Analytics | None = None
    own: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class HandlerOptions:
    """A handler's options, checked."""

    level: int
    sources: Mapping[str, str]
    default_source: str
    level_rules: Mapping[int, LevelRule]
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    ignored: tuple[str, ...]
    capture_exceptions: bool
    connection: Connection
    before_send: BeforeSend | None
    rate_limit: RecordCaps | None
    dedupe_window: float
    sample_levels: Mapping[int, float]
    sample_loggers: Mapping[str, float]
    event_level: int = 0
    logs_level: int | None = None
    logs_resource: Mapping[str, Any] | None = None
    max_event_names: int = DEFAULT_MAX_EVENT_NAMES


def parse_options(level: object, given: Mapping[str, object]) -> HandlerOptions:
    """Check a front-end's options (``given``: by name, as `_options` declares them,
    the others taking their defaults); raise TypeError or ValueError naming the
    first bad one."""
    o = front_end_values(given)
    check(bool_problem("capture_exceptions", o["capture_exceptions"]))
    check(positive_problem("max_event_names", o["max_event_names"], int))
    before_send = o["before_send"]
    if before_send is not None and not callable(before_send):
        raise TypeError(f"before_send must be a callable or None, got {describe(before_send)}")
    logs = _logs_level(o["logs_level"])
    resource = _logs_resource(o, logs is not None)
    handler_level = level_number("level", level)
    event_level = o["event_level"]
    return HandlerOptions(
        level=handler_level,
        sources=_sources(_plain(o["sources"])),
        default_source=_source("default_source", o["default_source"]),
        level_rules=_level_rules(_plain(o["level_map"])),
        include=_patterns("include", _plain(o["include"])),
        exclude=_patterns("exclude", _plain(o["exclude"])),
        ignored=_guard.IGNORED_LOGGERS + _patterns("ignore_loggers", _plain(o["ignore_loggers"])),
        capture_exceptions=bool(o["capture_exceptions"]),
        connection=_connection(
            o["analytics"], {name: _plain(o[name]) for name in CONNECTION_OPTIONS}
        ),
        before_send=cast("BeforeSend | None", before_send),
        rate_limit=parse_record_caps("rate_limit", _plain(o["rate_limit"])),
        dedupe_window=_dedupe_window(o["dedupe_window"]),
        sample_levels={
            level_number(f"sample_levels[{name!r}]", name): rate
            for name, rate in parse_rates("sample_levels", _plain(o["sample_levels"])).items()
        },
        sample_loggers=parse_rates("sample_loggers", _plain(o["sample_loggers"])),
        event_level=handler_level
        if event_level is None
        else level_number("event_level", event_level),
        logs_level=logs,
        logs_resource=None if logs is None else resource,
        max_event_names=cast("int", o["max_event_names"]),
    )


def _dedupe_window(value: object) -> float:
    if value is None or value == 0:
        return 0.0
    check(positive_problem("dedupe_window", value, float))
    return float(value)  # type: ignore[arg-type]  # checked: a positive number


def _logs_resource(options: Mapping[str, object], logs_on: bool) -> dict[str, Any]:
    """The logs lane's options (`Analytics.enable_logs`' arguments), checked; with
    the lane on and no ``logs_endpoint``, ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` too."""
    resource: dict[str, Any] = {}
    for field in ("service_name", "service_version", "environment"):
        check(optional_text_problem(field, options[field]))
        resource[field] = cast("str | None", options[field])
    endpoint = options["logs_endpoint"]
    check(endpoint_problem(endpoint))
    if logs_on and endpoint is None:
        check(env_endpoint_problem())
    resource["logs_endpoint"] = endpoint
    cap = _plain(options["logs_rate_cap"])
    parse_cap("logs_rate_cap", cap)
    resource["logs_rate_cap"] = cap
    return resource


def _logs_level(logs_level: object) -> int | None:
    """The logs lane's level, None (off) by default; checks the extra is installed."""
    if logs_level is None:
        return None
    number = level_number("logs_level", logs_level)
    from ._logs.sink import require_opentelemetry

    require_opentelemetry()
    return number


def _plain(value: Any) -> Any:
    """Resolve dictConfig's converting containers (and ``()`` factories) to plain values."""
    if isinstance(value, Mapping):
        configurator = getattr(value, "configurator", None)
        if "()" in value and configurator is not None:
            return configurator.configure_custom(value)
        return {key: _plain(value[key]) for key in value}
    if isinstance(value, (list, tuple)):
        return [_plain(value[i]) for i in range(len(value))]
    return value


def _source(field: str, value: object) -> str:
    problem = choice_problem(field, value, registered_sources())
    if problem is not None:
        raise type(problem)(
            f"{problem} (add more with analyticskit.register_source before configuring logging)"
        )
    assert isinstance(value, str)
    return value


def _sources(sources: object) -> dict[str, str]:
    if sources is None:
        return {}
    if not isinstance(sources, Mapping):
        raise TypeError(
            f"sources must be a mapping of logger prefix to source, got {describe(sources)}"
        )
    return {str(prefix): _source(f"sources[{prefix!r}]", src) for prefix, src in sources.items()}


def _level_rules(level_map: object) -> dict[int, LevelRule]:
    if level_map is None:
        return {}
    if not isinstance(level_map, Mapping):
        raise TypeError(f"level_map must be a mapping of level to rule, got {describe(level_map)}")
    rules: dict[int, LevelRule] = {}
    for level, rule in level_map.items():
        field = f"level_map[{level!r}]"
        if isinstance(rule, str):
            rule = {"event_type": rule}
        if not isinstance(rule, Mapping):
            raise TypeError(
                f"{field} must be an event type or a mapping with 'event_type' and/or"
                f" 'relevancy', got {type(rule).__name__} {describe(rule)}"
            )
        unknown = set(rule) - {"event_type", "relevancy"}
        if unknown:
            raise ValueError(
                f"{field} has unknown keys {sorted(map(str, unknown))};"
                " allowed: 'event_type', 'relevancy'"
            )
        event_type, relevancy = rule.get("event_type"), rule.get("relevancy")
        if event_type is not None:
            check(choice_problem(f"{field} event_type", event_type, EVENT_TYPES))
        if relevancy is not None:
            check(choice_problem(f"{field} relevancy", relevancy, RELEVANCIES))
        rules[level_number(field, level)] = LevelRule(event_type=event_type, relevancy=relevancy)
    return rules


def _patterns(field: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or not all(isinstance(p, str) and p for p in value):
        raise TypeError(
            f"{field} must be a list of non-empty logger names or patterns, got {describe(value)}"
        )
    return tuple(value)


def _connection(analytics: object, own: dict[str, Any]) -> Connection:
    given = {name: value for name, value in own.items() if value is not None}
    if analytics is not None:
        if not isinstance(analytics, Analytics):
            raise TypeError(
                "analytics must be an analyticskit.Analytics,"
                f" got {type(analytics).__name__} {describe(analytics)}"
            )
        if given:
            raise ValueError(
                f"give either analytics or {', '.join(sorted(given))}, not both"
                " (analytics already has its own connection and limits)"
            )
        return Connection(analytics=analytics)
    return Connection(own=given or None)
