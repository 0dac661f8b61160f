"""The leadership dashboard: who may see it, each statistic on a small seeded scenario, the period
and time-zone bucketing, and the CSV exports."""
import csv
import io
import math
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from kmwiki.extensions import db
from kmwiki.models import Entry, HelpfulVote, PointAward, Reason, Review, ReviewScore, Status, User
from kmwiki.services import dashboard, exports, periods, review
from kmwiki.services.review import ReviewInput

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A fixed "now" for the scenarios: Wednesday 15 May 2024, noon in Shanghai.
NOW = datetime(2024, 5, 15, 12, 0, tzinfo=SHANGHAI).astimezone(timezone.utc)


def at(*args):
    """A Shanghai wall-clock time as an aware UTC datetime."""
    return datetime(*args, tzinfo=SHANGHAI).astimezone(timezone.utc)


def add_award(user_id, amount, reason, when, entry_id=None):
    """Insert one ledger row at a chosen time (call inside an app context)."""
    row = PointAward(user_id=user_id, amount=amount, reason=reason, entry_id=entry_id, created_at=when,
                     cause=f"test:{user_id}:{reason}:{when.isoformat()}:{amount}")
    db.session.add(row)
    db.session.commit()


def add_review(entry_id, reviewer_id, decision, scores, submitted, decided, number):
    """Insert one decided review with per-criterion scores at chosen times."""
    rubric = review.criteria()
    row = Review(entry_id=entry_id, revision_number=number, reviewer_id=reviewer_id, decision=decision,
                 compliance_passed=True, mean_score=sum(scores) / len(scores), submitted_at=submitted,
                 created_at=decided,
                 scores=[ReviewScore(criterion_id=c.id, score=s) for c, s in zip(rubric, scores)])
    db.session.add(row)
    db.session.commit()


def set_entry(entry_id, **values):
    entry = db.session.get(Entry, entry_id)
    for name, value in values.items():
        setattr(entry, name, value)
    db.session.commit()


@pytest.fixture
def leader(client, make_user, app):
    """A signed-in leader whose UI speaks English, so headers read as their msgids."""
    user_id = make_user("boss", roles=["leader"], display_name="Boss")
    with app.app_context():
        db.session.get(User, user_id).locale = "en"
        db.session.commit()
    client.login("boss")
    return user_id


def read_csv(response):
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


# ---- access ---------------------------------------------------------------------------------------

def test_leader_sees_the_dashboard(client, leader):
    page = client.get("/dashboard")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for heading in ("Participation rate", "Not yet contributing", "Participation, adopted entries and points over time",
                    "Kind × product line", "Review service level", "Top entries", "Reviewer calibration"):
        assert heading in html
    assert '<svg class="dash-chart' in html and "<title id=\"chart-adopted-title\">" in html
    assert html.count('class="dash-chart-bar"') == 3 * 12  # three charts of the last twelve weeks
    assert html.count("<tr><th scope=\"row\">") >= 12  # the same numbers as a table
    assert 'aria-current="page">This month<' in html  # the default period
    assert "style=" not in html and "<script" not in html  # the CSP allows neither


def test_admin_sees_the_dashboard_with_a_chosen_period(client, make_user):
    make_user("root", roles=["admin"])
    client.login("root")
    page = client.get("/dashboard?period=year")
    assert page.status_code == 200
    assert 'aria-current="page"' in page.get_data(as_text=True)


def test_unknown_period_falls_back_to_the_month(client, leader):
    assert 'aria-current="page">This month<' in client.get("/dashboard?period=decade").get_data(as_text=True)


@pytest.mark.parametrize("role", ["agent", "reviewer"])
def test_agents_and_reviewers_are_forbidden(client, make_user, role):
    make_user("someone", roles=[role])
    client.login("someone")
    assert client.get("/dashboard").status_code == 403
    assert client.get("/dashboard/export/participation.csv").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for url in ("/dashboard", "/dashboard/export/calibration.csv?period=week"):
        response = client.get(url)
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


# ---- the statistics, through the real review workflow ---------------------------------------------

