"""database.hot_row(s): the plain-SQL reads every request makes (the signed-in user, the reader
state, a leaderboard's recent ledger rows)."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, select

from kmwiki.database import hot_row, hot_rows
from kmwiki.extensions import db
from kmwiki.models import PointAward, Reason, User
from kmwiki.services import users


def test_a_hot_read_needs_no_session_and_sees_the_sessions_own_writes(app, make_user):
    user_id = make_user("alice", display_name="王丽")
    with app.app_context():
        assert hot_row(users.SESSION_USER, id=user_id)[1:3] == ("alice", "王丽")
        assert not db.session.registry.has()  # on a pooled connection: no ORM session was made
        assert hot_row(users.SESSION_USER, id=user_id + 1000) is None

        db.session.get(User, user_id).display_name = "王丽丽"
        db.session.flush()  # in the session's open transaction, not committed
        assert hot_row(users.SESSION_USER, id=user_id)[2] == "王丽丽"
        db.session.rollback()
        assert hot_row(users.SESSION_USER, id=user_id)[2] == "王丽"


def test_a_hot_read_leaves_no_transaction_open_on_the_pooled_connection(app, make_user):
    """A read taken outside the session goes back to the pool rolled back: on PostgreSQL an open
    transaction would hold its locks until the connection is next used."""
    user_id = make_user("alice")
    with app.app_context():
        pool = db.engine.pool
        for _ in range(3):
            hot_row(users.SESSION_USER, id=user_id)
            assert pool.checkedout() == 0  # outside a request: taken for the one read
        with app.test_request_context():
            for _ in range(3):
                hot_row(users.SESSION_USER, id=user_id)
                assert pool.checkedout() == 1  # in a request: one connection, kept to its end
        assert pool.checkedout() == 0
        with db.engine.connect() as connection:  # the pool's connection, as the next request gets it
            driver = connection.connection.dbapi_connection
            if db.engine.dialect.name == "postgresql":
                import psycopg
                assert driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            else:
                assert not driver.in_transaction


def test_hot_rows_pass_binds_through_their_types(app, make_user):
    """A datetime bind is stored and compared the way the ORM writes it (UTCDateTime: any zone in, UTC
    stored), so an aware bound in another zone finds the same rows the ORM does."""
    user_id = make_user("alice")
    moment = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    with app.app_context():
        for n, minutes in enumerate((-10, 0, 10)):
            db.session.add(PointAward(user_id=user_id, amount=n + 1, reason=Reason.HELPFUL, cause=f"t:{n}",
                                      created_at=moment + timedelta(minutes=minutes)))
        db.session.commit()
        since = select(PointAward.amount).where(PointAward.created_at >= bindparam("start")).order_by(PointAward.id)
        beijing = moment.astimezone(timezone(timedelta(hours=8)))
        assert [row[0] for row in hot_rows(since, start=beijing)] == [2, 3]
        assert hot_rows(since, start=moment + timedelta(hours=1)) == []
