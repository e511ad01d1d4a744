"""Starting up (#16): a bad configuration under uvicorn, and the demo, each end on one
clear line; the demo's pages say what each site is and what just happened."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from asgi_sessionsync.keys import generate_secret
from asgi_sessionsync.testing import Browser, InProcessNetwork, hidden_fields
from demo.sites import NAMES, build_sites
from tests.cli import ROOT
from tests.constants import ALICE
from tests.harness.processes import free_ports


def clean_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("SESSIONSYNC_")}, **extra}


def test_a_config_error_under_uvicorn_is_one_line() -> None:
    (port,) = free_ports(1)
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "--factory", "tests.fixtures.config_error_app:create", "--port", str(port)],
        cwd=ROOT,
        env=clean_env(
            SESSIONSYNC_SITE_URL="https://a.example",
            SESSIONSYNC_SECRET_KEYS=generate_secret(),  # one wrong setting: one line (each has its own)
            SESSIONSYNC_CLOCK_SKEW="soon",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "configuration error" in line]
    assert lines == [
        "asgi-sessionsync: configuration error: SESSIONSYNC_CLOCK_SKEW: 'soon' is not a duration "
        "(example: SESSIONSYNC_CLOCK_SKEW=30s (or 30, 5m, 2h, 14d))"
    ]


def run_demo(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "demo", *args],
        cwd=ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_demo_on_a_busy_port_says_so_in_one_line(tmp_path: object) -> None:
    ports = free_ports(3)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports[1]))
        busy.listen()
        result = run_demo("--ports", ",".join(map(str, ports)), "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"demo: port {ports[1]} (site B) is in use; pick free ports with --ports, e.g. --ports 9001,9002,9003"
    ]


def test_the_demo_with_a_bad_setting_says_so_in_one_line(tmp_path: object) -> None:
    result = run_demo(
        "--ports", ",".join(map(str, free_ports(3))), "--data-dir", str(tmp_path), SESSIONSYNC_CLOCK_SKEW="soon"
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("asgi-sessionsync: configuration error: SESSIONSYNC_CLOCK_SKEW")
    )


async def test_site_b_says_what_it_is_and_the_flash_says_what_happened() -> None:
    network = InProcessNetwork()
    urls = {n: f"http://{n}.localhost:800{i + 1}" for i, n in enumerate(NAMES)}
    sites = await build_sites(urls, urls, secret=generate_secret(), data_dir=None, transport=network)
    for name, site in sites.items():
        network.add([httpx.URL(site.url).host], site.app, name=name)
    network.urls.update(urls)
    browser = Browser(network, urls=urls)
    try:
        login_b = await browser.get(f"{urls['b']}/login")
        # No accounts of its own, but a form: users synced here with a password sign in with it.
        assert "no accounts of its own" in login_b.text and 'type="password"' in login_b.text
        assert f'href="{urls["a"]}/login"' in login_b.text and f'href="{urls["c"]}/login"' in login_b.text
        home_b = await browser.get(f"{urls['b']}/")
        assert "no accounts of its own" in home_b.text

        landed = await browser.sign_in("a", *ALICE)
        assert "Signed in as alice@example.com" in landed.text
        assert "You are signed in on Site B and Site C too" in landed.text
        again = await browser.get(f"{urls['a']}/")
        assert "signed in on Site B" not in again.text  # said once

        out = await browser.sign_out("b")
        assert "Not signed in" in out.text and "You are signed out of Site A and Site C too" in out.text
    finally:
        await browser.close()
        for site in sites.values():
            await site.app.aclose()


async def test_the_demo_sites_take_a_session_policy_from_sessionsync_policy_file(tmp_path: Path) -> None:
    policy = tmp_path / "sessions.toml"
    policy.write_text('[defaults]\nmax_sessions = 1\non_limit = "end-oldest"\n')
    urls = {n: f"http://{n}.localhost:800{i + 1}" for i, n in enumerate(NAMES)}
    sites = await build_sites(
        urls, urls, secret=generate_secret(), data_dir=None, environ={"SESSIONSYNC_POLICY_FILE": str(policy)}
    )
    try:
        for site in sites.values():
            rules = site.app.site.settings.governance.policy
            assert rules is not None and rules.source == str(policy)
            assert rules.defaults.limits and rules.defaults.on_limit.value == "end-oldest"
    finally:
        for site in sites.values():
            await site.app.aclose()


async def test_a_user_synced_to_b_signs_in_there_with_its_password_and_account_changes_reach_b() -> None:
    network = InProcessNetwork()
    urls = {n: f"http://{n}.localhost:800{i + 1}" for i, n in enumerate(NAMES)}
    sites = await build_sites(urls, urls, secret=generate_secret(), data_dir=None, transport=network)
    for name, site in sites.items():
        network.add([httpx.URL(site.url).host], site.app, name=name)
    network.urls.update(urls)
    browser = Browser(network, urls=urls)
    try:
        await browser.sign_in("a", *ALICE)
        await browser.sign_out("a")
        assert await browser.everyone() == dict.fromkeys(NAMES)
        # B never had an account for alice: sign-in sync provisioned it, and A sent its hash.
        landed = await browser.sign_in("b", *ALICE)
        assert "Signed in as alice@example.com" in landed.text
        assert await browser.everyone() == dict.fromkeys(NAMES, ALICE[0])

        page = await browser.get(f"{urls['a']}/account")
        fields = hidden_fields(page.text)
        fields.update(name="Alice Liddell", new_password="looking-glass")
        changed = await browser.submit(f"{urls['a']}/account", fields, from_page=page)
        assert "Changed your name and password here" in changed.text
        on_b = await browser.get(f"{urls['b']}/account")
        assert '<span class="name">Alice Liddell</span>' in on_b.text
        await browser.sign_out("b")
        assert "Wrong email or password" in (await browser.sign_in("b", *ALICE)).text
        assert "Signed in as" in (await browser.sign_in("b", ALICE[0], "looking-glass")).text
    finally:
        await browser.close()
        for site in sites.values():
            await site.app.aclose()