def test_an_adoption_through_the_review_workflow_shows_everywhere(app, client, leader, make_user, make_entry):
    author = make_user("alice", display_name="Alice", team="华东分公司/一组")
    make_user("bob", display_name="Bob", team="华东分公司/一组")
    reviewer = make_user("rita", roles=["reviewer"], display_name="Rita")
    entry_id = make_entry(author, title="客户说保费太贵怎么办")
    with app.test_request_context():
        review.submit(entry_id, db.session.get(User, author))
        review.decide(entry_id, ReviewInput(scores={"accuracy": 5, "usefulness": 4, "clarity": 4, "originality": 3},
                                            compliance=True, decision="adopt"), db.session.get(User, reviewer))
        data = dashboard.report(periods.Period.MONTH)
        paid = db.session.scalar(select(db.func.sum(PointAward.amount)))
    assert (data.participation.agents, data.participation.contributors) == (2, 1)
    assert [p.username for p in data.non_contributors] == ["bob"]
    assert data.adopted == 1 and data.points == paid
    assert data.timeline[-1].adopted == 1 and data.timeline[-1].points == paid
    assert data.service.queue_size == 0 and data.service.decisions == 1
    assert data.service.median_seconds is not None and 0 <= data.service.median_seconds < 60
    rita = data.calibration.reviewers[0]
    assert (rita.name, rita.reviews, rita.mean, rita.share("adopt")) == ("Rita", 1, 4.0, 1.0)
    assert rita.spread == pytest.approx(math.sqrt(0.5))
    kind_row = next(k for k in data.products.kinds if k.slug == "objection_handling")
    column = next(c for c in data.products.columns if c.slug == "critical_illness")
    assert data.products.count(kind_row, column) == 1
    html = client.get("/dashboard").get_data(as_text=True)
    assert "1 of 2 agents" in html and "50%" in html and "Bob" in html and "Rita" in html


# ---- participation and non-contributors -----------------------------------------------------------

@pytest.fixture
def people(app, make_user):
    """Agents in two branches, one without a team, one inactive, plus a reviewer and a leader."""
    ids = {
        "amy": make_user("amy", display_name="Amy", team="North/Alpha"),
        "ann": make_user("ann", display_name="Ann", team="North/Alpha"),
        "zed": make_user("zed", display_name="Zed", team="North/Beta"),
        "bea": make_user("bea", display_name="Bea", team="East/Gamma"),
        "sol": make_user("sol", display_name="Sol"),
        "old": make_user("old", display_name="Old", team="North/Alpha"),
        "rev": make_user("rev", roles=["reviewer"], display_name="Rev", team="North/Alpha"),
        "lea": make_user("lea", roles=["leader", "agent"], display_name="Lea", team="East/Gamma"),
    }
    with app.app_context():
        db.session.get(User, ids["old"]).active = False
        db.session.commit()
    return ids


def test_participation_counts_adoption_awards_in_the_period_only(app, people):
    with app.test_request_context():
        add_award(people["amy"], 20, Reason.ENTRY_ADOPTED, at(2024, 5, 3, 9))
        add_award(people["amy"], 5, Reason.EDIT_ADOPTED, at(2024, 5, 4, 9))  # one person counts once
        add_award(people["ann"], 5, Reason.EDIT_ADOPTED, at(2024, 4, 20, 9))  # April: the quarter, not the month
        add_award(people["zed"], 2, Reason.REVIEW, at(2024, 5, 5, 9))  # not an adoption
        add_award(people["zed"], 1, Reason.HELPFUL, at(2024, 5, 5, 10))
        add_award(people["bea"], -20, Reason.ENTRY_ADOPTED, at(2024, 5, 6, 9))  # no positive amount
        add_award(people["old"], 20, Reason.ENTRY_ADOPTED, at(2024, 5, 6, 9))  # inactive: not counted
        add_award(people["rev"], 20, Reason.ENTRY_ADOPTED, at(2024, 5, 6, 9))  # not an agent
        month = dashboard.participation(periods.window("month", NOW))
        quarter = dashboard.participation(periods.window("quarter", NOW))
    assert (month.agents, month.contributors, month.rate) == (6, 1, pytest.approx(1 / 6))
    teams = {(t.branch, t.team): (t.agents, t.contributors) for t in month.teams}
    assert teams == {("East", "Gamma"): (2, 0), ("North", "Alpha"): (2, 1), ("North", "Beta"): (1, 0),
                     (None, None): (1, 0)}
    assert [(t.branch, t.team) for t in month.teams][-1] == (None, None)  # the team-less come last
    assert quarter.contributors == 2


