"""One sign-in from A to B, traced in process: which of the package's modules and
functions it touches, and how many calls (issue #21's before/after).

Two sites of the testing kit (memory stores, bounce mode); the browser signs in on A and
the chain signs it in on B. Every call into ``asgi_sessionsync`` during that sign-in is
counted with ``sys.setprofile`` (calls only; the testing kit's own modules are left out,
they stand in for the browser and the network).

Run: python -m benchmarks.trace_signin [--functions]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

import asgi_sessionsync
from asgi_sessionsync.testing import SiteNetwork
from asgi_sessionsync.testing_apps import login_app

PACKAGE = str(Path(asgi_sessionsync.__file__).resolve().parent)
LEFT_OUT = ("testing", "testing_apps")


def _module(filename: str) -> str | None:
    if not filename.startswith(PACKAGE):
        return None
    relative = Path(filename).relative_to(PACKAGE).with_suffix("")
    parts = [p for p in relative.parts if p != "__init__"]
    if parts and parts[0] in LEFT_OUT:
        return None
    return ".".join(["asgi_sessionsync", *parts])


async def trace() -> Counter[tuple[str, str]]:
    apps = {"a": login_app("a", {"alice@example.com": "wonderland"}), "b": login_app("b")}
    calls: Counter[tuple[str, str]] = Counter()
    async with SiteNetwork(apps, settings={"catchup": False}) as net:
        browser = net.browser()
        await browser.get(net.urls["a"] + "/")  # warm: keys derived, clients made

        def profile(frame: FrameType, event: str, arg: Any) -> None:
            if event == "call":
                module = _module(frame.f_code.co_filename)
                if module is not None:
                    calls[(module, frame.f_code.co_qualname)] += 1

        sys.setprofile(profile)
        try:
            await browser.sign_in("a", "alice@example.com", "wonderland")
        finally:
            sys.setprofile(None)
        assert await browser.who("b") == "alice@example.com"
    return calls


def package_lines() -> int:
    return sum(len(p.read_text().splitlines()) for p in Path(PACKAGE).rglob("*.py"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--functions", action="store_true", help="list every function touched, with its calls")
    args = parser.parse_args()
    calls = asyncio.run(trace())
    modules = Counter[str]()
    for (module, _), n in calls.items():
        modules[module] += n
    print(f"one sign-in A -> B: {sum(calls.values())} calls, {len(calls)} functions, {len(modules)} modules")
    print(f"package: {package_lines()} lines in {len(list(Path(PACKAGE).rglob('*.py')))} modules")
    for module, n in sorted(modules.items()):
        print(f"  {n:5d}  {module}")
    if args.functions:
        for (module, function), n in sorted(calls.items()):
            print(f"  {n:5d}  {module}:{function}")


if __name__ == "__main__":
    main()
