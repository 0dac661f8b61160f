"""Simultaneous saves from several threads, each with its own database connection."""

import pytest

from sqlalchemy import func, select

from conftest import run_together
from kmwiki.errors import Conflict
from kmwiki.extensions import db
from kmwiki.models import Revision, Status, Tag, User
from kmwiki.services import entries
from kmwiki.services.entries import EditConflict, EntryInput

WRITERS = 4


def edit(text):
    return EntryInput(title="并发编辑", body=text, kind="faq", products=["life"], segments=["general"], tags=["并发"])


def test_of_simultaneous_saves_on_one_base_exactly_one_wins(app, make_user, make_entry):
    user_ids = [make_user(f"agent{i}") for i in range(WRITERS)]
    for attempt in range(3):
        entry_id = make_entry(user_ids[0], title=f"并发编辑{attempt}", status=Status.ADOPTED)

        def save(i):
            return entries.save_edit(entry_id, edit(f"第{i}位的修改"), 1, db.session.get(User, user_ids[i])).number

        results = run_together(app, save, WRITERS)
        winners = [r for r in results if isinstance(r, int)]
        losers = [r for r in results if isinstance(r, EditConflict)]
        assert winners == [2] and len(losers) == WRITERS - 1, results
        with app.app_context():
            rows = db.session.scalars(select(Revision).where(Revision.entry_id == entry_id)).all()
            assert sorted(r.number for r in rows) == [1, 2]


def test_simultaneous_entries_with_the_same_new_tag_share_one_tag_row(app, make_user):
    user_ids = [make_user(f"agent{i}") for i in range(WRITERS)]

    def create(i):
        data = EntryInput(title=f"新标签{i}", body="正文", kind="faq", tags=["全新的标签"])
        return entries.create(data, db.session.get(User, user_ids[i])).id

    results = run_together(app, create, WRITERS)
    assert all(isinstance(r, int) for r in results), results
    with app.app_context():
        assert db.session.scalar(select(func.count(Tag.id)).where(Tag.name == "全新的标签")) == 1


def test_pending_entry_cannot_be_edited(app, make_user, make_entry):
    alice = make_user("alice")
    entry_id = make_entry(alice, status=Status.PENDING)
    with app.app_context(), pytest.raises(Conflict) as refused:
        entries.save_edit(entry_id, edit("x"), 1, db.session.get(User, alice))
    assert not isinstance(refused.value, EditConflict)