def test_period_boundaries_are_midnight_in_the_configured_time_zone(app, people):
    with app.test_request_context():
        add_award(people["amy"], 20, Reason.ENTRY_ADOPTED, at(2024, 4, 30, 23, 59))  # still April in Shanghai
        add_award(people["ann"], 20, Reason.ENTRY_ADOPTED, at(2024, 5, 1, 0, 1))  # 30 April in UTC, May here
        month = dashboard.participation(periods.window("month", NOW))
        names = [p.username for p in dashboard.non_contributors(periods.window("month", NOW))]
    assert month.contributors == 1
    assert "ann" not in names and "amy" in names


def test_non_contributors_are_sorted_by_branch_team_and_name(app, people):
    with app.test_request_context():
        add_award(people["ann"], 20, Reason.ENTRY_ADOPTED, at(2024, 5, 2, 9))
        rows = dashboard.non_contributors(periods.window("month", NOW))
        first_two = dashboard.non_contributors(periods.window("month", NOW), limit=2)
    assert [(p.branch, p.team, p.name) for p in rows] == [
        ("East", "Gamma", "Bea"), ("East", "Gamma", "Lea"), ("North", "Alpha", "Amy"), ("North", "Beta", "Zed"),
        (None, None, "Sol")]
    assert [p.name for p in first_two] == ["Bea", "Lea"]


# ---- timeline -------------------------------------------------------------------------------------

def test_timeline_has_twelve_local_weeks_ending_this_week(app, people, make_entry):
    adopted = make_entry(people["amy"], status=Status.ADOPTED)
    older = make_entry(people["amy"], title="另一条", status=Status.ADOPTED)
    with app.test_request_context():
        set_entry(adopted, adopted_at=at(2024, 5, 13, 0, 30))  # Monday of this week, Sunday in UTC
        set_entry(older, adopted_at=at(2024, 2, 25, 12))  # before the twelve weeks
        add_award(people["amy"], 20, Reason.ENTRY_ADOPTED, at(2024, 5, 13, 0, 30))
        add_award(people["amy"], -7, Reason.RETRACTION, at(2024, 5, 12, 23, 59))  # Sunday: last week
        add_award(people["ann"], 3, Reason.HELPFUL, at(2024, 2, 26, 0, 0))  # the first bucket opens here
        buckets = dashboard.timeline("month", NOW)
    assert len(buckets) == 12 and {b.unit for b in buckets} == {"week"}
    assert buckets[0].start.isoformat() == "2024-02-26" and buckets[-1].start.isoformat() == "2024-05-13"
    assert buckets[-1].label == "05-13" and buckets[-1].last_day.isoformat() == "2024-05-19"
    assert (buckets[-1].adopted, buckets[-1].points, buckets[-1].contributors) == (1, 20, 1)
    assert (buckets[-2].adopted, buckets[-2].points, buckets[-2].contributors) == (0, -7, 0)
    assert buckets[0].contributors == 0  # a helpful vote is not adopted work
    assert buckets[0].points == 3 and sum(b.adopted for b in buckets) == 1


def test_timeline_of_a_year_has_local_months(app, people):
    with app.test_request_context():
        add_award(people["amy"], 10, Reason.ENTRY_ADOPTED, at(2024, 2, 29, 23, 59))
        add_award(people["amy"], 4, Reason.ENTRY_ADOPTED, at(2024, 3, 1, 0, 1))  # still 29 Feb in UTC
        add_award(people["amy"], 99, Reason.ENTRY_ADOPTED, at(2023, 12, 31, 23, 0))  # last year
        year = dashboard.timeline("year", NOW)
        quarter = dashboard.timeline("quarter", NOW)
        everything = dashboard.timeline("all", NOW)
    assert [b.label for b in year] == [f"2024-{m:02d}" for m in range(1, 13)]
    assert [b.points for b in year][:3] == [0, 10, 4]
    assert [b.label for b in quarter] == ["2024-04", "2024-05", "2024-06"]
    assert everything[0].label == "2023-12" and everything[0].points == 99 and everything[-1].label == "2024-05"


def test_participation_over_time_counts_each_agent_once_per_bucket(app, people):
    with app.test_request_context():
        for day in (13, 14):  # two adoptions by amy in one week are one participant
            add_award(people["amy"], 10, Reason.ENTRY_ADOPTED, at(2024, 5, day, 3))
        add_award(people["ann"], 4, Reason.EDIT_ADOPTED, at(2024, 5, 14, 3))
        add_award(people["ann"], 2, Reason.REVIEW, at(2024, 5, 6, 3))  # reviewing is not adopted work
        buckets = dashboard.timeline("month", NOW)
    assert [b.contributors for b in buckets[-2:]] == [0, 2]


