"""Celery: ``setup()``, once, in the module that defines the Celery app (it is imported
by the worker and by the code that sends tasks).

- The handler `analyticskit.install` attached (and any `PostHogHandler` on the root
  logger when ``setup()`` runs) is put back on the root logger right after the worker's
  takeover of it (``worker_hijack_root_logger``), in the main process, before the pool's
  children are forked; the root logger's level is lowered to the handler's if higher.
- Pool children deliver what they queued before billiard's ``os._exit()`` (recycled
  children too: ``worker_process_shutdown``).
- A task's records are its sender's user's: the distinct id bound where the task is
  sent (`analyticskit.user`, or posthog's context) travels in the task's headers, under
  the name posthog's Celery integration uses (either one may set it), and is bound
  while the task runs, Celery's failure line (``Task ... raised unexpected``, at ERROR
  with the traceback: one error event) included.
- Celery's, kombu's and billiard's records below ERROR are not events (they go to the
  logs lane when it is on).
"""

from __future__ import annotations

import logging
from typing import Any

from posthog.integrations.celery import CONTEXT_DISTINCT_ID_HEADER as USER_HEADER

from .._engine import lifecycle as _lifecycle
from ..context import bind_user, current_user, reset_user
from ..handler import PostHogHandler, installed_handler
from ._common import missing, turn_on

try:
    from celery import signals  # type: ignore[import-untyped]
except ImportError as error:  # pragma: no cover - the test extra installs it
    raise ImportError(missing("celery", __name__)) from error

__all__ = ["setup"]

_TOKEN = "analyticskit_user"
_kept: list[PostHogHandler] = []


def setup() -> None:
    """Turn the integration on (see the module's docstring). Idempotent."""
    turn_on()
    root = logging.getLogger()
    _kept.extend(h for h in root.handlers if isinstance(h, PostHogHandler) and h not in _kept)
    for signal, receiver in (
        (signals.after_setup_logger, _reattach),
        (signals.worker_process_shutdown, _deliver),
        (signals.before_task_publish, _add_user_header),
        (signals.task_prerun, _bind_sender),
        (signals.task_postrun, _unbind_sender),
    ):
        signal.connect(receiver, weak=False, dispatch_uid=f"analyticskit.{receiver.__name__}")


def _reattach(**_: Any) -> None:
    """``after_setup_logger``: Celery has just replaced the root logger's handlers."""
    root = logging.getLogger()
    installed = installed_handler()
    for handler in [*_kept, *([installed] if installed is not None else [])]:
        if handler not in root.handlers:
            root.addHandler(handler)
        if root.level > handler.level:
            root.setLevel(handler.level)


def _deliver(**_: Any) -> None:
    """``worker_process_shutdown``: in a pool child, just before its ``os._exit()``."""
    _lifecycle.shutdown_all()


def _add_user_header(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """``before_task_publish``: the sender's distinct id, unless posthog's put it there."""
    if not isinstance(headers, dict):
        return
    nested = headers.setdefault("headers", {})
    if not isinstance(nested, dict) or USER_HEADER in nested:
        return
    distinct_id = current_user()
    if distinct_id is not None:
        # Protocol 2 keeps only nested custom headers in task.request.headers.
        headers[USER_HEADER] = nested[USER_HEADER] = distinct_id


def _headers(request: Any) -> dict[str, Any]:
    headers = getattr(request, "headers", None)
    if not isinstance(headers, dict) and hasattr(request, "get"):
        headers = request.get("headers")
    return headers if isinstance(headers, dict) else {}


def _bind_sender(task: Any = None, **_: Any) -> None:
    """``task_prerun``: bind the sender's distinct id for the task."""
    request = getattr(task, "request", None)
    distinct_id = _headers(request).get(USER_HEADER)
    if isinstance(distinct_id, str) and distinct_id:
        setattr(request, _TOKEN, bind_user(distinct_id))


def _unbind_sender(task: Any = None, **_: Any) -> None:
    """``task_postrun``: sent after Celery has logged a failure."""
    request = getattr(task, "request", None)
    token = getattr(request, _TOKEN, None)
    if token is not None:
        setattr(request, _TOKEN, None)
        reset_user(token)
