"""Leaderboards and "my points" (DESIGN §5, §8): sums over the ledger, ties, calendar periods in
Asia/Shanghai, team and branch figures, who may see what, pages and API."""
import itertools
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from conftest import PASSWORD
from kmwiki.extensions import db
from kmwiki.models import PointAward, Reason, Status, User
from kmwiki.services import ledger_sums, rankings, review
from kmwiki.services.periods import Period
from kmwiki.services.review import ReviewInput

API = "/api/v1"
UTC = timezone.utc
_causes = itertools.count(1)


def seed(app, user_id, amount, when, reason=Reason.HELPFUL, entry_id=None):
    """Append one ledger row with a chosen time (the app only ever appends with the current time)."""
    with app.app_context():
        db.session.add(PointAward(user_id=user_id, amount=amount, reason=reason, cause=f"test:{next(_causes)}",
                                  entry_id=entry_id, created_at=when))
        db.session.commit()


def board(app, scope="user", period=Period.ALL, now=None, **kwargs):
    with app.app_context():
        return rankings.leaderboard(scope, period, now=now, **kwargs)


def standing(app, user_id, period=Period.ALL, now=None):
    with app.app_context():
        return rankings.standing(db.session.get(User, user_id), period, now=now)


def token(client, username):
    response = client.post(f"{API}/tokens", json={"username": username, "password": PASSWORD})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def assert_error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    return response.get_json()["error"]


def recently():
    """A moment just past, inside every current period but at a period's first minute."""
    return datetime.now(UTC) - timedelta(minutes=1)


# --- ranking rules -------------------------------------------------------------------------------


def test_ties_share_a_rank_and_are_listed_by_name(app, make_user):
    ids = {name: make_user(name, display_name=name.title()) for name in ("dave", "bob", "carol", "alice", "eve")}
    for name, amounts in {"carol": [30], "bob": [15, 5], "alice": [20], "dave": [10], "eve": [5, -5]}.items():
        for amount in amounts:
            seed(app, ids[name], amount, recently())
    rows = board(app)
    assert [(r.rank, r.name, r.points) for r in rows] == [
        (1, "Carol", 30), (2, "Alice", 20), (2, "Bob", 20), (4, "Dave", 10)]  # eve nets zero: not ranked
    assert [r.id for r in board(app, limit=2)] == [ids["carol"], ids["alice"]]
    assert standing(app, ids["bob"]) == rankings.Standing(Period.ALL, 20, 2, 4)
    assert standing(app, ids["eve"]) == rankings.Standing(Period.ALL, 0, None, 4)


def test_negative_totals_rank_below_everyone_with_points(app, make_user):
    ann, ben = make_user("ann"), make_user("ben")
    seed(app, ann, 5, recently())
    seed(app, ben, 10, recently(), Reason.ENTRY_ADOPTED)
    seed(app, ben, -12, recently(), Reason.RETRACTION)
    assert [(r.rank, r.id, r.points, r.adopted) for r in board(app)] == [(1, ann, 5, 0), (2, ben, -2, 1)]


@pytest.mark.parametrize("period, last_moment_before", [
    # A calendar period starts at 00:00 in Asia/Shanghai, which is 16:00 UTC the day before.
    (Period.WEEK, datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC)),      # Sunday 23:59:59 in Shanghai
    (Period.MONTH, datetime(2026, 1, 31, 15, 59, 59, tzinfo=UTC)),
    (Period.QUARTER, datetime(2026, 3, 31, 15, 59, 59, tzinfo=UTC)),
    (Period.YEAR, datetime(2025, 12, 31, 15, 59, 59, tzinfo=UTC)),
])
def test_period_boundaries_follow_shanghai_time(app, make_user, period, last_moment_before):
    old, new = make_user("old"), make_user("new")
    seed(app, old, 7, last_moment_before)
    seed(app, new, 9, last_moment_before + timedelta(seconds=1))  # 16:00:00 UTC: the next period in Shanghai
    before = board(app, period=period, now=last_moment_before - timedelta(hours=12))
    after = board(app, period=period, now=last_moment_before + timedelta(hours=12))
    assert [(r.id, r.points) for r in before] == [(old, 7)]
    assert [(r.id, r.points) for r in after] == [(new, 9)]
    assert [r.id for r in board(app, period=Period.ALL)] == [new, old]