def test_coverage_cells_are_shaded_by_how_well_covered_they_are(app):
    matrix = dashboard.Coverage("product", [], [], cells={(1, 1): 0, (1, 2): 2, (1, 3): 5, (1, 4): 11, (1, 5): 30})
    assert [matrix.level(n) for n in (0, 2, 5, 11, 30)] == ["zero", "thin", "1", "1", "3"]
    assert matrix.level(20) == "2"


def test_timeline_table_exports_with_dates(app, client, leader, people):
    with app.app_context():
        add_award(people["amy"], 10, Reason.ENTRY_ADOPTED, datetime.now(timezone.utc))
    rows = read_csv(client.get("/dashboard/export/timeline.csv?period=year"))
    assert rows[0] == ["From", "To", "Entries adopted", "Points awarded", "Agents with adopted work"]
    assert len(rows) == 13 and sum(int(r[3]) for r in rows[1:]) == 10


# ---- coverage -------------------------------------------------------------------------------------

def test_coverage_counts_public_entries_by_kind_and_product_and_segment(app, client, leader, people, make_entry):
    amy = people["amy"]
    make_entry(amy, title="一", products=("critical_illness",), segments=("young_family",), status=Status.ADOPTED)
    make_entry(amy, title="二", products=("critical_illness", "medical"), segments=(), status=Status.ADOPTED)
    make_entry(amy, title="三", kind="faq", products=("medical",), segments=("retirement",), status=Status.ADOPTED)
    pending_edit = make_entry(amy, title="四", products=("medical",), status=Status.ADOPTED)
    retracted = make_entry(amy, title="五", products=("medical",), status=Status.ADOPTED)
    make_entry(amy, title="草稿", products=("medical",))  # a draft is not knowledge yet
    with app.test_request_context():
        set_entry(pending_edit, status=Status.PENDING)  # readers still see its adopted revision
        set_entry(retracted, status=Status.RETRACTED)
        products = dashboard.coverage("product")
        segments = dashboard.coverage("segment")
    kinds = {k.slug: k for k in products.kinds}
    columns = {c.slug: c for c in products.columns}
    assert products.count(kinds["objection_handling"], columns["critical_illness"]) == 2
    assert products.count(kinds["objection_handling"], columns["medical"]) == 2
    assert products.count(kinds["faq"], columns["medical"]) == 1
    assert products.count(kinds["faq"], columns["auto"]) == 0
    assert products.kind_totals == {kinds["objection_handling"].id: 3, kinds["faq"].id: 1}
    assert products.column_totals[columns["medical"].id] == 3 and products.total == 4
    segment_columns = {c.slug: c for c in segments.columns}
    assert segments.count(kinds["faq"], segment_columns["retirement"]) == 1
    assert segments.count(kinds["objection_handling"], segment_columns["young_family"]) == 2
    assert [products.level(n) for n in (0, 1, 2, 3)] == ["zero", "thin", "thin", "3"]  # 3 is the fullest cell
    html = client.get("/dashboard").get_data(as_text=True)
    assert "dash-cov-zero" in html and "dash-cov-thin" in html
    rows = read_csv(client.get("/dashboard/export/coverage_products.csv"))
    assert rows[0][0] == "Kind" and rows[0][-1] == "All entries of the kind" and len(rows[0]) == 10
    assert rows[-1][0] == "Total" and rows[-1][-1] == "4"
    assert read_csv(client.get("/dashboard/export/coverage_segments.csv"))[0][1:8] == [
        "Single", "Young family", "Child education", "Retirement", "High value", "Potential", "General"]


# ---- review service level -------------------------------------------------------------------------

