"""The Celery integration: ``celery -A celery_app worker --pool prefork`` (from examples/).

``analyticskit.install()`` and ``setup()`` at import, in the module that defines the app
(the worker imports it, and so does the code that sends tasks), are the whole
integration: the handler survives the worker's takeover of the root logger; pool
children, recycled ones (``--max-tasks-per-child``) included, deliver before their
``os._exit()``; each task's records, Celery's failure line for a task that raised among
them (one error event, with the traceback), are the user's of the code that sent it (a
request bound with ``analyticskit.user``, or posthog's context); Celery's, kombu's and
billiard's own records below ERROR are not events.

The broker here is kombu's ``filesystem://`` transport (no server), with its folders and
the results' folder under ``CELERY_RECIPE_DIR``; use your real broker instead.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from celery import Celery  # type: ignore[import-untyped]

import analyticskit
from analyticskit.integrations.celery import setup

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
analyticskit.install(logging.INFO, sources={"celery_app": "shop"})
setup()

log = logging.getLogger("celery_app")


@app.task(name="celery_app.charge")  # type: ignore[untyped-decorator]  # celery is untyped
def charge(order: int) -> int:
    # SUCCESS keeps its name in the event, though billiard calls level 25 SUBWARNING.
    log.log(
        analyticskit.SUCCESS, "order %s charged", order, extra={"order": order, "pid": os.getpid()}
    )
    return order


@app.task(name="celery_app.refund")  # type: ignore[untyped-decorator]
def refund(order: int) -> None:
    raise ValueError(f"order {order} cannot be refunded: already shipped")
