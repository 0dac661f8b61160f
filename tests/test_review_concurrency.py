"""Exactly once under concurrency (DESIGN §4): simultaneous adopt decisions, double submits, helpful
votes and submits from several threads (SQLite and PostgreSQL), and from several processes (PostgreSQL)."""
import multiprocessing

import pytest
from sqlalchemy import func, select, update

from conftest import run_together
from kmwiki import create_app
from kmwiki.errors import Conflict, KmwikiError
from kmwiki.extensions import db
from kmwiki.models import AuditEvent, Entry, HelpfulVote, Notification, PointAward, PointRule, Review, Status, User
from kmwiki.services import feedback, review
from kmwiki.services.review import ReviewInput

WORKERS = 4
SCORES = {"accuracy": 4, "usefulness": 4, "clarity": 4, "originality": 4}


def adopt_verdict():
    return ReviewInput(scores=dict(SCORES), compliance=True, decision="adopt", comment="")


def codes(results):
    """Each result as "ok" or the error code it raised; anything but a domain error fails the test."""
    out = []
    for result in results:
        if isinstance(result, BaseException):
            assert isinstance(result, KmwikiError), repr(result)
            out.append(result.code)
        else:
            out.append("ok")
    return sorted(out)


def count(app, *where, model=PointAward):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def pending(app, make_entry):
    """A draft by `author_id`, submitted for review; returns its id."""

    def factory(author_id, **fields):
        entry_id = make_entry(author_id, kind="client_case", **fields)
        with app.app_context():
            review.submit(entry_id, db.session.get(User, author_id))
        return entry_id

    return factory


@pytest.fixture
def reviewers(make_user):
    return [make_user(f"rev{i}", roles=["reviewer", "agent"]) for i in range(WORKERS)]


def test_simultaneous_adopts_by_different_reviewers_adopt_and_pay_once(app, make_user, reviewers, pending):
    author = make_user("alice")
    for attempt in range(2):
        entry_id = pending(author, title=f"同时采纳{attempt}")

        def adopt(i):
            review.decide(entry_id, adopt_verdict(), db.session.get(User, reviewers[i]))

        results = run_together(app, adopt, WORKERS)
        assert codes(results) == ["illegal_transition"] * (WORKERS - 1) + ["ok"], results
        assert all(isinstance(r, Conflict) and r.status == 409 for r in results if r is not None)
        with app.app_context():
            entry = db.session.get(Entry, entry_id)
            assert (entry.status, entry.published_number, entry.review_number) == (Status.ADOPTED, 1, 1)
        assert count(app, PointAward.entry_id == entry_id, PointAward.reason == "entry_adopted") == 1
        assert count(app, PointAward.cause == f"adopt:entry:{entry_id}") == 1
        assert count(app, Review.entry_id == entry_id, model=Review) == 1
        assert count(app, PointAward.entry_id == entry_id, PointAward.reason == "review") == 1
        assert count(app, AuditEvent.entry_id == entry_id, AuditEvent.action == "decision:adopt", model=AuditEvent) == 1
        assert count(app, Notification.entry_id == entry_id, Notification.kind == "adopted", model=Notification) == 1


@pytest.mark.parametrize("required, expected", [
    (1, ["illegal_transition"] * (WORKERS - 1) + ["ok"]),  # the first adopts; the rest find it decided
    (2, ["already_reviewed"] * (WORKERS - 1) + ["ok"]),  # still pending: the unique key refuses the repeats
])
def test_the_same_reviewer_submitting_several_times_at_once_reviews_once(app, make_user, reviewers, pending,
                                                                         required, expected):
    app.config["REVIEWS_REQUIRED"] = required
    entry_id = pending(make_user("alice"))

    def double_click(i):
        review.decide(entry_id, adopt_verdict(), db.session.get(User, reviewers[0]))

    assert codes(run_together(app, double_click, WORKERS)) == expected
    assert count(app, Review.entry_id == entry_id, model=Review) == 1
    assert count(app, PointAward.reason == "review") == 1
    assert count(app, PointAward.cause == f"review:{entry_id}:1:{reviewers[0]}") == 1
    assert count(app, PointAward.reason == "entry_adopted") == (1 if required == 1 else 0)
    with app.app_context():
        assert db.session.get(Entry, entry_id).status == (Status.ADOPTED if required == 1 else Status.PENDING)


def test_two_required_adopts_arriving_together_adopt_exactly_once(app, make_user, reviewers, pending):
    app.config["REVIEWS_REQUIRED"] = 2
    entry_id = pending(make_user("alice"))

    def adopt(i):
        review.decide(entry_id, adopt_verdict(), db.session.get(User, reviewers[i]))

    assert codes(run_together(app, adopt, WORKERS)) == ["illegal_transition"] * (WORKERS - 2) + ["ok", "ok"]
    assert count(app, Review.entry_id == entry_id, model=Review) == 2
    assert count(app, PointAward.reason == "review") == 2
    assert count(app, PointAward.reason == "entry_adopted") == 1
    with app.app_context():
        assert db.session.get(Entry, entry_id).status == Status.ADOPTED


