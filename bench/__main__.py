"""python -m bench [--quick] [--only transfer,speed,app]  (see bench/README.md)."""

from __future__ import annotations

import argparse
import os
import sys
import time

from . import common as c

PIECES = ("transfer", "speed", "app")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="1,000 training sentences / 500 images, 1 epoch, no levers")
    p.add_argument("--only", default=",".join(PIECES), help=f"comma-separated subset of {', '.join(PIECES)}")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="reuse finished runs left in bench/results/work by an earlier (interrupted) bench with the same config",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="training seeds for (a) ours vs plain accuracy, 1-5 (default 5, quick 1)",
    )
    p.add_argument("--no-levers", action="store_true", help="skip the lever on/off runs in the speed piece")
    ns = p.parse_args(argv)
    only = [x.strip() for x in ns.only.split(",") if x.strip()]
    bad = [x for x in only if x not in PIECES]
    if bad:
        p.error(f"unknown piece(s) {bad}; choose from {PIECES}")
    c.QUICK = ns.quick
    c.REUSE = ns.reuse
    c.SEEDS = ns.seeds if ns.seeds else (1 if ns.quick else 5)
    if not 1 <= c.SEEDS <= 5:
        p.error("--seeds takes 1 to 5")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    t0 = time.time()
    c.say(
        f"pieces {only}{' (quick)' if ns.quick else ''}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    from . import datasets as bd

    if {"transfer", "speed"} & set(only):
        bd.movie_reviews()
        bd.fashion_mnist()
    if "transfer" in only:
        from . import transfer

        transfer.main()
    if "speed" in only:
        from . import speed

        speed.main(levers=not (ns.quick or ns.no_levers))
    if "app" in only:
        from . import app_start

        app_start.main()
    c.say(f"done in {time.time() - t0:.0f}s; JSON in {c.RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
