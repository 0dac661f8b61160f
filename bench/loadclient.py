"""The load generator of bench/load.py: closed-loop HTTP clients, one process each, over raw sockets.

Each client process signs in as its own user, then sends one request at a time, the next as soon
as the last is answered (a fixed number of requests in flight: the concurrency). gunicorn's sync
workers close the connection after each response, so every request is a new loopback connection
read to its end. Requests are bytes built here and answers are parsed only as far as needed (status,
Set-Cookie, a form token), so a client costs little CPU beside the server it measures.
"""
import bisect
import html
import random
import re
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

_CSRF = re.compile(rb'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"')  # a form's own token
_INPUT = re.compile(rb'<input[^>]*name="base_revision"[^>]*>')
_VALUE = re.compile(rb'value="(\d*)"')
_COOKIE = re.compile(rb"^set-cookie: ([^=]+)=([^;]*)", re.IGNORECASE | re.MULTILINE)


@dataclass
class Answer:
    status: int
    headers: bytes
    body: bytes


class Session:
    """One user's cookies against one server."""

    def __init__(self, port, host="127.0.0.1"):
        self.address = (host, port)
        self.host = f"{host}:{port}".encode()
        self.cookies = {}

    def get(self, path):
        return self.send(b"GET", path)

    def post_form(self, path, fields):
        body = urlencode(fields, doseq=True).encode()
        return self.send(b"POST", path, body, b"application/x-www-form-urlencoded")

    def send(self, method, path, body=b"", content_type=None):
        head = [method + b" " + path.encode() + b" HTTP/1.1", b"Host: " + self.host, b"Connection: close",
                b"Accept: text/html"]
        if self.cookies:
            head.append(b"Cookie: " + b"; ".join(k + b"=" + v for k, v in self.cookies.items()))
        if content_type:
            head += [b"Content-Type: " + content_type, b"Content-Length: " + str(len(body)).encode()]
        with socket.create_connection(self.address, timeout=60) as sock:
            sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
            chunks = []
            while data := sock.recv(262144):
                chunks.append(data)
        raw = b"".join(chunks)
        headers, _, content = raw.partition(b"\r\n\r\n")
        for name, value in _COOKIE.findall(headers):
            if value:
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return Answer(int(headers[9:12]), headers, content)

    def sign_in(self, username, password):
        """Sign in through the login form; raises when it does not work."""
        token = csrf_token(self.get("/login").body)
        answer = self.post_form("/login", {"csrf_token": token, "username": username, "password": password})
        if answer.status != 302:
            raise RuntimeError(f"sign-in as {username} failed: HTTP {answer.status}")


def sign_in_once(port, accounts, password):
    """Sign every account in before the phases, so that the sessions they measure are the workload
    alone: a sign-in checks a password hash on purpose slowly, and eight of them at the start of
    every phase took ~3% of the workers' time and held the phase's first requests."""
    for account in accounts:
        session = Session(port)
        session.sign_in(account["username"], password)
        account["cookies"] = {name.decode("latin-1"): value.decode("latin-1") for name, value in session.cookies.items()}


def csrf_token(page):
    found = _CSRF.search(page)
    if not found:
        raise RuntimeError("no CSRF token on the page")
    return found.group(1).decode()


def base_revision(page):
    tag = _INPUT.search(page)
    value = _VALUE.search(tag.group(0)) if tag else None
    if not value:
        raise RuntimeError("no base_revision on the edit page")
    return value.group(1).decode()


@dataclass
class Workload:
    """What the clients do and how often (weights), with the data they draw from."""

    port: int
    password: str
    entry_ids: list  # adopted entries anyone may read
    questions: list
    mix: dict  # kind -> weight: view, search, leaderboard, edit, adopt
    seconds: float
    seed: int = 7
    zipf: float = 1.0  # entry popularity: the n-th most read entry is read ∝ 1 / n^zipf

    def view_chooser(self, rng):
        weights = [1 / (n ** self.zipf) for n in range(1, len(self.entry_ids) + 1)]
        cumulative, total = [], 0.0
        for weight in weights:
            total += weight
            cumulative.append(total)
        order = self.entry_ids[:]
        random.Random(self.seed).shuffle(order)  # popularity unrelated to id
        return lambda: order[min(bisect.bisect(cumulative, rng.random() * total), len(order) - 1)]


