"""`backup` and `restore`: a consistent copy of database, search index and attachments, round-tripped."""
import tarfile

import pytest
from sqlalchemy import func, select

from kmwiki import pages
from kmwiki.extensions import db
from kmwiki.models import Entry, Status, User
from kmwiki.search import index
from kmwiki.services import search

pytestmark = pytest.mark.search_index


def found(app, text):
    with app.test_request_context():
        reader = db.session.scalar(select(User).where(User.username == "alice"))
        return [hit.title for hit in search.search(search.SearchRequest(text=text), reader).hits]


def test_backup_and_restore_round_trip(app, make_user, make_entry, tmp_path):
    alice = make_user("alice")
    make_entry(alice, title="犹豫期退保话术", body="犹豫期内退保全额退还保费。", status=Status.ADOPTED)
    attachments = tmp_path / "instance" / "attachments"
    attachments.mkdir(parents=True, exist_ok=True)
    (attachments / "a1b2c3").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    runner = app.test_cli_runner()
    archive = tmp_path / "backup.tar.gz"

    result = runner.invoke(args=["backup", str(archive)])
    assert result.exit_code == 0, result.output
    assert "1 entries" in result.output
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "manifest.json" in names and "attachments/a1b2c3" in names
    assert any(name.startswith("search_index/") for name in names)

    # After the backup: one more entry (its page read and kept), a lost attachment and a broken index.
    later = make_entry(alice, title="备份之后写的", body="这条不在备份里。", status=Status.ADOPTED)
    make_user("bob")
    bob = app.test_client()
    bob.login("bob")
    assert bob.get(f"/entries/{later}").status_code == 200
    kept_pages = tmp_path / "instance" / pages.FOLDER
    assert list(kept_pages.rglob(f"{later}.html"))
    (attachments / "a1b2c3").unlink()
    refused = runner.invoke(args=["restore", str(archive)])
    assert refused.exit_code == 1 and "--force" in refused.output

    result = runner.invoke(args=["restore", str(archive), "--force"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Entry.id))) == 1
        assert index.check(index.get_index()) == ([], [], [])
    assert (attachments / "a1b2c3").read_bytes().startswith(b"\x89PNG")
    assert not list(kept_pages.rglob("*.html"))  # the restored entries may reach those versions again
    assert found(app, "犹豫期") == ["犹豫期退保话术"]
    assert found(app, "备份之后") == []


def test_backup_never_overwrites_a_file(app, tmp_path):
    target = tmp_path / "exists.tar.gz"
    target.write_bytes(b"keep me")
    result = app.test_cli_runner().invoke(args=["backup", str(target)])
    assert result.exit_code == 1 and "exists" in result.output
    assert target.read_bytes() == b"keep me"


def test_restore_refuses_what_is_not_a_backup(app, tmp_path):
    bogus = tmp_path / "bogus.tar.gz"
    with tarfile.open(bogus, "w:gz"):
        pass
    result = app.test_cli_runner().invoke(args=["restore", str(bogus), "--force"])
    assert result.exit_code != 0