@pytest.mark.parametrize("cap, voters", [(4, 6), (20, 6)])
def test_simultaneous_helpful_votes_respect_the_cap_and_pay_each_vote_at_most_once(app, make_user, make_entry,
                                                                                    cap, voters):
    author = make_user("alice")
    voter_ids = [make_user(f"voter{i}") for i in range(voters)]
    entry_id = make_entry(author, status=Status.ADOPTED)
    with app.app_context():
        db.session.execute(update(PointRule).where(PointRule.key == "helpful.daily_cap").values(value=cap))
        db.session.commit()

    def vote(i):  # every voter clicks twice at the same moment
        return feedback.vote_helpful(entry_id, db.session.get(User, voter_ids[i % voters]))

    results = run_together(app, vote, count=voters * 2)
    assert codes(results) == ["already_voted"] * voters + ["ok"] * voters
    assert count(app, HelpfulVote.entry_id == entry_id, model=HelpfulVote) == voters
    paid = min(cap, voters)
    with app.app_context():
        causes = db.session.scalars(select(PointAward.cause).where(PointAward.reason == "helpful")).all()
        assert db.session.scalar(select(func.sum(PointAward.amount)).where(PointAward.user_id == author)) == paid
        assert db.session.scalar(select(func.count()).select_from(PointAward)
                                 .where(PointAward.user_id.in_(voter_ids))) == 0
    assert len(causes) == paid and sorted(int(c.rsplit(":", 1)[1]) for c in causes) == list(range(1, paid + 1))


def test_simultaneous_submits_make_one_transition(app, make_user, make_entry, reviewers):
    author = make_user("alice")
    entry_id = make_entry(author)

    def submit(i):
        review.submit(entry_id, db.session.get(User, author))

    assert codes(run_together(app, submit, WORKERS)) == ["illegal_transition"] * (WORKERS - 1) + ["ok"]
    with app.app_context():
        entry = db.session.get(Entry, entry_id)
        assert (entry.status, entry.review_number) == (Status.PENDING, 1)
    assert count(app, AuditEvent.entry_id == entry_id, AuditEvent.action == "submitted", model=AuditEvent) == 1
    assert count(app, Notification.entry_id == entry_id, Notification.kind == "review_requested",
                 model=Notification) == len(reviewers)


# --- several processes ----------------------------------------------------------------------------


def decide_in_process(database_uri, entry_id, reviewer_id, required, barrier, results):
    """One server process: its own app, engine and session, deciding at the barrier's signal."""
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "SQLALCHEMY_DATABASE_URI": database_uri,
                      "REVIEWS_REQUIRED": required})
    with app.app_context():
        reviewer = db.session.get(User, reviewer_id)
        try:
            barrier.wait(timeout=60)
            review.decide(entry_id, adopt_verdict(), reviewer)
            results.put((reviewer_id, "ok"))
        except KmwikiError as error:
            results.put((reviewer_id, error.code))
        except Exception as error:  # reported to the test, which fails on it
            results.put((reviewer_id, f"crash: {error!r}"))
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("required", [1, 2])
def test_adopt_decisions_from_several_processes_pay_once_per_cause(app, make_user, reviewers, pending, required):
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if not uri.startswith("postgresql"):
        pytest.skip("several processes writing one SQLite file test SQLite's file lock, not kmwiki: "
                    "the multi-process test runs on PostgreSQL only")
    entry_id = pending(make_user("alice"))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    processes = [context.Process(target=decide_in_process, args=(uri, entry_id, reviewer_id, required, barrier,
                                                                 results))
                 for reviewer_id in reviewers]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert sorted(code for _, code in outcomes) == ["illegal_transition"] * (WORKERS - required) + ["ok"] * required

    with app.app_context():
        duplicated = db.session.execute(select(PointAward.cause).group_by(PointAward.cause)
                                        .having(func.count() > 1)).all()
        assert duplicated == []
        assert db.session.scalar(select(func.count()).select_from(PointAward)
                                 .where(PointAward.reason == "entry_adopted")) == 1
        recorded = db.session.scalars(select(Review.reviewer_id).where(Review.entry_id == entry_id)).all()
        assert len(recorded) == required
        assert sorted(db.session.scalars(select(PointAward.user_id).where(PointAward.reason == "review"))) == sorted(
            recorded)
        assert sorted(reviewer_id for reviewer_id, code in outcomes if code == "ok") == sorted(recorded)
        entry = db.session.get(Entry, entry_id)
        assert (entry.status, entry.published_number) == (Status.ADOPTED, 1)
