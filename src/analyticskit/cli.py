"""The ``analyticskit`` command (also ``python -m analyticskit``): ``dev`` runs a local
PostHog-compatible server with a live viewer; ``check`` sends one test event."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import _check, _devserver
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="analyticskit", description="Local tools for analyticskit and PostHog."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    dev = commands.add_parser(
        "dev",
        help="run a local PostHog-compatible server with a live event viewer",
        description="Run a local server that accepts events as PostHog does (POST /batch/),"
        " keeps them in SQLite and shows them live at http://HOST:PORT/."
        f" Point {ENV_API_KEY} and {ENV_HOST} at it (the command prints both).",
    )
    dev.add_argument("--host", default=_devserver.DEFAULT_HOST, help="address (127.0.0.1)")
    dev.add_argument(
        "--port", type=_port, default=_devserver.DEFAULT_PORT, help="port (8000; 0: any free one)"
    )
    dev.add_argument(
        "--db", metavar="PATH", help="SQLite file to keep events in (default: a temporary file)"
    )
    check = commands.add_parser(
        "check",
        help="send one test event and say whether PostHog accepted it",
        description="Read the configuration as the library does"
        f" ({ENV_API_KEY} or POSTHOG_PROJECT_API_KEY, {ENV_HOST}), send one test event,"
        " and say what happened: delivered, wrong key, wrong host, unreachable or timed"
        " out. Exit status 0 only when delivered. The key is never printed.",
    )
    check.add_argument("--host", help=f"PostHog host (default: {ENV_HOST}, else PostHog US)")
    check.add_argument(
        "--timeout",
        type=_timeout,
        default=_check.DEFAULT_TIMEOUT,
        help=f"seconds to wait for an answer ({_check.DEFAULT_TIMEOUT:g})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "dev":
        return _dev(args.host, args.port, args.db)
    outcome = _check.run_check(host=args.host, timeout=args.timeout)
    print(outcome.message, flush=True)
    return 0 if outcome.delivered else 1


def _dev(host: str, port: int, db: str | None) -> int:
    try:
        server = _devserver.DevServer(host, port, db)
    except OSError as error:
        print(
            f"analyticskit dev: cannot listen on {host}:{port}: {error.strerror}", file=sys.stderr
        )
        return 1
    except Exception as error:  # sqlite3.Error: a path that is not a database
        print(f"analyticskit dev: cannot open the database {db!r}: {error}", file=sys.stderr)
        return 1
    kept = "deleted at exit" if server.temporary else "kept"
    print(f"analyticskit dev server at {server.url} (events in {server.store.path}, {kept})")
    print("Point your application at it:")
    print(f"  export {ENV_API_KEY}=phc_dev")
    print(f"  export {ENV_HOST}={server.url}")
    print(f"Viewer: {server.url}/  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
