"""The loopback proxy in front of the S3 endpoint, run on its own.

Request counts in the results are counted at the proxy, not estimated from
code; the proxy itself (``tests/support/loopback_proxy.py``) is the tests' one.
RTT mode adds a fixed round trip to every request (``DEFAULT_RTT_MS`` when no
figure is given), as a real bucket's way there and back.
Standalone: ``python -m bench.proxy UPSTREAM_PORT [--rtt [MS]]``.
"""

from __future__ import annotations

import argparse
import time

from tests.support.loopback_proxy import LoopbackProxy

#: the round trip RTT mode adds when no figure is given (in-region S3)
DEFAULT_RTT_MS = 20.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.proxy", description=__doc__)
    ap.add_argument("upstream_port", type=int, help="the S3 endpoint's port on 127.0.0.1")
    ap.add_argument(
        "--rtt",
        type=float,
        nargs="?",
        const=DEFAULT_RTT_MS,
        default=0.0,
        metavar="MS",
        help=f"add a round trip to every request ({DEFAULT_RTT_MS:g} ms when no figure is given)",
    )
    args = ap.parse_args(argv)
    proxy = LoopbackProxy(args.upstream_port, rtt_ms=args.rtt)
    print(f"{proxy.endpoint} -> 127.0.0.1:{args.upstream_port}, +{args.rtt:g} ms per request")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        print(f"{proxy.count()} requests: {proxy.by_op()}")
        proxy.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