def test_review_service_level_queue_oldest_and_median(app, people, make_entry, make_user):
    reviewer = make_user("rita", roles=["reviewer"])
    waiting = [make_entry(people["amy"], title=f"待审 {i}") for i in range(2)]
    decided = make_entry(people["ann"], title="已审")
    with app.test_request_context():
        for entry_id in waiting:
            review.submit(entry_id, db.session.get(User, people["amy"]))
        set_entry(waiting[0], submitted_at=NOW - timedelta(hours=30))
        set_entry(waiting[1], submitted_at=NOW - timedelta(hours=2))
        for number, hours in enumerate((1, 3, 10), 1):  # decided in May after 1, 3 and 10 hours
            add_review(decided, reviewer, "adopt", [4, 4, 4, 4], at(2024, 5, 2) - timedelta(hours=hours),
                       at(2024, 5, 2), number)
        add_review(decided, reviewer, "adopt", [4, 4, 4, 4], at(2024, 4, 1), at(2024, 4, 20), 9)  # April
        month = dashboard.service_level(periods.window("month", NOW), NOW)
        add_review(decided, reviewer, "revise", [2, 2, 2, 2], at(2024, 5, 3), at(2024, 5, 3, 5), 4)
        even = dashboard.service_level(periods.window("month", NOW), NOW)
        empty = dashboard.service_level(periods.window("week", NOW), NOW)
    assert month.queue_size == 2 and month.oldest_age == timedelta(hours=30)
    assert month.decisions == 3 and month.median_seconds == pytest.approx(3 * 3600)
    assert even.decisions == 4 and even.median_seconds == pytest.approx(4 * 3600)  # (3 h + 5 h) / 2
    assert empty.decisions == 0 and empty.median_seconds is None


# ---- top entries ----------------------------------------------------------------------------------

def test_top_entries_by_helpful_votes_and_views_show_public_entries_only(app, people, make_entry):
    amy, ann, zed, bea = (people[n] for n in ("amy", "ann", "zed", "bea"))
    loved = make_entry(amy, title="最有帮助", status=Status.ADOPTED)
    liked = make_entry(amy, title="有点帮助", status=Status.ADOPTED)
    draft = make_entry(amy, title="草稿")
    with app.test_request_context():
        for voter in (ann, zed, bea):
            db.session.add(HelpfulVote(entry_id=loved, user_id=voter, created_at=at(2024, 5, 10)))
        db.session.add(HelpfulVote(entry_id=liked, user_id=ann, created_at=at(2024, 5, 10)))
        db.session.add(HelpfulVote(entry_id=liked, user_id=zed, created_at=at(2024, 3, 1)))  # before May
        db.session.add(HelpfulVote(entry_id=draft, user_id=ann, created_at=at(2024, 5, 10)))
        db.session.commit()
        set_entry(liked, view_count=50)
        set_entry(loved, view_count=7)
        set_entry(draft, view_count=999)
        helpful = dashboard.top_helpful(periods.window("month", NOW))
        viewed = dashboard.top_viewed()
    assert [(t.entry.title, t.helpful, t.helpful_total) for t in helpful] == [("最有帮助", 3, 3), ("有点帮助", 1, 2)]
    assert [(t.entry.title, t.views, t.helpful_total) for t in viewed] == [("有点帮助", 50, 2), ("最有帮助", 7, 3)]


# ---- reviewer calibration -------------------------------------------------------------------------

def test_calibration_shows_each_reviewers_mean_spread_and_mix_beside_peers(app, people, make_entry, make_user):
    easy = make_user("easy", roles=["reviewer"], display_name="Easy")
    hard = make_user("hard", roles=["reviewer"], display_name="Hard")
    entry_id = make_entry(people["amy"])
    may = at(2024, 5, 6)
    with app.test_request_context():
        add_review(entry_id, easy, "adopt", [5, 5, 5, 5], may, may, 1)
        add_review(entry_id, easy, "adopt", [5, 5, 5, 5], may, may, 2)
        add_review(entry_id, hard, "adopt", [1, 3, 3, 5], may, may, 1)
        add_review(entry_id, hard, "reject", [2, 2, 2, 2], may, may, 2)
        add_review(entry_id, hard, "revise", [3, 3, 3, 3], may, may, 3)
        add_review(entry_id, hard, "reject", [1, 1, 1, 1], at(2024, 4, 1), at(2024, 4, 2), 4)  # April
        result = dashboard.calibration(periods.window("month", NOW))
    first, second = result.reviewers
    assert (first.name, first.reviews, first.mean, first.spread) == ("Easy", 2, 5.0, 0.0)
    assert first.share("adopt") == 1.0
    hard_scores = [1, 3, 3, 5, 2, 2, 2, 2, 3, 3, 3, 3]
    hard_mean = sum(hard_scores) / 12
    assert (second.name, second.reviews) == ("Hard", 3)
    assert second.mean == pytest.approx(hard_mean)
    assert second.spread == pytest.approx(math.sqrt(sum((s - hard_mean) ** 2 for s in hard_scores) / 12))
    assert [second.share(d) for d in ("adopt", "revise", "reject")] == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    all_scores = [5] * 8 + hard_scores
    peer_mean = sum(all_scores) / len(all_scores)
    assert result.peers.reviews == 5 and result.peers.mean == pytest.approx(peer_mean)
    assert result.peers.spread == pytest.approx(math.sqrt(sum((s - peer_mean) ** 2 for s in all_scores)
                                                          / len(all_scores)))
    assert first.delta == pytest.approx(5 - peer_mean) and first.leaning == "lenient"
    assert second.leaning == "strict"