def test_rows_added_after_a_board_was_read_are_counted_once(app, make_user):
    """Backdated rows inserted after the board was first read still count, in their own period only."""
    ann = make_user("ann")
    now = datetime(2026, 5, 20, 4, tzinfo=UTC)
    seed(app, ann, 3, datetime(2026, 5, 2, tzinfo=UTC))
    assert board(app, period=Period.MONTH, now=now)[0].points == 3
    seed(app, ann, 4, datetime(2026, 5, 3, tzinfo=UTC))
    seed(app, ann, 50, datetime(2026, 4, 30, 15, 59, tzinfo=UTC))  # still April in Shanghai
    assert board(app, period=Period.MONTH, now=now)[0].points == 7
    assert board(app, period=Period.MONTH, now=now)[0].points == 7
    assert standing(app, ann, Period.MONTH, now=now).points == 7


def test_sums_stay_exact_as_the_settled_horizon_moves(app, make_user, monkeypatch):
    """The per-process sums of settled history roll forward hour by hour without losing or doubling rows."""
    ann, ben = make_user("ann"), make_user("ben")
    clock = datetime(2026, 6, 10, 8, 30, tzinfo=UTC)
    monkeypatch.setattr(ledger_sums, "utcnow", lambda: clock)
    seed(app, ann, 1, clock - timedelta(hours=5))
    seed(app, ann, 2, clock - timedelta(minutes=5))  # not settled yet
    seed(app, ben, 4, clock - timedelta(minutes=50), Reason.ENTRY_ADOPTED)

    def totals():
        rows = board(app, period=Period.MONTH, now=clock)
        return {r.id: (r.points, r.adopted) for r in rows}

    assert totals() == {ann: (3, 0), ben: (4, 1)}
    for step in range(1, 4):
        clock += timedelta(minutes=40)
        seed(app, ben, 10, clock - timedelta(minutes=1), Reason.EDIT_ADOPTED)
        seed(app, ann, 100, clock - timedelta(days=1))  # a backfill into already settled time
        assert totals() == {ann: (3 + 100 * step, 0), ben: (4 + 10 * step, 1 + step)}
    with app.app_context():
        assert db.session.scalar(select(func.sum(PointAward.amount))) == sum(p for p, _ in totals().values())


def test_recent_rows_reorder_the_settled_ranking_exactly(app, make_user):
    """A request's recent rows move people past each other, out of the ranking (back to zero) and into
    it: every rank and the count of people ranked match a ranking counted afresh."""
    ann, ben, cat, dan = (make_user(name) for name in ("ann", "ben", "cat", "dan"))
    long_ago = recently() - timedelta(days=2)
    for user_id, amount in ((ann, 5), (ben, 3), (cat, 3)):
        seed(app, user_id, amount, long_ago)
    assert [standing(app, u, Period.ALL).rank for u in (ann, ben, cat, dan)] == [1, 2, 2, None]
    for user_id, amount in ((ben, 4), (ann, -5), (dan, 3), (cat, -4)):  # not settled yet
        seed(app, user_id, amount, recently())
    standings = [standing(app, u, Period.ALL) for u in (ann, ben, cat, dan)]
    assert [(s.points, s.rank) for s in standings] == [(0, None), (7, 1), (-1, 3), (3, 2)]
    assert {s.ranked for s in standings} == {3}
    assert [(r.name, r.rank) for r in board(app, period=Period.ALL)] == [("ben", 1), ("dan", 2), ("cat", 3)]


