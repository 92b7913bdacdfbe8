"""`Analytics`: configuration, `capture_event`, flush, shutdown and stats.

Module-level functions use a default instance, created from the environment on
first use or by `configure`.
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from re import Pattern
from typing import Any, ParamSpec

import posthog

from . import _diagnostics, _guard
from ._engine.delivery import Delivery
from ._engine.outgoing import Outgoing
from ._engine.scrub import DEFAULT_PATTERNS, DEFAULT_SECRET_KEYS, Scrubber, compile_patterns
from ._mapping.call_to_event import snapshot_call
from ._mapping.message import BeforeSend
from ._options import ANALYTICS_OPTIONS, with_options
from ._validate import bool_problem, check, describe, positive_problem
from ._volume.control import RateLimiter, parse_rate_limit
from .config import DEFAULT_MAX_QUEUED, DEFAULT_MAX_QUEUED_BYTES, DEFAULT_SHUTDOWN_TIMEOUT, Settings
from .events import EventData
from .sinks import LocalSink, PostHogSink, Sink, check_sink
from .stats import Stats

__all__ = [
    "Analytics",
    "capture_event",
    "configure",
    "flush",
    "get_analytics",
    "shutdown",
    "stats",
]

DEFAULT_FLUSH_TIMEOUT = 5.0
_P = ParamSpec("_P")


class Analytics:
    """Captures AnalyticsKit events and delivers them to PostHog, or to stderr without a key.

    Args:
        (The options, as `analyticskit._options` declares them, are listed here.)
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        host: str | None = None,
        client: posthog.Posthog | None = None,
        max_queued: int = DEFAULT_MAX_QUEUED,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        scrub: bool = True,
        scrub_keys: Iterable[str] | None = None,
        scrub_patterns: Iterable[str | Pattern[str]] | None = None,
        before_send: BeforeSend | None = None,
        rate_limit: bool | Mapping[str, Any] | None = None,
        sink: Sink | None = None,
        max_queued_bytes: int = DEFAULT_MAX_QUEUED_BYTES,
    ) -> None:
        check(positive_problem("max_queued", max_queued, int))
        check(positive_problem("max_queued_bytes", max_queued_bytes, int))
        check(positive_problem("shutdown_timeout", shutdown_timeout, float))
        scrubber = _scrubber(scrub, scrub_keys, scrub_patterns)
        if before_send is not None and not callable(before_send):
            raise TypeError(f"before_send must be a callable or None, got {describe(before_send)}")
        limit = parse_rate_limit("rate_limit", rate_limit, None)
        self._rate = RateLimiter(limit) if limit else None
        if sink is not None:
            check_sink(sink, api_key=api_key, host=host, client=client)
        elif client is not None:
            if not isinstance(client, posthog.Posthog):
                raise TypeError(f"client must be a posthog.Posthog, got {type(client).__name__}")
            sink = PostHogSink(client, scrubber=scrubber)
        else:
            settings = Settings.resolve(api_key, host)
            if settings.api_key:
                sink = PostHogSink(
                    api_key=settings.api_key,
                    host=settings.host,
                    max_queued=max_queued,
                    scrubber=scrubber,
                )
            else:
                sink = LocalSink()
                _diagnostics.report_once(
                    "local-sink",
                    "no PostHog API key (set POSTHOG_API_KEY): events are written to stderr"
                    " as JSON lines and nothing is sent to PostHog.",
                )
        self.shutdown_timeout = float(shutdown_timeout)
        # Built after the posthog client, so that its exit hook runs before the
        # SDK's own (atexit runs hooks last-in, first-out).
        self._delivery = Delivery(
            sink,
            max_queued,
            exit_timeout=self.shutdown_timeout,
            outgoing=Outgoing(scrubber, before_send),
            max_bytes=max_queued_bytes,
        )
        self._logs: Delivery | None = None
        self._logs_resource: Mapping[str, Any] = {}
        self._logs_lock = threading.Lock()

    @property
    def sink(self) -> Sink:
        """Where this object's events leave the process."""
        return self._delivery.sink

    @property
    def client(self) -> posthog.Posthog | None:
        """The posthog client events are delivered through (None for the local sink).

        Share it with posthog's own integrations (its Django middleware, feature
        flags) rather than building a second client for the same project.
        """
        sink = self._delivery.sink
        return sink.client if isinstance(sink, PostHogSink) else None

    @property
    def delivery(self) -> Delivery:
        """The delivery engine: its buffer, worker and counters. For front-ends (the
        logging handler); applications use `capture_event`, `flush` and `stats`."""
        return self._delivery

    def capture_event(
        self,
        data: EventData | Mapping[str, Any],
        from_user_id: str | int | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> str | None:
        """Queue one event; return its uuid, or None if it was dropped (and counted).

        Args:
            data: an `EventData`, or a mapping in its camelCase or snake_case form.
            from_user_id: the PostHog distinct id (a non-blank str of at most 200
                characters, or an int such as Django's ``request.user.pk``, sent
                as its string form; never a bool); default the user bound in this context
                (`analyticskit.user`), else a personless event.
            properties: extra properties, made JSON-safe; the EventData's own
                properties win on a clash.

        Raises:
            TypeError, ValueError: invalid data, naming the field, the value and
                what is allowed. Nothing is queued then.

        Never blocks on the network: the event is built and sent by a worker thread.
        Called from inside delivery (a ``before_send``, a `Sink`), it queues nothing:
        the event is counted as dropped (``recursion``), as records logged there are.
        """
        if _guard.busy():  # called from a before_send, a Sink, the SDK's threads
            self._delivery.drop("recursion")
            return None
        snapshot = snapshot_call(data, from_user_id, properties)
        if self._rate is not None and not self._allowed(snapshot.data.event_name):
            self._delivery.drop("rate_limited")
            return None
        return snapshot.uuid if self._delivery.submit(snapshot, snapshot.size) else None

    def _allowed(self, event_name: str) -> bool:
        """`capture_event`'s rate cap. The thread is busy meanwhile: a call from a
        signal handler or ``__del__`` run inside it is counted as ``recursion``
        instead of waiting for the limiter's lock, which this thread holds."""
        assert self._rate is not None
        _guard.enter()
        try:
            return self._rate.allow(event_name)
        finally:
            _guard.leave()

    def flush(self, timeout: float = DEFAULT_FLUSH_TIMEOUT) -> bool:
        """Deliver what is queued (logs too), waiting at most ``timeout`` seconds in all.

        Returns True if nothing was left pending. Keeps the object usable.
        """
        deadline = time.monotonic() + timeout
        logs = self._logs
        logs_done = logs is None or logs.flush(timeout)
        return self._delivery.flush(max(0.0, deadline - time.monotonic())) and logs_done

    def shutdown(self, timeout: float | None = None) -> Stats:
        """Deliver what is queued within ``timeout`` (default ``shutdown_timeout``), then stop.

        What is still pending at the deadline is counted as dropped (``timeout``)
        and reported in one line on stderr. Events captured afterwards are
        dropped and counted (``after_shutdown``). An owned posthog client is shut
        down; one passed in as ``client`` is only flushed. Idempotent.
        """
        self._delivery.shutdown(self.shutdown_timeout if timeout is None else timeout)
        return self.stats()

    def stats(self) -> Stats:
        """A snapshot of the counters: emitted, queued, sent, failed, pending, dropped;
        ``logs``: the same for the PostHog Logs lane, when it is on."""
        logs = self._logs
        events = dataclasses.replace(
            self._delivery.stats(), unreadable_values=self._delivery.outgoing.unreadable
        )
        return events if logs is None else dataclasses.replace(events, logs=logs.stats())

    @property
    def logs_delivery(self) -> Delivery | None:
        """The PostHog Logs lane's delivery engine, or None while the lane is off."""
        return self._logs

    def enable_logs(
        self,
        *,
        service_name: str | None = None,
        service_version: str | None = None,
        environment: str | None = None,
        logs_endpoint: str | None = None,
        logs_rate_cap: bool | Mapping[str, float] | None = None,
    ) -> Delivery:
        """Turn on the PostHog Logs lane (idempotent) and return its delivery engine.

        Logs go to the same host and project as events (OTLP/HTTP at
        ``<host>/i/v1/logs``), or to the local sink without a key; an events sink
        with a ``logs_sink(resource)`` method (`analyticskit.testing.MemorySink`)
        gives the lane its own. The lane has its own buffer of ``max_queued`` and
        its own counters (``stats().logs``), and shares this object's worker
        rules, fork handling and exit deadline.

        Args:
            service_name, service_version, environment: the logs' resource.
            logs_endpoint: an OTLP/HTTP logs URL to send the lane to instead (an
                OpenTelemetry Collector: ``http://localhost:4318/v1/logs``), or
                another path on the PostHog host (``/otlp/v1/logs``); default
                ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT``, else ``<host>/i/v1/logs``.
                ``OTEL_EXPORTER_OTLP_LOGS_HEADERS`` adds request headers. Events
                still go to PostHog.
            logs_rate_cap: the lane's cap per tumbling window, after scrubbing and
                ``before_send``: ``{"max_logs": 50000, "window": 10}`` by default
                (None or True); ``False`` (or a zero) turns it off. Past it, the
                window's logs are dropped, counted as ``rate_limited``.

        .. versionadded:: 0.2

        Raises:
            ImportError: the ``analyticskit-posthog[logs]`` extra is not installed.
            TypeError, ValueError: ``logs_endpoint`` is not a URL or a path, or
                ``logs_rate_cap`` is not a cap.
            ValueError: the lane is on already, with another value of one of these
                arguments (a second handler's ``service_name``, say).
        """
        from ._volume.window_cap import WindowCap, parse_cap

        rule = parse_cap("logs_rate_cap", logs_rate_cap)
        given = {
            "service_name": service_name,
            "service_version": service_version,
            "environment": environment,
            "logs_endpoint": logs_endpoint,
            "logs_rate_cap": logs_rate_cap,
        }
        with self._logs_lock:
            if self._logs is None:
                logs = self._build_logs(service_name, service_version, environment, logs_endpoint)
                logs.cap = None if rule is None else WindowCap(rule)
                self._logs, self._logs_resource = logs, given
                return logs
            clash = [
                f"{name}={value!r} (the lane has {self._logs_resource[name]!r})"
                for name, value in given.items()
                if value is not None and value != self._logs_resource[name]
            ]
            if clash:
                raise ValueError(
                    f"the logs lane of {self!r} is on already, with other settings: "
                    + ", ".join(clash)
                    + "; give every front-end that shares it the same ones"
                )
            return self._logs

    def _build_logs(
        self,
        service_name: str | None,
        service_version: str | None,
        environment: str | None,
        logs_endpoint: str | None,
    ) -> Delivery:
        from ._logs.otlp_http import (
            endpoint_problem,
            env_endpoint,
            env_endpoint_problem,
            env_headers,
        )
        from ._logs.sink import LocalLogsSink, OtlpLogsSink, resource_attributes

        check(endpoint_problem(logs_endpoint))
        if logs_endpoint is None:
            problem = env_endpoint_problem()
            if problem is None:
                logs_endpoint = env_endpoint()
            else:  # the lane may start at a first log, which must not raise
                _diagnostics.report_once(
                    "logs-env-endpoint", f"{problem}; logs go to PostHog instead."
                )
        resource = resource_attributes(service_name, service_version, environment)
        client = self.client
        api_key = client.api_key if client is not None else None
        sink: Sink
        logs_sink = getattr(self.sink, "logs_sink", None)  # MemorySink keeps logs too
        if callable(logs_sink):
            sink = logs_sink(resource)
        elif api_key or (logs_endpoint is not None and not logs_endpoint.startswith("/")):
            # With no key, a Collector's URL still gets the lane (it needs no key).
            sink = OtlpLogsSink(
                api_key=api_key,
                host=client.host if client is not None else "",
                resource=resource,
                endpoint=logs_endpoint,
                headers=env_headers(),
            )
        else:
            sink = LocalLogsSink(resource)
        events = self._delivery
        logs = Delivery(
            sink,
            events.max_queued,
            exit_timeout=self.shutdown_timeout,
            outgoing=events.outgoing,  # the same scrubbing, size caps and before_send
            track=False,
            max_bytes=events.max_bytes,
        )
        logs.noun = "logs"
        events.companions.append(logs)
        if not events.accepting:
            logs.shutdown(0)
        return logs

    def __repr__(self) -> str:
        return f"<Analytics to {self.sink.description}>"


def _scrubber(scrub: object, keys: object, patterns: object) -> Scrubber | None:
    check(bool_problem("scrub", scrub))
    if keys is None:
        keys = ()
    elif isinstance(keys, str) or not isinstance(keys, Iterable):
        raise TypeError(f"scrub_keys must be a list of key names, got {describe(keys)}")
    extra_keys = list(keys)
    if not all(isinstance(k, str) and k.strip() for k in extra_keys):
        raise TypeError(f"scrub_keys must hold non-empty strings, got {describe(extra_keys)}")
    extra_patterns = compile_patterns("scrub_patterns", patterns)
    if scrub:
        return Scrubber((*DEFAULT_SECRET_KEYS, *extra_keys), (*DEFAULT_PATTERNS, *extra_patterns))
    return Scrubber(extra_keys, extra_patterns) if extra_keys or extra_patterns else None


Analytics.__doc__ = with_options(Analytics.__doc__, ANALYTICS_OPTIONS, "analytics")

_default: Analytics | None = None
# Reentrant: a record logged from a signal handler while its thread is creating
# the default instance must not wait for itself.
_default_lock = threading.RLock()


def _takes_options_of(
    cls: Callable[_P, Analytics],
) -> Callable[[Callable[..., Analytics]], Callable[_P, Analytics]]:
    """Give a function that passes its keyword arguments on to ``cls`` the signature
    of ``cls``, for mypy, editors and `help` (options are written once, in `Analytics`)."""

    def decorate(function: Callable[..., Analytics]) -> Callable[_P, Analytics]:
        function.__signature__ = inspect.signature(cls)  # type: ignore[attr-defined]
        return function

    return decorate


def get_analytics() -> Analytics:
    """The default `Analytics` instance, created from the environment on first use."""
    global _default
    instance = _default
    if instance is None:
        with _default_lock:
            if _default is None:
                built = Analytics()
                # A signal handler or a finalizer that captured while this thread
                # built it (the lock is reentrant) made one already: keep that one.
                if _default is None:
                    _default = built
                else:
                    built.shutdown(0)
            instance = _default
    return instance


@_takes_options_of(Analytics)
def configure(**options: Any) -> Analytics:
    """Replace the default instance with one built from these options (those of
    `Analytics`, with its defaults).

    A previous default instance is shut down first (within its own deadline).
    """
    instance = Analytics(**options)
    previous = swap_default(instance)
    if previous is not None:
        previous.shutdown()
    return instance


def swap_default(instance: Analytics | None) -> Analytics | None:
    """Make ``instance`` the default (None: the next use builds one from the
    environment) and return the previous default, left running. For
    `analyticskit.testing.capture_events`; applications use `configure`."""
    global _default
    with _default_lock:
        previous, _default = _default, instance
    return previous


def capture_event(
    data: EventData | Mapping[str, Any],
    from_user_id: str | int | None = None,
    properties: Mapping[str, Any] | None = None,
) -> str | None:
    """`Analytics.capture_event` on the default instance."""
    return get_analytics().capture_event(data, from_user_id=from_user_id, properties=properties)


def flush(timeout: float = DEFAULT_FLUSH_TIMEOUT) -> bool:
    """`Analytics.flush` on the default instance."""
    return get_analytics().flush(timeout)


def shutdown(timeout: float | None = None) -> Stats:
    """`Analytics.shutdown` on the default instance."""
    return get_analytics().shutdown(timeout)


def stats() -> Stats:
    """`Analytics.stats` on the default instance."""
    return get_analytics().stats()
