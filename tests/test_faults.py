"""Faults: a writer killed between its commit and its index write, and gunicorn workers killed with
SIGKILL in the middle of writes. No acknowledged write is lost, the database stays whole, and the
index catches up by itself (search/journal.py) without `search-check --repair`."""
import http.client
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select, text
from whoosh import index as whoosh_index

from conftest import PASSWORD
from kmwiki.extensions import db
from kmwiki.models import Revision, User
from kmwiki.search import index, journal
from kmwiki.services import entries
from kmwiki.services.entries import EntryInput

pytestmark = pytest.mark.search_index
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def edit(entry_id, user_id, body):
    entry = db.session.get(entries.Entry, entry_id)
    data = EntryInput(title=entry.title, body=body, kind="faq", products=[], segments=[], tags=[])
    return entries.save_edit(entry_id, data, entry.latest_number, db.session.get(User, user_id))


def killed_after_commit(app, entry_id, user_id):
    """In a forked process: save an edit, then die (SIGKILL) where the index write would begin."""
    with app.app_context():
        db.engine.dispose(close=False)  # the parent's connections are the parent's
        index.update = lambda ix, ids: os.kill(os.getpid(), signal.SIGKILL)
        edit(entry_id, user_id, "进程被杀之前提交的修改")


def test_index_writes_owed_by_a_killed_process_are_done_by_the_next_one(app, make_user, make_entry):
    alice = make_user("alice")
    entry_id = make_entry(alice, title="被杀的写入")
    with app.app_context():
        index.get_index()
    child = multiprocessing.get_context("fork").Process(target=killed_after_commit, args=(app, entry_id, alice))
    child.start()
    child.join(30)
    assert child.exitcode == -signal.SIGKILL
    with app.app_context():
        assert db.session.scalar(select(Revision.number).where(Revision.body == "进程被杀之前提交的修改")) == 2
        assert index.check(index.get_index())[1] == [entry_id]  # stale: the write never happened
        assert len(list(journal.folder().glob("*.ids"))) == 1  # but it was noted
        app.extensions.pop("kmwiki.search_index")  # a fresh process opens the index …
        assert index.check(index.get_index()) == ([], [], [])  # … and writes what was owed
        assert not list(journal.folder().glob("*.ids"))


def test_a_failed_index_write_is_retried_after_the_next_commit(app, make_user, make_entry, monkeypatch):
    alice = make_user("alice")
    first, second = make_entry(alice, title="第一条"), make_entry(alice, title="第二条")
    real_update = index.update
    with app.app_context():
        monkeypatch.setattr(index, "update", lambda ix, ids: (_ for _ in ()).throw(OSError("disk full")))
        edit(first, alice, "写索引失败的修改")
        assert index.check(index.get_index())[1] == [first]
        monkeypatch.setattr(index, "update", real_update)
        edit(second, alice, "下一次提交")
        assert index.check(index.get_index()) == ([], [], [])


# --- gunicorn workers killed in the middle of writes -------------------------------------------------------------

WRITERS = 6
KILLS = 3


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(base, method, path, body=None, token=None):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


@pytest.fixture
def server(app, database_url, tmp_path):
    """gunicorn --workers 2 on the test's database and instance folder."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("KMWIKI_")}
    env.update(KMWIKI_INSTANCE_PATH=app.instance_path, KMWIKI_SQLALCHEMY_DATABASE_URI=database_url,
               KMWIKI_SECRET_KEY="test-secret", KMWIKI_LOGIN_RATE_LIMIT="1000 per minute",
               KMWIKI_PASSWORD_HASH_METHOD="pbkdf2:sha256:1000")
    process = subprocess.Popen([str(BIN / "gunicorn"), "-c", "python:kmwiki.serving", "--workers", "2", "--bind", f"127.0.0.1:{port}",
                                "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/login", timeout=5)
            break
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline and process.poll() is None, "gunicorn did not start"
            time.sleep(0.2)
    yield base, process
    process.send_signal(signal.SIGTERM)
    process.wait(30)


def workers_of(master):
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def writer(base, token, entry_id, number, stop, acknowledged, refused):
    """Save edit after edit of one draft; only a 200 answer counts as acknowledged."""
    revision, n = 1, 0
    while not stop.is_set():
        n += 1
        body = f"第{number}位写手的第{n}次修改"
        try:
            status, saved = call(base, "PUT", f"/api/v1/entries/{entry_id}",
                                 {"title": f"草稿{number}", "body": body, "kind": "faq", "base_revision": revision},
                                 token)
        except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as error:
            # The worker died under this request, before or while answering (an IncompleteRead: the
            # status line came, the body did not): not acknowledged.
            refused.append(repr(error))
            if isinstance(error, urllib.error.HTTPError) and error.code == 409:  # it was saved after all
                revision = json.loads(error.read())["error"]["current_revision"]
            continue
        assert status == 200
        revision = saved["revision"]
        acknowledged.append((entry_id, revision, body))


def test_workers_killed_mid_write_lose_no_acknowledged_write(app, server, make_user, make_entry):
    base, master = server
    drafts, tokens = [], []
    for number in range(WRITERS):
        user = make_user(f"writer{number}")
        drafts.append(make_entry(user, title=f"草稿{number}"))
        tokens.append(call(base, "POST", "/api/v1/tokens", {"username": f"writer{number}", "password": PASSWORD})[1]["token"])
    stop, acknowledged, refused = threading.Event(), [], []
    threads = [threading.Thread(target=writer, args=(base, tokens[n], drafts[n], n, stop, acknowledged, refused))
               for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    killed = []
    for _ in range(KILLS):
        time.sleep(1.5)
        victim = workers_of(master.pid)[0]
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join(60)
    assert len(killed) == KILLS and len(acknowledged) > 20

    with app.app_context():
        saved = set(db.session.execute(select(Revision.entry_id, Revision.number, Revision.body)).all())
        assert set(acknowledged) <= saved  # every acknowledged write is in the database
        if db.engine.dialect.name == "sqlite":
            assert db.session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    # One more write: whichever worker takes it writes what the killed workers owed the index.
    status, last = call(base, "PUT", f"/api/v1/entries/{drafts[0]}", {"title": "草稿0", "body": "最后一次修改",
                                                                     "kind": "faq", "base_revision": revision_of(app, drafts[0])},
                        tokens[0])
    assert status == 200
    with app.app_context():  # opened as it is on disk: this process must not do the catching up itself
        ix = whoosh_index.open_dir(str(index.index_dir()), indexname=index.INDEX_NAME)
        assert index.check(ix) == ([], [], [])
        assert not list(journal.folder().glob("*.ids"))


def revision_of(app, entry_id):
    with app.app_context():
        return db.session.get(entries.Entry, entry_id).latest_number