@pytest.mark.parametrize("limit", [1, 3, 4, 100])
def test_a_boards_top_follows_recent_rows_across_its_cut(app, make_user, limit):
    """The top of a board is read from the settled order plus the people recent rows touch: someone
    rising past the cut, someone falling out of it and a tie at the cut give the rows of a count afresh."""
    settled = {"amy": 9, "bob": 8, "cal": 7, "dee": 7, "eve": 6, "fay": 5, "gus": 4, "hal": 3}
    ids = {name: make_user(name) for name in settled}
    for name, amount in settled.items():
        seed(app, ids[name], amount, recently() - timedelta(days=2))
    board(app, period=Period.ALL, limit=limit)  # the settled order is taken
    for name, amount in (("hal", 10), ("bob", -6), ("eve", 1)):  # not settled yet
        seed(app, ids[name], amount, recently())
    with app.app_context():
        totals = dict(db.session.execute(select(PointAward.user_id, func.sum(PointAward.amount))
                                         .group_by(PointAward.user_id)).all())
    by_id = {user_id: name for name, user_id in ids.items()}
    fresh = sorted(totals, key=lambda user_id: (-totals[user_id], by_id[user_id]))
    expected = [(by_id[u], totals[u], 1 + sum(1 for v in totals.values() if v > totals[u])) for u in fresh][:limit]
    assert [(r.name, r.points, r.rank) for r in board(app, period=Period.ALL, limit=limit)] == expected
    assert expected[0] == ("hal", 13, 1)


def test_board_names_are_kept_and_follow_renames_made_in_another_worker(app, make_user, other_worker, monkeypatch):
    ann = make_user("ann", display_name="Ann Agent", team="North/N1")
    seed(app, ann, 5, recently())

    def first_row():
        row = board(app, period=Period.ALL, limit=10)[0]
        return row.name, row.team, row.branch

    assert first_row() == ("Ann Agent", "N1", "North")
    asked = []
    real = rankings._names
    monkeypatch.setattr(rankings, "_names", lambda ids: asked.append(len(ids)) or real(ids))
    queried = []
    monkeypatch.setattr(rankings, "select", lambda *columns: queried.append(columns) or select(*columns))
    assert first_row() == ("Ann Agent", "N1", "North") and asked and not queried  # kept: no names query

    def in_other_worker(change):
        with other_worker.app_context():
            change(db.session.get(User, ann))
            db.session.commit()

    in_other_worker(lambda user: setattr(user, "display_name", "Ann Wang"))
    assert first_row() == ("Ann Wang", "N1", "North")
    in_other_worker(lambda user: setattr(user.team, "name", "N1 East"))
    assert first_row() == ("Ann Wang", "N1 East", "North")
    in_other_worker(lambda user: setattr(user.team.branch, "name", "North Coast"))
    assert first_row() == ("Ann Wang", "N1 East", "North Coast")
    in_other_worker(lambda user: setattr(user, "team_id", None))
    assert first_row() == ("Ann Wang", None, None)


# --- teams and branches --------------------------------------------------------------------------


@pytest.fixture
def org(app, make_user):
    """Branch North: team N1 (two agents, a leader), team N2 (one agent); branch South: team S1 (three agents)."""
    people = {
        "n1a": make_user("n1a", team="North/N1"), "n1b": make_user("n1b", team="North/N1"),
        "lead": make_user("lead", roles=["leader"], team="North/N1"),
        "n2a": make_user("n2a", team="North/N2"),
        "s1a": make_user("s1a", team="South/S1"), "s1b": make_user("s1b", team="South/S1"),
        "s1c": make_user("s1c", team="South/S1"),
        "boss": make_user("boss", roles=["leader"]),
    }
    seed(app, people["n1a"], 30, recently(), Reason.ENTRY_ADOPTED)
    seed(app, people["lead"], 4, recently(), Reason.REVIEW)
    seed(app, people["n2a"], 20, recently(), Reason.HELPFUL)
    for name in ("s1a", "s1b", "s1c"):
        seed(app, people[name], 10, recently(), Reason.ENTRY_ADOPTED)
    seed(app, people["s1a"], 100, recently() - timedelta(days=400), Reason.ENTRY_ADOPTED)  # long ago
    return people