@dataclass
class Account:
    """A client's user and the entries it may change: its own drafts, and pending entries to adopt."""

    username: str
    drafts: list = field(default_factory=list)  # [(entry id, title, kind)]
    to_adopt: list = field(default_factory=list)  # entry ids submitted by others, for a reviewer
    rubric: list = field(default_factory=list)
    cookies: dict = field(default_factory=dict)  # a signed-in session (sign_in_once), as latin-1 text


PERIODS = ("week", "month", "quarter", "year", "all")


def run_client(workload, account, number, results):
    """One closed-loop client; puts (samples, acknowledged writes, errors) on results."""
    try:
        results.put(_client_loop(workload, account, number))
    except Exception as error:  # reported by the parent instead of leaving it waiting
        results.put(([], [], [f"client {number} stopped: {error!r}"]))


def _client_loop(workload, account, number):
    rng = random.Random(workload.seed * 1000 + number)
    session = Session(workload.port)
    if "bare" in workload.mix:  # the bare page is asked as before: no cookies
        pass
    elif account.cookies:
        session.cookies = {name.encode("latin-1"): value.encode("latin-1") for name, value in account.cookies.items()}
    else:
        session.sign_in(account.username, workload.password)
    choose_entry = workload.view_chooser(rng)
    kinds, weights = zip(*[(k, w) for k, w in workload.mix.items() if w and _possible(k, account)])
    samples, writes, errors = [], [], []
    deadline = time.perf_counter() + workload.seconds
    edits = 0
    while time.perf_counter() < deadline:
        kind = rng.choices(kinds, weights)[0]
        try:
            if kind == "bare":
                samples.append(_timed("bare", 200, session.get, "/"))
            elif kind == "view":
                samples.append(_timed("view", 200, session.get, f"/entries/{choose_entry()}"))
            elif kind == "search":
                question = rng.choice(workload.questions)
                samples.append(_timed("search", 200, session.get, f"/search?q={quote(question)}"))
            elif kind == "leaderboard":
                samples.append(_timed("leaderboard", 200, session.get,
                                      f"/leaderboard?scope=user&period={rng.choice(PERIODS)}"))
            elif kind == "edit":
                edits += 1
                samples += _edit(session, rng.choice(account.drafts), f"load-{number}-{edits}", writes)
            elif kind == "adopt" and account.to_adopt:
                samples += _adopt(session, account.to_adopt.pop(), account.rubric, writes)
        except (OSError, RuntimeError) as error:
            errors.append(f"{kind}: {error}")
    return samples, writes, errors


def _possible(kind, account):
    return {"edit": bool(account.drafts), "adopt": bool(account.to_adopt)}.get(kind, True)


def _timed(kind, expected, call, *args):
    started = time.perf_counter()
    answer = call(*args)
    return kind, (time.perf_counter() - started) * 1000, answer.status, answer.status == expected, answer


def _edit(session, draft, marker, writes):
    """Open the editor, then save the draft with a new line; a 302 acknowledges the save."""
    entry_id, title, kind = draft
    form = _timed("edit form", 200, session.get, f"/entries/{entry_id}/edit")
    page = form[4].body
    fields = {"csrf_token": csrf_token(page), "base_revision": base_revision(page), "title": title, "kind": kind,
              "products": ["medical"], "tags": "负载测试", "note": marker,
              "body": f"{html.unescape(title)}\n\n负载测试的修改 {marker}。\n"}
    save = _timed("edit save", 302, session.post_form, f"/entries/{entry_id}/edit", fields)
    if save[3]:
        writes.append(("edit", entry_id, marker))
    return [form[:4], save[:4]]


def _adopt(session, entry_id, rubric, writes):
    """Open the review page, then adopt with full marks; a 302 acknowledges the decision."""
    page = _timed("review form", 200, session.get, f"/review/{entry_id}")
    fields = {"csrf_token": csrf_token(page[4].body), "compliance": "pass", "comment": "负载测试采纳",
              "decision": "adopt", **{f"score_{slug}": "4" for slug in rubric}}
    decision = _timed("adopt", 302, session.post_form, f"/review/{entry_id}", fields)
    if decision[3]:
        writes.append(("adopt", entry_id, None))
    return [page[:4], decision[:4]]
