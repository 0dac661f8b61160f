"""Administration pages: only admins, and what they change really changes."""
import pytest
from sqlalchemy import select

from kmwiki.extensions import db
from kmwiki.models import AuditEvent, ComplianceRule, PointRule, Role, RubricCriterion, Team, User


def user_named(app, username):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        return user.id, user.roles, user.team_id, user.active


@pytest.mark.parametrize("roles", [["agent"], ["reviewer", "agent"], ["leader", "agent"]])
def test_non_admins_get_403_on_every_admin_route(client, make_user, roles):
    target = make_user("target")
    make_user("someone", roles=roles)
    client.login("someone")
    assert client.get("/admin").status_code == 403
    assert client.get("/admin/users/new").status_code == 403
    assert client.get(f"/admin/users/{target}").status_code == 403
    assert client.form_post(f"/admin/users/{target}", {"display_name": "x", "roles": ["admin"], "team": 0,
                                                       "active": "y"}).status_code == 403
    assert client.form_post(f"/admin/users/{target}/password", {"new_password": "hijacked-1"}).status_code == 403
    assert client.form_post("/admin/teams", {"branch": "b", "name": "t"}).status_code == 403


def test_anonymous_is_sent_to_login_from_admin(client):
    assert client.get("/admin").headers["Location"].startswith("/login")


def test_admin_creates_a_user_who_can_sign_in(app, make_client, make_user):
    make_user("root", roles=["admin"])
    admin = make_client()
    admin.login("root")
    admin.form_post("/admin/teams", {"branch": "上海分公司", "name": "浦东一部"})
    with app.app_context():
        team_id = db.session.scalar(select(Team.id))
    response = admin.form_post("/admin/users/new", {
        "username": "wangfang", "password": "first-pass-1", "display_name": "王芳",
        "roles": ["reviewer", "agent"], "team": team_id, "active": "y"})
    assert response.status_code == 302
    _, roles, team, active = user_named(app, "wangfang")
    assert roles == {Role.REVIEWER, Role.AGENT} and team == team_id and active
    newcomer = make_client()
    assert newcomer.login("wangfang", "first-pass-1").headers["Location"] == "/"
    assert "王芳" in admin.get("/admin").get_data(as_text=True)


def test_admin_user_form_keeps_input_on_a_taken_username(client, make_user):
    make_user("root", roles=["admin"])
    make_user("lina")
    client.login("root")
    response = client.form_post("/admin/users/new", {"username": "lina", "password": "first-pass-1",
                                                     "display_name": "另一个李娜", "roles": ["agent"], "team": 0})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "另一个李娜" in page and "已被占用" in page


def test_changing_roles_and_deactivating_takes_effect_at_once(app, make_client, make_user):
    make_user("root", roles=["admin"])
    target = make_user("lina")
    victim = make_client()
    victim.login("lina")
    admin = make_client()
    admin.login("root")
    response = admin.form_post(f"/admin/users/{target}", {"display_name": "李娜", "roles": ["reviewer", "agent"],
                                                          "team": 0})  # "active" unchecked
    assert response.status_code == 302
    _, roles, _, active = user_named(app, "lina")
    assert roles == {Role.REVIEWER, Role.AGENT} and not active
    assert victim.get("/").status_code == 302  # the open session ended
    assert make_client().login("lina").status_code == 200  # and signing in again is refused


def test_admin_cannot_lock_themselves_out(app, client, make_user):
    root = make_user("root", roles=["admin"])
    client.login("root")
    response = client.form_post(f"/admin/users/{root}", {"display_name": "root", "roles": ["agent"], "team": 0,
                                                          "active": "y"})
    assert response.status_code == 422
    assert user_named(app, "root")[1] == {Role.ADMIN}


def test_admin_resets_a_password(make_client, make_user):
    make_user("root", roles=["admin"])
    target = make_user("lina")
    admin = make_client()
    admin.login("root")
    assert admin.form_post(f"/admin/users/{target}/password", {"new_password": "fresh-pass-9"}).status_code == 302
    assert make_client().login("lina", "fresh-pass-9").headers["Location"] == "/"
    assert make_client().login("lina").status_code == 200  # the old password no longer works


def test_short_reset_password_is_refused(app, make_client, make_user):
    make_user("root", roles=["admin"])
    target = make_user("lina")
    admin = make_client()
    admin.login("root")
    admin.form_post(f"/admin/users/{target}/password", {"new_password": "short"})
    assert make_client().login("lina").headers["Location"] == "/"


@pytest.mark.parametrize("path", ["/admin/audit", "/admin/rules"])
def test_rules_and_audit_pages_are_for_admins_only(make_client, make_user, path):
    make_user("lina", roles=["leader", "agent"])
    make_user("root", roles=["admin"])
    leader, admin = make_client(), make_client()
    leader.login("lina")
    admin.login("root")
    assert leader.get(path).status_code == 403
    assert admin.get(path).status_code == 200
    assert leader.form_post("/admin/rules/points/review", {"value": 50}).status_code == 403


def test_admin_changes_a_point_rule_and_it_is_audited(app, client, make_user):
    make_user("root", roles=["admin"])
    client.login("root")
    assert client.form_post("/admin/rules/points/adopt.faq", {"value": 30}).status_code == 302
    with app.app_context():
        assert db.session.get(PointRule, "adopt.faq").value == 30
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "point_rule_changed"))
        assert event.details == {"key": "adopt.faq", "old": 10, "new": 30}
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "point_rule_changed" in page and "adopt.faq" in page


def test_negative_or_missing_rule_values_are_refused(app, client, make_user):
    make_user("root", roles=["admin"])
    client.login("root")
    client.form_post("/admin/rules/points/review", {"value": -5})
    client.form_post("/admin/rules/points/review", {})
    with app.app_context():
        assert db.session.get(PointRule, "review").value == 2


def test_admin_adds_a_compliance_phrase_and_a_rubric_criterion(app, client, make_user):
    make_user("root", roles=["admin"])
    client.login("root")
    client.form_post("/admin/rules/compliance", {"phrase": "包过", "action": "block", "reason": "不得承诺核保结果",
                                                 "active": "y"})
    client.form_post("/admin/rules/rubric", {"slug": "compliance_tone", "name_zh": "合规表达", "name_en": "Compliant tone",
                                             "active": "y"})
    client.form_post("/admin/rules/rubric", {"slug": "originality", "name_zh": "原创性", "name_en": "Originality"})
    with app.app_context():
        rule = db.session.scalar(select(ComplianceRule).where(ComplianceRule.phrase == "包过"))
        assert (rule.action, rule.active) == ("block", True)
        active = {c.slug for c in db.session.scalars(select(RubricCriterion).where(RubricCriterion.active.is_(True)))}
        assert active == {"accuracy", "usefulness", "clarity", "compliance_tone"}
    page = client.get("/admin/rules").get_data(as_text=True)
    assert "包过" in page and "合规表达" in page


def test_role_changes_are_audited(app, client, make_user):
    make_user("root", roles=["admin"])
    target = make_user("lina")
    client.login("root")
    client.form_post(f"/admin/users/{target}", {"display_name": "李娜", "roles": ["reviewer", "agent"], "team": 0,
                                                 "active": "y"})
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user_updated"))
        assert event.details["old_roles"] == ["agent"] and event.details["roles"] == ["agent", "reviewer"]