def test_team_board_ranks_by_points_per_agent_with_participation(app, org):
    rows = board(app, "team", Period.YEAR)
    assert [(r.rank, r.name, r.branch, r.points, r.members, r.points_per_agent, r.participation, r.adopted)
            for r in rows] == [
        (1, "N2", "North", 20, 1, 20.0, 0.0, 0),
        (2, "N1", "North", 34, 2, 17.0, 0.5, 1),   # the leader's review points count, but he is no agent
        (3, "S1", "South", 30, 3, 10.0, 1.0, 3),
    ]
    assert [r.name for r in board(app, "team", Period.YEAR, sort="total")] == ["N1", "S1", "N2"]
    assert [r.name for r in board(app, "team", Period.YEAR, sort="participation")] == ["S1", "N1", "N2"]
    all_time = {r.name: r for r in board(app, "team", Period.ALL, sort="total")}
    assert all_time["S1"].points == 130 and all_time["S1"].rank == 1


def test_branch_board_and_its_ties(app, org, make_user):
    make_user("w1", team="West/W1")  # a branch without points still shows, last
    rows = board(app, "branch", Period.YEAR)
    assert [(r.rank, r.name, r.points, r.members, r.points_per_agent, r.participation) for r in rows] == [
        (1, "North", 54, 3, 18.0, 0.3333), (2, "South", 30, 3, 10.0, 1.0), (3, "West", 0, 1, 0.0, 0.0)]
    seed(app, org["s1a"], 24, recently(), Reason.HELPFUL)
    assert [(r.rank, r.name) for r in board(app, "branch", Period.YEAR)] == [(1, "North"), (1, "South"), (3, "West")]


def test_inactive_agents_are_no_members(app, org):
    with app.app_context():
        db.session.get(User, org["s1c"]).active = False
        db.session.commit()
    s1 = next(r for r in board(app, "team", Period.YEAR) if r.name == "S1")
    assert (s1.points, s1.members, s1.points_per_agent, s1.participation) == (30, 2, 15.0, 1.0)


# --- pages ---------------------------------------------------------------------------------------


def test_leaderboard_page_shows_own_standing_and_highlights_own_row(app, client, make_user):
    ann, ben = make_user("ann", display_name="Ann Agent"), make_user("ben", display_name="Ben Agent")
    seed(app, ann, 12, datetime.now(UTC))
    seed(app, ben, 30, datetime.now(UTC))
    client.login("ann")
    page = client.get("/leaderboard?period=week")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    table = html.split("<tbody>")[1]
    assert table.index("Ben Agent") < table.index("Ann Agent")
    assert html.count('class="is-me"') == 1
    highlighted = html.split('class="is-me"')[1].split("</tr>")[0]
    assert "Ann Agent" in highlighted and ">2<" in highlighted
    assert "scope=team" not in html and "scope=branch" not in html  # agents get no team or branch tabs
    assert client.get("/leaderboard").status_code == 200
    assert client.get("/leaderboard?scope=user&period=all").status_code == 200


def test_kept_board_rows_mark_each_viewer_and_follow_new_points(app, make_client, make_user):
    """Rows are kept once rendered: each viewer still sees only their own row marked, and a row whose
    figures changed is shown with the new ones."""
    ann, ben = make_user("ann", display_name="Ann Agent"), make_user("ben", display_name="Ben Agent")
    seed(app, ann, 12, datetime.now(UTC))
    seed(app, ben, 30, datetime.now(UTC))

    def marked(username):
        client = make_client()
        client.login(username)
        html = client.get("/leaderboard?period=week").get_data(as_text=True)
        assert html.count('class="is-me"') == 1
        return html.split('class="is-me"')[1].split("</tr>")[0], html.split("<tbody>")[1]

    for _ in range(2):  # the second round is served kept rows
        assert "Ann Agent" in marked("ann")[0] and "Ben Agent" in marked("ben")[0]
    seed(app, ann, 25, datetime.now(UTC))
    own, table = marked("ben")
    assert "Ben Agent" in own and ">2<" in own  # ann passed ben: his row is now second
    assert table.index("Ann Agent") < table.index("Ben Agent") and ">37<" in table


