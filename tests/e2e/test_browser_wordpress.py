"""Chromium against a live WordPress running WP Remote Users Sync 2.1.5 and the demo's
site B as its remote site (issue #27; docs/wordpress.md, "The live Chromium test").

Runs only where ``SESSIONSYNC_WPRUS_PLUGIN`` points at a checkout of the plugin (skipped
when it is unset, so never in CI, where the transcript tests stand in). It then needs a
WordPress already running with that plugin installed and activated, pretty permalinks on,
and the must-use plugin docs/wordpress.md describes (WordPress reaching loopback; kept
outside the repository, as the plugin is): its directory in
``SESSIONSYNC_WPRUS_WORDPRESS_DIR`` (php-cli runs its ``wp-load.php`` to configure the
plugin and make users, with WordPress's own functions) and its URL in
``SESSIONSYNC_WPRUS_WORDPRESS_URL`` (default ``http://wp.localhost:18404``). With the
plugin variable set and WordPress missing, the test fails and says what is missing.

Each test rewrites the plugin's settings (fresh secrets, demo site B as the one remote
site, every action in and out) and uses users of its own.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.browser import sign_in, sign_out, who_at
from tests.e2e.harness import Demo, require_chromium, run_demo

PLUGIN = os.environ.get("SESSIONSYNC_WPRUS_PLUGIN", "")
WP_DIR = os.environ.get("SESSIONSYNC_WPRUS_WORDPRESS_DIR", "")
WP = os.environ.get("SESSIONSYNC_WPRUS_WORDPRESS_URL", "http://wp.localhost:18404").rstrip("/")

pytestmark = pytest.mark.skipif(
    not PLUGIN,
    reason="SESSIONSYNC_WPRUS_PLUGIN is unset: it names a checkout of WP Remote Users Sync 2.1.5, and this live "
    "test then drives a running WordPress (docs/wordpress.md); CI runs tests/test_wprus_*.py on transcripts instead",
)

PRELUDE = """
$u = parse_url(getenv('WP_URL'));
$_SERVER['HTTP_HOST'] = $u['host'] . (isset($u['port']) ? ':' . $u['port'] : '');
$_SERVER['REQUEST_URI'] = '/'; $_SERVER['REMOTE_ADDR'] = '127.0.0.1';
require getenv('WP_DIR') . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/user.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';
$args = json_decode(getenv('ARGS'), true);
"""


def wp_php(code: str, **args: Any) -> str:
    """Run ``code`` in WordPress (after ``wp-load.php``), ``$args`` holding ``args``."""
    env = {**os.environ, "WP_URL": WP, "WP_DIR": WP_DIR, "ARGS": json.dumps(args)}
    done = subprocess.run(["php", "-r", PRELUDE + code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _require_wordpress() -> None:
    missing = []
    if shutil.which("php") is None:
        missing.append("php-cli")
    if not WP_DIR or not (Path(WP_DIR) / "wp-load.php").is_file():
        missing.append("SESSIONSYNC_WPRUS_WORDPRESS_DIR (a WordPress directory with wp-load.php)")
    elif not (Path(WP_DIR) / "wp-content" / "plugins" / "wp-remote-users-sync" / "wprus.php").is_file():
        missing.append(f"the plugin installed in {WP_DIR}/wp-content/plugins/wp-remote-users-sync")
    parts = urlsplit(WP)
    try:
        # *.localhost: browsers and curl resolve it to loopback themselves; Python's resolver may not.
        probe = f"{parts.scheme}://127.0.0.1:{parts.port or 80}/wp-login.php"
        if httpx.get(probe, headers={"host": parts.netloc}, timeout=5).status_code != 200:
            missing.append(f"WordPress answering at {WP}")
    except httpx.HTTPError:
        missing.append(f"WordPress answering at {WP} (SESSIONSYNC_WPRUS_WORDPRESS_URL)")
    if missing:
        pytest.fail("SESSIONSYNC_WPRUS_PLUGIN is set but this live test lacks: " + "; ".join(missing))


class Live:
    """The demo (site B is WordPress's remote site) and the plugin's settings."""

    def __init__(self, demo: Demo, encryption: str, signature: str) -> None:
        self.demo, self.encryption, self.signature = demo, encryption, signature
        self.remote = demo.url("b", "/_sessionsync")  # where the plugin's /wprus/<action>/ land

    def configure(self, *, strict: bool = False, silent: bool = False) -> None:
        actions = {a: "1" for a in ("login", "logout", "create", "update", "delete", "password", "role", "meta")}
        wp_php(
            """
            update_option('wprus', array(
              'encryption' => array('aes_key' => $args['enc'], 'hmac_key' => $args['sig'], 'token_expiry' => 1800),
              'sites' => array(array('url' => $args['remote'], 'incoming_actions' => $args['actions'],
                'outgoing_actions' => $args['actions'], 'incoming_meta' => array(), 'outgoing_meta' => array(),
                'incoming_roles' => array('subscriber'), 'incoming_roles_merge' => false,
                'outgoing_roles' => array('subscriber', 'editor', 'administrator'))),
              'browser_support' => array('force_login_logout_strict' => $args['strict'] ? '1' : false,
                'force_disable_login_logout_strict' => false,
                'silent_login_logout_strict' => $args['silent'] ? '1' : false),
              'ip_whitelist' => '', 'logs' => array('enable' => '1', 'min_num' => 100)));
            echo 'ok';
            """,
            enc=self.encryption,
            sig=self.signature,
            remote=self.remote,
            actions=actions,
            strict=strict,
            silent=silent,
        )

    def wp_user(self, login: str, email: str, password: str, role: str = "subscriber") -> None:
        """A WordPress user, made with WordPress's own function (its create goes to site B)."""
        out = wp_php(
            """$id = wp_insert_user(array('user_login' => $args['login'], 'user_email' => $args['email'],
               'user_pass' => $args['password'], 'display_name' => $args['login'], 'role' => $args['role']));
               echo is_wp_error($id) ? $id->get_error_message() : 'created';""",
            login=login,
            email=email,
            password=password,
            role=role,
        )
        assert out == "created", out

    def b_user(self, email: str) -> dict[str, Any] | None:
        """Site B's user (its SQLite file), or None."""
        import sqlite3

        assert self.demo.data_dir is not None
        with sqlite3.connect(self.demo.data_dir / "site-b.sqlite3", timeout=5) as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()
        return dict(row) if row is not None else None


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    require_chromium()
    _require_wordpress()
    tmp = tmp_path_factory.mktemp("wordpress")
    encryption, signature = secrets.token_hex(20), secrets.token_hex(20)
    # The demo's fourth-site network file (demo/network-wordpress.toml), with fresh keys and
    # this WordPress's URL; this site's servers reach it on loopback (Python does not
    # resolve *.localhost).
    text = (Path(__file__).parents[2] / "demo" / "network-wordpress.toml").read_text()
    text = text.replace("demo-wprus-encryption-key-not-secret", encryption)
    text = text.replace("demo-wprus-authentication-key-not-secret", signature)
    text = text.replace("http://127.0.0.1:18404", f"http://127.0.0.1:{urlsplit(WP).port or 80}")
    network = tmp / "network.toml"
    network.write_text(text.replace("http://wp.localhost:18404", WP))
    settings = {"SESSIONSYNC_NETWORK_FILE": str(network)}
    with run_demo(tmp, mode="auto", settings=settings) as demo:
        running = Live(demo, encryption, signature)
        running.configure()
        yield running


def _wp_login(page: Any, user: str, password: str) -> None:
    page.goto(f"{WP}/wp-login.php")
    page.fill("#user_login", user)
    page.fill("#user_pass", password)
    page.click("#wp-submit")
    page.wait_for_url(re.compile(re.escape(WP) + "/wp-admin/"), timeout=20000)
    page.wait_for_load_state("load")  # the plugin's hidden iframes have loaded


def _wp_logout(page: Any) -> None:
    page.goto(f"{WP}/wp-admin/profile.php")
    page.goto(str(page.get_attribute("#wp-admin-bar-logout a", "href")))
    page.wait_for_url(re.compile(re.escape(WP) + r"/wp-login.php\?loggedout=true"), timeout=20000)
    page.wait_for_load_state("load")


def _until(check: Callable[[], Any], expected: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.3)


def _user_names() -> tuple[str, str]:
    tag = secrets.token_hex(3)
    return f"wp{tag}@example.com", f"pass-{tag}-1"


def test_sign_in_on_wordpress_signs_in_here_and_sign_out_signs_out(live: Live, open_browser: Any) -> None:
    email, password = _user_names()
    live.wp_user(email, email, password)
    assert _until(lambda: live.b_user(email) is not None, True), "WordPress's create did not arrive on B"
    context = open_browser(third_party_cookies=True)
    page = context.new_page()
    _wp_login(page, email, password)
    assert _until(lambda: who_at(context, live.demo.url("b")), email) == email
    _wp_logout(page)
    assert _until(lambda: who_at(context, live.demo.url("b")), None) is None
    log = live.demo.log.read_text()
    assert f"WP Remote Users Sync login from {WP}: {email} signed in" in log
    assert f"WP Remote Users Sync logout from {WP}: {email} signed out of this browser" in log


def test_redirect_mode_signs_in_here_and_comes_back(live: Live, open_browser: Any) -> None:
    email, password = _user_names()
    live.wp_user(email, email, password)
    assert _until(lambda: live.b_user(email) is not None, True)
    live.configure(strict=True)
    try:
        context = open_browser(third_party_cookies=True)
        page = context.new_page()
        _wp_login(page, email, password)  # via B's wprus/login/ and back, port and all
        assert urlsplit(page.url).netloc == urlsplit(WP).netloc
        assert _until(lambda: who_at(context, live.demo.url("b")), email) == email
    finally:
        live.configure()


def test_a_role_the_network_file_does_not_allow_is_refused(live: Live) -> None:
    email, password = _user_names()
    live.wp_user(email, email, password, role="administrator")
    assert _until(lambda: live.b_user(email) is not None, True)
    user = live.b_user(email)
    assert user is not None and user["role"] == "member"  # created, without the administrator role
    wp_php("get_user_by('login', $args['login'])->set_role('administrator'); echo 'ok';", login=email)
    time.sleep(2)
    user = live.b_user(email)
    assert user is not None and user["role"] == "member"
    log = live.demo.log.read_text()
    assert f"WP Remote Users Sync update from {WP} for {email}: refused: privileged role 'administrator'" in log


def _wp_user_signed_in(context: Any) -> str | None:
    """The WordPress user this browser is signed in as (its profile page), or None."""
    page = context.new_page()
    try:
        page.goto(f"{WP}/wp-admin/profile.php")
        if "/wp-login.php" in page.url:
            return None
        return str(page.input_value("#email"))
    finally:
        page.close()


def test_sign_in_here_signs_in_on_wordpress_and_sign_out_signs_out(live: Live, open_browser: Any) -> None:
    email, password = _user_names()
    live.wp_user(email, email, password)  # arrives on B with its password (hashed there)
    assert _until(lambda: live.b_user(email) is not None, True)
    context = open_browser(third_party_cookies=True)
    page = context.new_page()
    sign_in(page, live.demo, "b", email, password)  # B's own form, with the password WordPress sent
    assert _until(lambda: _wp_user_signed_in(context), email) == email
    sign_out(page, live.demo, "b")
    page.wait_for_load_state("load")
    assert _until(lambda: _wp_user_signed_in(context), None) is None
    log = live.demo.log.read_text()
    assert f"WordPress login of {email} sent to {WP} (by the browser)" in log
    assert f"WordPress logout of {email} sent to {WP} (by the browser)" in log


def test_a_password_changed_on_wordpress_works_here(live: Live, open_browser: Any) -> None:
    email, password = _user_names()
    live.wp_user(email, email, password)
    assert _until(lambda: live.b_user(email) is not None, True)
    wp_php(
        "reset_password(get_user_by('login', $args['login']), $args['new']); echo 'ok';",
        login=email,
        new="new-" + password,
    )
    time.sleep(2)
    context = open_browser(third_party_cookies=True)
    page = context.new_page()
    sign_in(page, live.demo, "b", email, "new-" + password)
    assert who_at(context, live.demo.url("b")) == email


def test_a_password_and_a_name_changed_here_work_on_wordpress(live: Live, open_browser: Any) -> None:
    email, password = _user_names()
    live.wp_user(email, email, password)
    assert _until(lambda: live.b_user(email) is not None, True)
    context = open_browser(third_party_cookies=True)
    page = context.new_page()
    sign_in(page, live.demo, "b", email, password)
    page.goto(live.demo.url("b", "/account"))
    page.fill("input[name=name]", "Renamed Here")
    page.fill("input[name=new_password]", "changed-" + password)
    with page.expect_navigation():
        page.click("form[method=post] button[type=submit] >> nth=0")

    def on_wordpress() -> tuple[str, bool]:
        out = wp_php(
            "$u = get_user_by('login', $args['login']);"
            "echo json_encode(array($u->display_name, wp_check_password($args['new'], $u->user_pass, $u->ID)));",
            login=email,
            new="changed-" + password,
        )
        name, works = json.loads(out)
        return str(name), bool(works)

    assert _until(on_wordpress, ("Renamed Here", True)) == ("Renamed Here", True)
    # And in the browser, WordPress's own form takes the new password.
    second = open_browser(third_party_cookies=True)
    _wp_login(second.new_page(), email, "changed-" + password)
    # … and that login signs this other browser in on B, the password change here notwithstanding.
    assert _until(lambda: who_at(second, live.demo.url("b")), email) == email
    log = live.demo.log.read_text()
    assert f"user password delivered to WordPress {WP}" in log
    assert "changed-" + password not in log  # a password is never logged
