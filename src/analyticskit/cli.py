"""The ``analyticskit`` command (also ``python -m analyticskit``): ``dev`` runs a local
PostHog-compatible server with a live viewer; ``check`` sends one test event (and,
with ``--logs``, one test log)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from ._devtools import check as _check
from ._devtools import server as _devserver
from ._devtools import store as _devstore
from .config import ENV_API_KEY, ENV_HOST

__all__ = ["main"]


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535 (0: any free one), got {value}")
    return value


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError(f"timeout must be over 0 and at most 300, got {text}")
    return value


def _megabytes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of megabytes: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"the size limit must be at least 1 MB, got {value}")
    return value * 1024 * 1024


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="analyticskit", description="Local tools for analyticskit and PostHog."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    dev = commands.add_parser(
        "dev",
        help="run a local PostHog-compatible server with a live event viewer",
        description="Run a local server that accepts events as PostHog does (POST /batch/)"
        " and logs as PostHog Logs does (POST /i/v1/logs, OTLP JSON or protobuf),"
        " keeps them in SQLite and shows them live at http://HOST:PORT/."
        f" Point {ENV_API_KEY} and {ENV_HOST} at it (the command prints both).",
    )
    dev.add_argument("--host", default=_devserver.DEFAULT_HOST, help="address (127.0.0.1)")
    dev.add_argument(
        "--port", type=_port, default=_devserver.DEFAULT_PORT, help="port (8000; 0: any free one)"
    )
    dev.add_argument(
        "--db",
        metavar="PATH",
        help="SQLite file to keep events and logs in (default: a temporary file)",
    )
    dev.add_argument(
        "--max-db-mb",
        type=_megabytes,
        default=_devstore.DEFAULT_MAX_DB_BYTES,
        metavar="MB",
        help=f"size limit of the database, the oldest rows deleted at it"
        f" ({_devstore.DEFAULT_MAX_DB_BYTES >> 20})",
    )
    dev.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this host name (IP addresses and localhost always"
        " are), e.g. a Docker Compose service name; repeatable",
    )
    check = commands.add_parser(
        "check",
        help="send one test event and say whether PostHog accepted it",
        description="Read the configuration as the library does"
        f" ({ENV_API_KEY} or POSTHOG_PROJECT_API_KEY, {ENV_HOST}), send one test event,"
        " and say what happened: delivered, wrong key, wrong host, unreachable or timed"
        " out; with --logs, also send one test log and say whether PostHog Logs accepted"
        " it. Exit status 0 only when delivered. The key is never printed.",
    )
    check.add_argument("--host", help=f"PostHog host (default: {ENV_HOST}, else PostHog US)")
    check.add_argument(
        "--timeout",
        type=_timeout,
        default=_check.DEFAULT_TIMEOUT,
        help=f"seconds to wait for an answer ({_check.DEFAULT_TIMEOUT:g})",
    )
    check.add_argument(
        "--logs",
        action="store_true",
        help="also send one test log to PostHog Logs (<host>/i/v1/logs), as the logs lane"
        " (PostHogHandler(logs_level=...)) does, and say whether logs are accepted",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "dev":
        return _dev(args.host, args.port, args.db, args.max_db_mb, args.allow_host)
    outcome = _check.run_check(host=args.host, timeout=args.timeout, logs=args.logs)
    print(outcome.message, flush=True)
    return 0 if outcome.delivered else 1


def _dev(host: str, port: int, db: str | None, max_db_bytes: int, allowed: list[str]) -> int:
    try:
        server = _devserver.DevServer(
            host, port, db, max_db_bytes=max_db_bytes, allowed_hosts=allowed
        )
    except OSError as error:
        print(
            f"analyticskit dev: cannot listen on {host}:{port}: {error.strerror}", file=sys.stderr
        )
        return 1
    except Exception as error:  # sqlite3.Error: a path that is not a database
        print(f"analyticskit dev: cannot open the database {db!r}: {error}", file=sys.stderr)
        return 1
    kept = "deleted at exit" if server.temporary else "kept"
    try:
        # SIGTERM stops the server from before the banner: a supervisor that reads
        # the banner and stops the server at once still gets the database deleted.
        with _sigterm_interrupts():
            print(
                f"analyticskit dev server at {server.url} (events in {server.store.path}, {kept})"
            )
            print("Point your application at it:")
            print(f"  export {ENV_API_KEY}=phc_dev")
            print(f"  export {ENV_HOST}={server.url}")
            print(f"Viewer: {server.url}/  (Ctrl-C to stop)", flush=True)
            server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Make SIGTERM stop the server as Ctrl-C does (so a temporary database is
    deleted either way); only the main thread can take signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