def test_a_board_page_sums_its_period_once_and_the_next_request_sums_again(app, client, make_user, monkeypatch):
    ann = make_user("ann")
    seed(app, ann, 12, datetime.now(UTC))
    client.login("ann")
    taken = []
    real = ledger_sums._user_sums
    monkeypatch.setattr(ledger_sums, "_user_sums", lambda window: taken.append(window) or real(window))
    with app.app_context():  # one app context over both requests, as the test client shares it
        assert ">12<" in client.get("/leaderboard?period=week").get_data(as_text=True)
        assert len(taken) == 1  # the board and the viewer's standing share one sum
        seed(app, ann, 30, datetime.now(UTC))
        assert ">42<" in client.get("/leaderboard?period=week").get_data(as_text=True)
        assert len(taken) == 2


def test_a_leader_sees_their_own_team_and_branch_marked(app, client, make_user):
    other = make_user("oli", team="South/S1")
    make_user("sam", team="South/S2")  # so that N1's id is not North's
    leader = make_user("lee", roles=["leader", "agent"], team="North/N1")
    seed(app, leader, 5, datetime.now(UTC))
    seed(app, other, 9, datetime.now(UTC))
    client.login("lee")
    for scope, mine in (("team", "N1"), ("branch", "North")):
        html = client.get(f"/leaderboard?scope={scope}&period=week").get_data(as_text=True)
        assert html.count('class="is-me"') == 1, scope
        assert f"<td>{mine} <span" in html.split('class="is-me"')[1].split("</tr>")[0], scope
    assert "North · N1" in client.get("/profile").get_data(as_text=True)


def test_agent_cannot_open_team_or_branch_boards(app, client, make_user):
    make_user("ann", team="North/N1")
    client.login("ann")
    assert client.get("/leaderboard?scope=team").status_code == 403
    assert client.get("/leaderboard?scope=branch&period=year").status_code == 403
    headers = token(client, "ann")
    assert assert_error(client.get(f"{API}/leaderboard?scope=team", headers=headers), 403)["code"] == "forbidden"
    assert client.get(f"{API}/leaderboard?scope=branch", headers=headers).status_code == 403
    assert client.get(f"{API}/leaderboard?scope=user", headers=headers).status_code == 200


def test_leaders_and_admins_see_every_board(app, client, org, make_user):
    make_user("root", roles=["admin"])
    client.login("boss")
    html = client.get("/leaderboard?scope=team&period=year").get_data(as_text=True)
    assert "scope=branch" in html and "N2" in html and "20.0" in html and "50%" in html
    assert client.get("/leaderboard?scope=branch&period=year&sort=participation").status_code == 200
    admin = token(client, "root")
    body = client.get(f"{API}/leaderboard?scope=branch&period=year", headers=admin).get_json()
    assert body["rows"][0] == {"rank": 1, "id": body["rows"][0]["id"], "name": "North", "points": 54, "adopted": 1,
                               "members": 3, "points_per_agent": 18.0, "participation": 0.3333, "branch": None}
    assert body["sort"] == "per_agent"


def test_unknown_scope_period_or_sort_is_a_clear_error(app, client, make_user):
    make_user("boss", roles=["leader"])
    headers = token(client, "boss")
    for query in ("scope=everyone", "period=decade", "scope=team&sort=loudest"):
        error = assert_error(client.get(f"{API}/leaderboard?{query}", headers=headers), 422)
        assert error["code"] == "invalid" and error["fields"]
    client.login("boss")
    assert client.get("/leaderboard?period=decade").status_code == 422


def test_pages_need_a_sign_in(client):
    assert client.get("/leaderboard").status_code == 302
    assert client.get("/me/points").status_code == 302
    assert client.get(f"{API}/users/me/points").status_code == 401


# --- my points -----------------------------------------------------------------------------------


