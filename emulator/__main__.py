"""``python -m emulator [--host H] [--port P] [--latency-ms N]``."""

from __future__ import annotations

import argparse

from emulator.server import serve


def main() -> None:
    """Parse arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--latency-ms", type=int, default=0)
    args = parser.parse_args()
    print(f"emulator listening on http://{args.host}:{args.port}", flush=True)
    serve(host=args.host, port=args.port, latency_ms=args.latency_ms)


if __name__ == "__main__":
    main()
