"""The Celery recipe: ``celery -A celery_app worker --pool prefork`` (from examples/).

- Celery takes over the root logger when the worker starts (``worker_hijack_root_logger``):
  it removes every handler attached before, a PostHogHandler included, without a word.
  So the handler is attached in Celery's ``after_setup_logger`` signal, which runs right
  after that takeover, in the worker's main process; the pool's children are forked
  from it and inherit the handler.
- Celery's own loggers (and kombu's, billiard's) reach PostHog from ERROR up only: its
  failure line for a task that raised ("Task ... raised unexpected: ...", with the
  traceback) becomes an error event, its per-task INFO lines do not.
- posthog's Celery integration carries the distinct id from the code that sends a task
  (a request behind posthog's middleware, or ``posthog.identify_context``) to the worker
  in the task's headers. It shares analyticskit's posthog client; its own lifecycle
  events and exception capture are off here (turn them on if you want them). Its context
  ends at ``task_failure``, before Celery logs the failure, so the recipe binds that
  distinct id itself from ``task_prerun`` to ``task_postrun``: the task's own records and
  Celery's failure line are the sender's user's.
- Pool children end with ``os._exit()`` from inside billiard's worker loop, recycled ones
  (``--max-tasks-per-child``) included, before any exit hook of Python's or
  multiprocessing's runs. Celery's ``worker_process_shutdown`` signal is sent in the child
  just before: the recipe shuts analyticskit down there, which delivers what the child
  queued within ``shutdown_timeout``.

The broker here is kombu's ``filesystem://`` transport (no server), with its folders and
the results' folder under ``CELERY_RECIPE_DIR``; use your real broker instead.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from celery import Celery, signals  # type: ignore[import-untyped]
from posthog.integrations.celery import CONTEXT_DISTINCT_ID_HEADER, PosthogCeleryIntegration

import analyticskit

_DIR = Path(os.environ.get("CELERY_RECIPE_DIR") or Path(tempfile.gettempdir()) / "celery-recipe")
for _folder in ("broker", "processed", "control", "results"):
    (_DIR / _folder).mkdir(parents=True, exist_ok=True)

app = Celery("celery_app", broker="filesystem://", backend=f"file://{_DIR / 'results'}")
app.conf.update(
    broker_connection_retry_on_startup=True,
    broker_transport_options={
        "data_folder_in": str(_DIR / "broker"),
        "data_folder_out": str(_DIR / "broker"),
        "processed_folder": str(_DIR / "processed"),
        "control_folder": str(_DIR / "control"),
        "polling_interval": 0.1,
    },
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
)

analyticskit.register_source("shop")
log = logging.getLogger("celery_app")

# Producer and worker alike: the distinct id travels in the task's headers.
PosthogCeleryIntegration(
    client=analyticskit.get_analytics().client,
    capture_task_lifecycle_events=False,
    capture_exceptions=False,
).instrument()

_FRAMEWORKS = frozenset({"celery", "kombu", "billiard", "amqp"})


def framework_errors_only(record: logging.LogRecord) -> bool:
    """Celery's, kombu's and billiard's records pass from ERROR up; the app's all pass."""
    return record.levelno >= logging.ERROR or record.name.partition(".")[0] not in _FRAMEWORKS


def attach_posthog_handler(logger: logging.Logger, **kwargs: Any) -> None:
    """``after_setup_logger``: Celery has just replaced the root logger's handlers."""
    handler = analyticskit.install(logging.INFO, sources={"celery_app": "shop"})
    handler.addFilter(framework_errors_only)


def bind_task_user(task: Any, **kwargs: Any) -> None:
    """``task_prerun``: the sender's distinct id, from the task's headers, for the task."""
    headers = getattr(task.request, "headers", None) or {}
    user = headers.get(CONTEXT_DISTINCT_ID_HEADER)
    if user:
        task.request.analytics_user = analyticskit.bind_user(str(user))


def unbind_task_user(task: Any, **kwargs: Any) -> None:
    """``task_postrun``: sent after Celery has logged a failure."""
    token = getattr(task.request, "analytics_user", None)
    if token is not None:
        task.request.analytics_user = None
        analyticskit.reset_user(token)


def deliver_at_child_exit(**kwargs: Any) -> None:
    """``worker_process_shutdown``: in a pool child, just before its ``os._exit()``."""
    analyticskit.shutdown()


signals.after_setup_logger.connect(attach_posthog_handler, weak=False)
signals.worker_process_shutdown.connect(deliver_at_child_exit, weak=False)
signals.task_prerun.connect(bind_task_user, weak=False)
signals.task_postrun.connect(unbind_task_user, weak=False)


@app.task(name="celery_app.charge")  # type: ignore[untyped-decorator]  # celery is untyped
def charge(order: int) -> int:
    log.info("order %s charged", order, extra={"order": order, "pid": os.getpid()})
    return order


@app.task(name="celery_app.refund")  # type: ignore[untyped-decorator]
def refund(order: int) -> None:
    raise ValueError(f"order {order} cannot be refunded: already shipped")
