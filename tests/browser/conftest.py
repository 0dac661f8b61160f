"""Browser fixtures: one gunicorn server with the demo data on 127.0.0.1 for the session, Debian's
/usr/bin/chromium driven by Playwright (never a downloaded browser), a fresh context per page, and a
watcher that fails a test on any console error, page error or dialog and screenshots failures."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ARTIFACTS = Path(__file__).parent / "artifacts"
DEMO_PASSWORD = "kmwiki-demo"
MOBILE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# Console errors that are not errors. Chromium logs "Failed to load resource" for every non-2xx
# response, the page itself included; the edit-conflict page is answered with 409 on purpose. Any
# other console error (a CSP refusal, a failed fetch, a script exception) fails the test.
BENIGN_CONSOLE_ERRORS = ("the server responded with a status of 409 (CONFLICT)",)

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so fixtures know at teardown whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After a test body passed, fail it when a page logged an error or opened a dialog."""
    result = yield
    browser_pages = item.funcargs.get("pages")
    if browser_pages is not None:
        browser_pages.assert_clean()
    return result


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(instance):
    """The environment of the server and its set-up commands: no KMWIKI_* setting from outside."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("KMWIKI_")}
    env.update({
        "KMWIKI_INSTANCE_PATH": str(instance),
        "KMWIKI_SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'kmwiki.db'}",
        # Every test signs in from 127.0.0.1; the production limit (10 a minute) would refuse them.
        "KMWIKI_LOGIN_RATE_LIMIT": "1000 per minute",
        # Demo passwords hashed cheaply: 33 scrypt hashes would slow the set-up for nothing.
        "KMWIKI_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    })
    return env


@pytest.fixture(scope="session")
def live_server():
    """Base URL of `gunicorn -c python:kmwiki.serving --workers 2 wsgi:app` serving a fresh demo database."""
    # SQLite commits fsync: on tmpfs the demo data loads in half the time.
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="kmwiki-browser-", dir=shm))
    instance = folder / "instance"
    env = server_env(instance)
    for command in (["init-db"], ["demo-data"]):
        done = subprocess.run([str(BIN / "flask"), "--app", "kmwiki", *command], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, f"flask {command[0]} failed:\n{done.stdout}\n{done.stderr}"
    port = free_port()
    log = open(folder / "gunicorn.log", "w+")
    server = subprocess.Popen([str(BIN / "gunicorn"), "-c", "python:kmwiki.serving", "--workers", "2", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base_url, server, log)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def wait_until_up(base_url, server, log, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            pytest.fail(f"gunicorn exited with {server.returncode}:\n{log.read()}")
        try:
            with urllib.request.urlopen(base_url + "/login", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    log.seek(0)
    pytest.fail(f"the server did not answer within {timeout}s:\n{log.read()}")


@pytest.fixture(scope="session")
def browser():
    """One headless Debian chromium for the whole session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


class Pages:
    """Opens pages, each in a context of its own (its own cookies: another person or device), and
    records what would go unnoticed in a browser: console errors, uncaught exceptions, dialogs."""

    def __init__(self, browser, base_url):
        self.browser = browser
        self.base_url = base_url
        self.contexts = []
        self.pages = []
        self.errors = []
        self.dialogs = []
        self.allowed = list(BENIGN_CONSOLE_ERRORS)

    def allow(self, *texts):
        """Accept console errors containing one of `texts` in this test only (say why where it is called)."""
        self.allowed.extend(texts)

    def new(self, username=None, viewport=DESKTOP, locale="zh-CN"):
        """A new page in a new context, signed in as `username` when given."""
        context = self.browser.new_context(base_url=self.base_url, locale=locale, viewport=viewport,
                                           timezone_id="Asia/Shanghai")
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        self.pages.append(page)
        page.on("console", lambda message: self._console(page, message))
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: uncaught {error}"))
        page.on("dialog", lambda dialog: self._dialog(page, dialog))
        if username:
            login(page, username)
        return page

    def _console(self, page, message):
        if message.type == "error" and not any(text in message.text for text in self.allowed):
            self.errors.append(f"{page.url}: console error: {message.text} ({message.location})")

    def _dialog(self, page, dialog):
        self.dialogs.append(f"{page.url}: {dialog.type} dialog: {dialog.message!r}")
        dialog.dismiss()

    def assert_clean(self):
        problems = self.errors + self.dialogs
        assert not problems, "the browser reported:\n" + "\n".join(problems)

    def screenshot_all(self, name):
        ARTIFACTS.mkdir(exist_ok=True)
        for number, page in enumerate(p for p in self.pages if not p.is_closed()):
            suffix = f"-{number + 1}" if number else ""
            try:
                page.screenshot(path=ARTIFACTS / f"{name}{suffix}.png", full_page=True)
            except Exception:  # a crashed page: the failure report says enough
                pass

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def pages(request, browser, live_server):
    """Factory of pages: pages.new("agent"); screenshots every page to tests/browser/artifacts/ on failure."""
    opened = Pages(browser, live_server)
    yield opened
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        opened.screenshot_all(request.node.name.replace("/", "_"))
    opened.close()


@pytest.fixture
def page(pages):
    """A page in a fresh zh-CN context, not signed in."""
    return pages.new()


def login(page, username, password=DEMO_PASSWORD):
    """Sign in through the form at /login."""
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("form:has(#password) button[type=submit]")
    assert "/login" not in page.url, f"{username} could not sign in"


@pytest.fixture(scope="session")
def api(live_server):
    """call(username, method, path, payload) → (status, JSON) against the JSON API with a bearer token."""
    tokens = {}

    def request(method, path, payload=None, headers=None):
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(live_server + "/api/v1" + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def call(username, method, path, payload=None):
        if username not in tokens:
            status, body = request("POST", "/tokens", {"username": username, "password": DEMO_PASSWORD})
            assert status == 201, body
            tokens[username] = body["token"]
        return request(method, path, payload, {"Authorization": f"Bearer {tokens[username]}"})

    return call
