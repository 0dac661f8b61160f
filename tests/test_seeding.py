"""seed-scale: an empty database filled in bulk, consistent enough to rank, search and browse."""
import random
from datetime import datetime, timezone

from sqlalchemy import func, select

from kmwiki.extensions import db
from kmwiki.models import Entry, PointAward, Status, Team, User, Vocabulary
from kmwiki.search import index
from kmwiki.services import entries, rankings, reading, seeding


def test_seed_scale_fills_an_empty_database(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-scale", "--entries", "120", "--users", "60", "--teams", "6",
                                 "--branches", "2", "--ledger", "3000", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert "Indexed 120 entries" in result.output
    with app.test_request_context():
        count = lambda column: db.session.scalar(select(func.count(column)))  # noqa: E731
        assert (count(User.id), count(Team.id), count(PointAward.id)) == (60, 6, 3000)
        assert db.session.scalar(select(func.count(Entry.id)).where(Entry.status == Status.ADOPTED)) == 120
        assert index.check(index.get_index()) == ([], [], [])
        board = rankings.leaderboard("user", "all", limit=10)
        assert len(board) == 10 and board[0].points >= board[-1].points
        # Classified like entries saved through the editor: browsable and related by product, segment, tag.
        entry = db.session.get(Entry, 1)
        revision = entries.revision(entry, 1)
        assert sorted(c.slug for c in entry.categories if c.vocabulary != Vocabulary.KIND) == \
            sorted(revision.products + revision.segments)
        assert [t.name for t in entry.tags] == sorted(revision.tags)
        assert reading.related(entry)
    again = runner.invoke(args=["seed-scale", "--entries", "1", "--users", "1", "--teams", "1", "--ledger", "1"])
    assert again.exit_code == 1 and "empty database" in again.output


def test_the_same_seed_gives_the_same_ledger(app):
    app.test_cli_runner().invoke(args=["seed-scale", "--entries", "0", "--users", "20", "--teams", "2",
                                       "--ledger", "200", "--no-index"])
    with app.app_context():
        first = db.session.execute(select(PointAward.user_id, PointAward.amount).order_by(PointAward.id)).all()
    scale = seeding.Scale(teams=2, users=20, entries=0, ledger=200)
    rng = random.Random(scale.seed)
    seeding.people(scale, rng)
    expected = [(user, amount) for user, amount, *_ in seeding.ledger(scale, rng, datetime.now(timezone.utc))]
    assert [tuple(row) for row in first] == expected
