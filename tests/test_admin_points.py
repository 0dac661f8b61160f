"""The admin view of the points ledger (/admin/points, its CSV and GET /api/v1/points): admins only,
filters, keyset pages that stay complete while rows arrive, totals, retractions with admin and reason."""
import csv
import io
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from kmwiki.extensions import db
from kmwiki.models import PointAward, User
from kmwiki.services import ledger_sums, review
from kmwiki.services.review import ReviewInput

API = "/api/v1"
SCORES = {"accuracy": 4, "usefulness": 4, "clarity": 4, "originality": 4}  # mean 4
T0 = datetime(2024, 3, 31, 16, 30, tzinfo=timezone.utc)  # 2024-04-01 00:30 in Asia/Shanghai
ROW_ID = re.compile(r'<tr>\s*<td><time datetime="([^"]+)"')


def add_rows(app, username, count, reason="helpful", amount=1, at=T0, step=timedelta(0), entry_id=None, tag="r"):
    """Ledger rows written straight into the table at chosen times (`step` apart; 0 = the same instant)."""
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.username == username))
        rows = [PointAward(user_id=user_id, amount=amount, reason=reason, cause=f"{tag}:{username}:{at}:{i}",
                           entry_id=entry_id, created_at=at + step * i) for i in range(count)]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


def db_user_id(app, username):
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.username == username))


def newest_first(app):
    """Every ledger row id in the order the ledger view promises: time, then id, newest first."""
    with app.app_context():
        return db.session.scalars(select(PointAward.id)
                                  .order_by(PointAward.created_at.desc(), PointAward.id.desc())).all()


@pytest.fixture
def adopt_and_retract(app, make_entry):
    """An entry adopted by a review and then retracted by an admin, through the services."""

    def factory(author_id, reviewer_id, admin_id, reason, **entry_fields):
        entry_id = make_entry(author_id, **entry_fields)
        with app.app_context():
            review.submit(entry_id, db.session.get(User, author_id))
            review.decide(entry_id, ReviewInput(scores=dict(SCORES), compliance=True, decision="adopt"),
                          db.session.get(User, reviewer_id))
            review.retract(entry_id, db.session.get(User, admin_id), reason)
        return entry_id

    return factory


@pytest.fixture
def admin(make_client, make_user):
    make_user("root", roles=["admin"], display_name="系统管理员")
    browser = make_client()
    browser.login("root")
    return browser