def test_my_points_page_and_api_show_the_rows_that_make_the_total(app, client, make_user, make_entry):
    ann, ben = make_user("ann"), make_user("ben")
    entry = make_entry(ann, title="高净值客户的年金话术", status=Status.ADOPTED)
    hidden = make_entry(ben, title="别人的草稿")
    now = datetime.now(UTC)
    seed(app, ann, 20, now - timedelta(days=500), Reason.ENTRY_ADOPTED, entry)
    seed(app, ann, -20, now - timedelta(days=3), Reason.RETRACTION, entry)
    seed(app, ann, 2, now - timedelta(minutes=1), Reason.REVIEW, hidden)
    seed(app, ann, 1, now, Reason.HELPFUL, entry)
    seed(app, ben, 9, now)
    client.login("ann")
    html = client.get("/me/points").get_data(as_text=True)
    assert "高净值客户的年金话术" in html and "别人的草稿" not in html
    assert "+20" in html and "-20" in html and "+2" in html

    body = client.get(f"{API}/users/me/points", headers=token(client, "ann")).get_json()
    assert body["total"] == 3 == sum(row["amount"] for row in body["rows"])
    assert [row["amount"] for row in body["rows"]] == [1, 2, -20, 20]  # newest first
    assert body["rows"][0] == {"amount": 1, "reason": "helpful", "entry_id": entry, "entry_title": "高净值客户的年金话术",
                               "created_at": body["rows"][0]["created_at"]}
    assert body["rows"][1]["entry_id"] == hidden and body["rows"][1]["entry_title"] is None
    assert set(body["ranks"]) == {"week", "month", "quarter", "year", "all"}
    assert body["rank"] == 2 and body["ranks"]["all"] == {"rank": 2, "points": 3, "ranked": 2}
    assert datetime.fromisoformat(body["rows"][0]["created_at"]).tzinfo is not None


def test_my_points_without_points(app, client, make_user):
    make_user("new")
    client.login("new")
    assert client.get("/me/points").status_code == 200
    body = client.get(f"{API}/users/me/points", headers=token(client, "new")).get_json()
    assert body == {"total": 0, "rank": None, "rows": [],
                    "ranks": {p: {"rank": None, "points": 0, "ranked": 0} for p in Period}}


# --- the real workflow ---------------------------------------------------------------------------


def test_points_from_an_adopted_review_appear_on_the_board(app, client, make_user, make_entry):
    author = make_user("author", display_name="Author", team="North/N1")
    make_user("checker", roles=["reviewer"], display_name="Checker", team="North/N1")
    make_user("boss", roles=["leader"])
    headers = token(client, "boss")
    assert client.get(f"{API}/leaderboard?period=week", headers=headers).get_json()["rows"] == []  # read first
    entry = make_entry(author, kind="objection_handling")
    with app.app_context():
        review.submit(entry, db.session.get(User, author))
        verdict = ReviewInput(scores={"accuracy": 4, "usefulness": 4, "clarity": 4, "originality": 4},
                              compliance=True, decision="adopt")
        review.decide(entry, verdict, db.session.get(User, db.session.scalar(
            select(User.id).where(User.username == "checker"))))
    rows = client.get(f"{API}/leaderboard?period=week", headers=headers).get_json()["rows"]
    assert [(r["rank"], r["name"], r["points"], r["adopted"]) for r in rows] == [
        (1, "Author", 20, 1), (2, "Checker", 2, 0)]  # objection handling 15 × 4/3; a review pays 2
    team = client.get(f"{API}/leaderboard?scope=team&period=week", headers=headers).get_json()["rows"]
    assert [(r["name"], r["points"], r["members"], r["participation"]) for r in team] == [("N1", 22, 1, 1.0)]
    mine = client.get(f"{API}/users/me/points", headers=token(client, "author")).get_json()
    assert mine["total"] == 20 and mine["ranks"]["week"]["rank"] == 1
    assert mine["rows"][0]["reason"] == "entry_adopted" and mine["rows"][0]["entry_id"] == entry


def test_openapi_describes_the_ranking_endpoints(client):
    paths = client.get(f"{API}/openapi.json").get_json()["paths"]
    assert "get" in paths["/leaderboard"] and "get" in paths["/users/me/points"]
