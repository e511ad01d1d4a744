"""``python -m benchmarks``: every measurement in one run (the browser one with --browser).

Needs Debian's wrk for the over-the-wire part and Chromium for --browser.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys

from benchmarks import construction, envelopes, middleware


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations, shorter wrk runs (a smoke run)")
    parser.add_argument("--browser", action="store_true", help="also time the sign-in sync in Chromium")
    args = parser.parse_args()
    envelopes.main()
    print()
    construction.main(args.quick)
    print()
    asyncio.run(middleware.main(args.quick))
    print()
    if shutil.which("wrk"):
        from benchmarks import wire

        sys.argv = ["benchmarks.wire", *(["--seconds", "2", "--rounds", "1"] if args.quick else [])]
        wire.main()
    else:
        print("(over the wire: skipped, wrk is not installed: apt-get install wrk)")
    if args.browser:
        from benchmarks import browser_sync

        print()
        sys.argv = ["benchmarks.browser_sync", *(["--runs", "3"] if args.quick else [])]
        browser_sync.main()


if __name__ == "__main__":
    main()
