"""database.hot_row: the plain-SQL reads every request makes (the signed-in user, the reader state)."""
from kmwiki.database import hot_row
from kmwiki.extensions import db
from kmwiki.models import User
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
