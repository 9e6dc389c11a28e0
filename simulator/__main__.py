"""Run the VTPass sandbox simulator: ``python -m simulator --host 127.0.0.1 --port 9911``."""

from __future__ import annotations

import argparse
import logging
import os

from simulator.app import create_app
from simulator.server import make_server


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--host", default=env("VTPASS_SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("VTPASS_SIM_PORT", "9911")))
    parser.add_argument("--api-key", default=env("VTPASS_SIM_API_KEY", "sim-api-key"))
    parser.add_argument("--public-key", default=env("VTPASS_SIM_PUBLIC_KEY", "PK_sim"))
    parser.add_argument("--secret-key", default=env("VTPASS_SIM_SECRET_KEY", "SK_sim"))
    parser.add_argument(
        "--latency-ms", type=float, default=float(env("VTPASS_SIM_LATENCY_MS", "0"))
    )
    parser.add_argument(
        "--timeout-stall-s", type=float, default=float(env("VTPASS_SIM_TIMEOUT_STALL_S", "90"))
    )
    parser.add_argument(
        "--duplicate-guard-s", type=float, default=float(env("VTPASS_SIM_DUPLICATE_GUARD_S", "30"))
    )
    parser.add_argument("--callback-url", default=env("VTPASS_SIM_CALLBACK_URL"))
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Parse flags (or VTPASS_SIM_* env vars) and serve until interrupted."""
    args = _parse_args(argv)
    app = create_app(
        {
            "API_KEY": args.api_key,
            "PUBLIC_KEY": args.public_key,
            "SECRET_KEY": args.secret_key,
            "LATENCY_MS": args.latency_ms,
            "TIMEOUT_STALL_S": args.timeout_stall_s,
            "DUPLICATE_GUARD_S": args.duplicate_guard_s,
            "CALLBACK_URL": args.callback_url,
        }
    )
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server(app, args.host, args.port)
    print(f"VTPass simulator on http://{args.host}:{server.server_port}/api", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
