"""Flask: ``init_app(app, user=...)``, once, where the app is built.

- ``user(request) -> str | None`` is called at the start of each request; the distinct
  id it returns is bound until the request's teardown: everything logged or captured
  in the request is that user's, the error event of an unhandled exception included
  (Flask logs ``Exception on /path [GET]`` with the traceback on ``app.logger`` inside
  the request).
- Stopping ``flask run`` by SIGTERM delivers what is queued (its server keeps SIGTERM's
  default action, which skips every exit hook); Ctrl-C exits normally and delivers too.
  Under gunicorn and the like, their own graceful stop is left as it is.
- Framework noise is not events from then on: werkzeug's access lines (its records
  below ERROR) and the other servers' access logs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..context import bind_user, reset_user
from ._common import deliver_at_sigterm, missing, turn_on

try:
    import flask
except ImportError as error:  # pragma: no cover - the test extra installs it
    raise ImportError(missing("flask", __name__)) from error

__all__ = ["init_app"]

UserOf = Callable[[flask.Request], "str | None"]
_TOKEN = "analyticskit_user"


def init_app(app: flask.Flask, *, user: UserOf | None = None) -> None:
    """Turn the integration on for ``app`` (see the module's docstring).

    Raises:
        TypeError: ``app`` is not a Flask app, or ``user`` is not callable.
    """
    if not isinstance(app, flask.Flask):
        raise TypeError(f"init_app() takes a Flask app, got {type(app).__name__}")
    if user is not None and not callable(user):
        raise TypeError(f"user must be a callable taking the request, got {user!r}")
    turn_on()
    deliver_at_sigterm()
    if user is None:
        return
    user_of = user

    def bind() -> None:
        distinct_id = user_of(flask.request)
        if distinct_id is not None:
            setattr(flask.g, _TOKEN, bind_user(distinct_id))

    def unbind(error: BaseException | None) -> None:
        token: Any = flask.g.pop(_TOKEN, None)
        if token is not None:
            reset_user(token)

    app.before_request(bind)
    app.teardown_request(unbind)