def page_text(client, **args):
    response = client.get("/admin/points", query_string=args)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def api_page(client, headers, **args):
    response = client.get(f"{API}/points", query_string=args, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# --- who may see it -------------------------------------------------------------------------------


@pytest.mark.parametrize("roles", [["agent"], ["reviewer", "agent"], ["leader", "agent"]])
def test_non_admins_get_403_on_the_ledger_its_csv_and_api(client, make_user, api, roles):
    make_user("someone", roles=roles)
    client.login("someone")
    assert client.get("/admin/points").status_code == 403
    assert client.get("/admin/points.csv").status_code == 403
    response = client.get(f"{API}/points", headers=api("someone"))
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


def test_anonymous_is_sent_to_login_and_the_api_wants_a_token(client):
    assert client.get("/admin/points").headers["Location"].startswith("/login")
    assert client.get("/admin/points.csv").headers["Location"].startswith("/login")
    assert client.get(f"{API}/points").status_code == 401


def test_the_ledger_is_a_tab_beside_the_audit_log(admin):
    audit = admin.get("/admin/audit").get_data(as_text=True)
    assert 'href="/admin/points"' in audit and "积分流水" in audit
    assert 'aria-current="page" class="active">积分流水' in page_text(admin)


# --- what it shows --------------------------------------------------------------------------------


def test_rows_show_time_in_the_time_zone_user_team_reason_amount_and_entry(app, admin, make_user, make_entry):
    lina = make_user("lina", display_name="李娜", team="上海分公司/浦东一部")
    entry_id = make_entry(lina, title="重疾险的等待期怎么讲")
    add_rows(app, "lina", 1, reason="entry_adopted", amount=27, entry_id=entry_id)
    page = page_text(admin)
    assert "2024-04-01 00:30" in page  # 16:30 UTC is the next morning in Asia/Shanghai
    assert "李娜" in page and "lina" in page and "上海分公司 · 浦东一部" in page
    assert "条目被采纳" in page and "+27" in page
    assert f'href="/entries/{entry_id}">重疾险的等待期怎么讲</a>' in page
    assert "r:lina:" in page  # the cause


def test_a_retraction_row_shows_the_admin_and_the_reason(app, admin, make_user, adopt_and_retract):
    alice = make_user("alice", display_name="王芳")
    rita = make_user("rita", roles=["reviewer", "agent"])
    root = db_user_id(app, "root")
    entry_id = adopt_and_retract(alice, rita, root, "条款已更新，内容过时", kind="faq")
    page = page_text(admin, reason="retraction")
    assert "采纳被撤回" in page and "-13" in page  # 10 × 4/3, reversed
    assert "由 系统管理员 撤回：条款已更新，内容过时" in page
    # the adoption row of the same entry is shown too, but not as retracted
    whole = page_text(admin, entry=entry_id)
    assert whole.count("由 系统管理员 撤回") == 1 and "+13" in whole and "-13" in whole


def test_user_text_is_escaped(app, admin, make_user, adopt_and_retract):
    evil = make_user("evil", display_name="<script>alert(1)</script>")
    rita = make_user("rita", roles=["reviewer", "agent"])
    adopt_and_retract(evil, rita, db_user_id(app, "root"), '<img src=x onerror="alert(2)">', title="<b>粗体</b>标题")
    page = page_text(admin)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>粗体" not in page and "&lt;b&gt;粗体&lt;/b&gt;标题" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=" in page


# --- filters and totals ---------------------------------------------------------------------------


def test_filters_by_user_reason_date_and_entry_with_matching_totals(app, admin, make_user, make_entry, api):
    make_user("lina")
    make_user("bob")
    entry_id = make_entry(db_user_id(app, "lina"))
    add_rows(app, "lina", 3, reason="helpful", amount=1, at=T0)  # 2024-04-01 local
    add_rows(app, "lina", 2, reason="review", amount=2, at=T0 - timedelta(minutes=31))  # 2024-03-31 23:59 local
    add_rows(app, "bob", 4, reason="entry_adopted", amount=20, at=T0 + timedelta(days=3), entry_id=entry_id)
    add_rows(app, "bob", 1, reason="retraction", amount=-20, at=T0 + timedelta(days=4), entry_id=entry_id)
    headers = api("root")

    def totals(**args):
        return api_page(admin, headers, **args)["totals"]

    assert totals() == {"rows": 10, "points": 3 + 4 + 80 - 20, "by_reason": {
        "entry_adopted": {"rows": 4, "points": 80}, "review": {"rows": 2, "points": 4},
        "helpful": {"rows": 3, "points": 3}, "retraction": {"rows": 1, "points": -20}}}
    assert totals(user="lina")["points"] == 7 and totals(user="LINA ")["rows"] == 5
    assert totals(reason="review") == {"rows": 2, "points": 4, "by_reason": {"review": {"rows": 2, "points": 4}}}
    assert totals(to="2024-03-31")["rows"] == 2  # local days: 23:59 belongs to the 31st
    assert totals(**{"from": "2024-04-01", "to": "2024-04-01"})["rows"] == 3
    assert totals(**{"from": "2024-04-04"}) == {"rows": 5, "points": 60, "by_reason": {
        "entry_adopted": {"rows": 4, "points": 80}, "retraction": {"rows": 1, "points": -20}}}
    assert totals(entry=entry_id, user="bob", reason="retraction")["points"] == -20
    rows = api_page(admin, headers, user="bob", reason="retraction")["rows"]
    assert [(r["user"]["username"], r["amount"], r["reason"], r["entry_id"]) for r in rows] == [
        ("bob", -20, "retraction", entry_id)]
    # the page shows the same totals, formatted
    page = page_text(admin, user="bob")
    assert "+60" in page and "-20" in page and "lina" not in page.split("<tbody>", 2)[2]


def test_totals_stay_exact_as_rows_arrive_and_the_settled_horizon_moves(app, admin, make_user, api, monkeypatch):
    """Settled totals are kept per process; recent, late and backdated rows are added on every page."""
    make_user("lina")
    clock = datetime(2026, 6, 10, 8, 30, tzinfo=timezone.utc)
    monkeypatch.setattr(ledger_sums, "utcnow", lambda: clock)
    add_rows(app, "lina", 3, at=clock - timedelta(hours=5))
    add_rows(app, "lina", 2, reason="review", amount=2, at=clock - timedelta(minutes=5), tag="recent")
    headers = api("root")

    def expected(reason=None):
        with app.app_context():
            query = select(PointAward.reason, func.count(), func.sum(PointAward.amount)).group_by(PointAward.reason)
            if reason:
                query = query.where(PointAward.reason == reason)
            by_reason = {r: {"rows": n, "points": p} for r, n, p in db.session.execute(query)}
        return {"rows": sum(v["rows"] for v in by_reason.values()),
                "points": sum(v["points"] for v in by_reason.values()), "by_reason": by_reason}

    assert api_page(admin, headers)["totals"] == expected() and expected()["rows"] == 5
    for step in range(1, 4):
        clock += timedelta(minutes=40)
        add_rows(app, "lina", 1, at=clock - timedelta(minutes=1), tag=f"now{step}")
        add_rows(app, "lina", 10, reason="review", amount=2, at=clock - timedelta(days=1), tag=f"backfill{step}")
        assert api_page(admin, headers)["totals"] == expected()
        assert api_page(admin, headers, reason="review")["totals"] == expected("review")
    assert expected()["rows"] == 5 + 3 * 11


@pytest.mark.parametrize("args, field", [
    ({"user": "nobody"}, "user"), ({"reason": "bonus"}, "reason"), ({"from": "2024-13-01"}, "from"),
    ({"to": "yesterday"}, "to"), ({"from": "2024-05-02", "to": "2024-05-01"}, "to"), ({"entry": "x1"}, "entry"),
    ({"entry": "99999999999"}, "entry"), ({"before": "-3"}, "before"), ({"after": "１２"}, "after"),
    ({"to": "9999-12-31"}, "to"),
])
def test_bad_filters_get_a_clear_422(admin, make_user, api, args, field):
    make_user("lina")
    response = admin.get(f"{API}/points", query_string=args, headers=api("root"))
    assert response.status_code == 422 and field in response.get_json()["error"]["fields"]
    page = admin.get("/admin/points", query_string=args)
    assert page.status_code == 422
    text = page.get_data(as_text=True)
    assert 'class="flash flash-error" role="alert"' in text and "<form" in text
    if field in ("user", "from", "to", "entry"):
        assert f'value="{args[field]}"' in text  # what was typed stays in the form


def test_a_cursor_that_is_no_row_is_a_404(admin):
    assert admin.get("/admin/points?before=424242").status_code == 404


# --- pages ----------------------------------------------------------------------------------------


def test_pages_are_complete_and_stable_while_new_rows_arrive(app, admin, make_user, api):
    make_user("lina")
    make_user("bob")
    # 30 rows at one instant (the id breaks the tie), 20 spread out, 5 older and backdated
    add_rows(app, "lina", 30, at=T0, tag="same")
    add_rows(app, "bob", 20, reason="review", amount=2, at=T0 - timedelta(hours=1), step=timedelta(minutes=1))
    add_rows(app, "lina", 5, at=T0 - timedelta(days=30), step=timedelta(seconds=1), tag="old")
    before = newest_first(app)
    headers = api("root")
    seen, cursor, arrivals = [], None, 0
    while True:
        body = api_page(admin, headers, per_page=7, **({"before": cursor} if cursor else {}))
        seen += [row["id"] for row in body["rows"]]
        add_rows(app, "bob", 2, at=datetime.now(timezone.utc), tag=f"new{arrivals}")  # newer than every page
        arrivals += 1
        cursor = body["older"]
        if cursor is None:
            break
    assert seen == before  # every row once, in order, none skipped by the arrivals
    # walking back up with `after` meets every newer row once, the arrivals included
    back, cursor = [], seen[-1]
    while cursor is not None:
        body = api_page(admin, headers, per_page=7, after=cursor)
        back = [row["id"] for row in body["rows"]] + back
        cursor = body["newer"]
    assert back == newest_first(app)[:-1] and len(back) == len(before) - 1 + 2 * arrivals


def test_html_pages_follow_the_older_links_to_the_end(app, admin, make_user):
    make_user("lina")
    add_rows(app, "lina", 120, at=T0, step=timedelta(seconds=-1))
    url, times, pages = "/admin/points", [], 0
    while url:
        text = admin.get(url).get_data(as_text=True)
        times += ROW_ID.findall(text)
        pages += 1
        match = re.search(r'href="([^"]+)" rel="next"', text)
        url = match.group(1).replace("&amp;", "&") if match else None
    assert pages == 3 and len(times) == 120 == len(set(times))
    assert times == sorted(times, reverse=True)
    assert 'rel="prev"' in text and "最新" in text  # the last page links back up


def test_filters_survive_paging(app, admin, make_user):
    make_user("lina")
    make_user("bob")
    add_rows(app, "lina", 60, at=T0, step=timedelta(seconds=-1))
    add_rows(app, "bob", 60, at=T0, step=timedelta(seconds=-1))
    first = page_text(admin, user="bob")
    link = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "user=bob" in link
    second = admin.get(link).get_data(as_text=True)
    assert len(ROW_ID.findall(second)) == 10 and "lina" not in second.split("<tbody>", 2)[2]


# --- CSV ------------------------------------------------------------------------------------------


def test_csv_has_every_filtered_row_with_a_bom_and_guarded_formulas(app, admin, make_user, adopt_and_retract):
    make_user("lina", display_name="=HYPERLINK(\"http://x\")", team="上海分公司/浦东一部")
    rita = make_user("rita", roles=["reviewer", "agent"])
    adopt_and_retract(db_user_id(app, "lina"), rita, db_user_id(app, "root"), "+1 错误承诺收益", kind="faq",
                      title="-公式标题")
    add_rows(app, "lina", 1500, at=T0, step=timedelta(seconds=-1))  # more than one export chunk
    response = admin.get("/admin/points.csv?user=lina")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert re.match(r'attachment; filename="kmwiki-points-\d{4}-\d{2}-\d{2}\.csv"',
                    response.headers["Content-Disposition"])
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == ["时间", "显示名称", "用户名", "分公司", "团队", "事由", "积分", "来源", "条目 ID", "标题", "撤回人",
                       "撤回原因"]
    assert len(rows) == 1 + 1500 + 2  # the adoption and its reversal; rita's review row is filtered out
    retraction = next(r for r in rows if r[5] == "采纳被撤回")
    assert retraction[1] == "'=HYPERLINK(\"http://x\")" and retraction[9] == "'-公式标题"
    assert retraction[10] == "系统管理员 (root)" and retraction[11] == "'+1 错误承诺收益"
    assert retraction[6] == "-13" and retraction[3:5] == ["上海分公司", "浦东一部"]
    helpful = [r for r in rows[1:] if r[5] == "被评为有帮助"]
    assert len(helpful) == 1500 and helpful[0][0] == "2024-04-01 00:30:00"  # Asia/Shanghai
    assert len({r[7] for r in rows[1:]}) == len(rows) - 1  # no row twice across chunks


def test_csv_refuses_bad_filters_and_non_admins(admin, make_client, make_user):
    assert admin.get("/admin/points.csv?from=soon").status_code == 422
    make_user("lina", roles=["leader", "agent"])
    leader = make_client()
    leader.login("lina")
    assert leader.get("/admin/points.csv").status_code == 403


# --- the audit log links to it --------------------------------------------------------------------


def test_audit_events_about_points_link_to_the_filtered_ledger(app, admin, make_user, adopt_and_retract):
    alice = make_user("alice")
    rita = make_user("rita", roles=["reviewer", "agent"])
    entry_id = adopt_and_retract(alice, rita, db_user_id(app, "root"), "过时")
    admin.form_post("/admin/rules/points/adopt.edit", {"value": 8})
    admin.form_post("/admin/rules/points/helpful.daily_cap", {"value": 30})
    audit = admin.get("/admin/audit").get_data(as_text=True)
    assert f'href="/admin/points?entry={entry_id}"' in audit
    links = re.findall(r'href="(/admin/points\?[^"]+)"', audit)
    assert any("reason=edit_adopted" in link and "from=" in link for link in links)
    assert any("reason=helpful" in link for link in links)
    retraction_rows = page_text(admin, entry=entry_id)
    assert "由 系统管理员 撤回：过时" in retraction_rows