def test_calibration_page_and_csv_mark_the_easy_grader(app, client, leader, people, make_entry, make_user):
    easy = make_user("easy", roles=["reviewer"], display_name="Easy")
    hard = make_user("hard", roles=["reviewer"], display_name="Hard")
    entry_id = make_entry(people["amy"])
    now = datetime.now(timezone.utc)
    with app.app_context():
        add_review(entry_id, easy, "adopt", [5, 5, 5, 5], now - timedelta(hours=1), now, 1)
        add_review(entry_id, hard, "revise", [2, 2, 2, 2], now - timedelta(hours=3), now, 1)
    html = client.get("/dashboard?period=week").get_data(as_text=True)
    assert "Lenient" in html and "Strict" in html and "All reviewers" in html
    rows = read_csv(client.get("/dashboard/export/calibration.csv?period=week"))
    assert rows[0] == ["Reviewer", "Reviews", "Mean score", "Spread (std. dev.)", "Adopted (%)", "Returned (%)",
                       "Rejected (%)", "Mean minus peers"]
    assert rows[1] == ["Easy", "1", "5.0", "0.0", "100.0", "0.0", "0.0", "1.5"]
    assert rows[-1][:3] == ["All reviewers", "2", "3.5"]


# ---- CSV export -----------------------------------------------------------------------------------

@pytest.mark.parametrize("table", exports.TABLES)
def test_every_table_exports_as_an_excel_friendly_attachment(client, leader, table):
    response = client.get(f"/dashboard/export/{table}.csv?period=quarter")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and f'kmwiki-{table}-quarter-' in disposition
    rows = read_csv(response)
    assert rows and all(rows[0])


def test_unknown_export_is_not_found(client, leader):
    assert client.get("/dashboard/export/salaries.csv").status_code == 404


def test_csv_cells_that_look_like_formulas_are_defused(app, client, leader, make_user, make_entry):
    make_user("mallory", display_name='=HYPERLINK("http://evil","点我")', team="+Branch/@Team")
    make_user("minus", display_name="-2+3", team="+Branch/@Team")
    author = make_user("alice", display_name="Alice")
    entry_id = make_entry(author, title="@SUM(A1:A9) 保险", status=Status.ADOPTED)
    with app.app_context():
        set_entry(entry_id, view_count=3)
    rows = read_csv(client.get("/dashboard/export/non_contributors.csv"))
    assert rows[0] == ["Branch", "Team", "Name", "Username"]
    assert ["'+Branch", "'@Team", "'=HYPERLINK(\"http://evil\",\"点我\")", "mallory"] in rows
    assert ["'+Branch", "'@Team", "'-2+3", "minus"] in rows
    top = read_csv(client.get("/dashboard/export/top_entries.csv?period=all"))
    assert top[1][3] == "'@SUM(A1:A9) 保险"
    assert exports.safe_cell(-5) == -5  # numbers stay numbers
    assert exports.safe_cell("\tcmd") == "'\tcmd"


def test_participation_csv_has_a_row_per_team_and_a_total(app, client, leader, people):
    with app.app_context():
        add_award(people["amy"], 20, Reason.ENTRY_ADOPTED, datetime.now(timezone.utc))
    rows = read_csv(client.get("/dashboard/export/participation.csv?period=all"))
    assert rows[0] == ["Branch", "Team", "Agents", "Contributors", "Participation (%)"]
    assert ["North", "Alpha", "2", "1", "50.0"] in rows
    assert rows[-1] == ["All teams", "", "6", "1", "16.7"]
    service = read_csv(client.get("/dashboard/export/review_service.csv"))
    assert service[0] == ["Measure", "Value"] and service[1] == ["Entries waiting for review", "0"]
