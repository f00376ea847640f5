"""``python -m airflow_provider_smtp2go.sandbox`` (console script ``smtp2go-sandbox``).

Serves a sandbox until Ctrl-C and prints its base URL and API key (a fake key for this local
sandbox only).

Example::

    $ smtp2go-sandbox --port 8025
    SMTP2GO sandbox listening on http://127.0.0.1:8025/v3
    API key: api-...
"""

from __future__ import annotations

import argparse
import errno
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from airflow_provider_smtp2go.sandbox.control import Smtp2goSandbox
from airflow_provider_smtp2go.sandbox.control_routes import CONTROL_HEADER
from airflow_provider_smtp2go.sandbox.server import DEFAULT_CONNECTION_TIMEOUT


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="smtp2go-sandbox", description="Run a local SMTP2GO API v3 emulator (the sandbox)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8025, help="port (default 8025; 0 picks a free one)")
    parser.add_argument("--api-key", default=None, help="API key to accept (default: a fresh random one)")
    parser.add_argument(
        "--enforce-activity-limit", action="store_true", help="enforce 60 /activity/search calls per minute per key"
    )
    parser.add_argument("--activity-limit", type=int, default=60, help="requests per minute when enforced")
    parser.add_argument("--max-messages", type=int, default=100_000, help="messages kept before evicting")
    parser.add_argument(
        "--allow-non-loopback", action="store_true", help="allow binding a non-loopback address (exposes it)"
    )
    parser.add_argument(
        "--connection-timeout",
        type=float,
        default=DEFAULT_CONNECTION_TIMEOUT,
        help=f"close a connection silent for this many seconds (default {DEFAULT_CONNECTION_TIMEOUT:g})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run until interrupted; returns the exit status."""
    args = build_parser().parse_args(argv)

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Before start(): the server thread answers as soon as the socket is bound, so a client
    # may already send SIGTERM before the main thread runs another line.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        sandbox = Smtp2goSandbox(
            host=args.host,
            port=args.port,
            api_key=args.api_key,
            max_messages=args.max_messages,
            enforce_activity_limit=args.enforce_activity_limit,
            activity_limit_per_minute=args.activity_limit,
            allow_non_loopback=args.allow_non_loopback,
            connection_timeout=args.connection_timeout,
        )
    except ValueError as exc:
        sys.stderr.write(f"smtp2go-sandbox: {exc}" + "\n")
        return 2
    try:
        try:
            sandbox.start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                problem = f"port {args.port} on {args.host} is already in use; pass --port 0 to pick a free one"
            else:
                problem = f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
            sys.stderr.write(f"smtp2go-sandbox: {problem}" + "\n")
            return 2
        sys.stdout.write(f"SMTP2GO sandbox listening on {sandbox.base_url}" + "\n")
        sys.stdout.write(f"API key: {sandbox.api_key}" + "\n")
        sys.stdout.write(
            f"Inspect: curl -H '{CONTROL_HEADER}: 1' {sandbox.url}/_sandbox/messages   (Ctrl-C to stop)" + "\n"
        )
        sys.stdout.flush()
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
