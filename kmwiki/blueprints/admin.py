"""Administration: users, their roles and teams; the rules, rubric and synonyms the workflow runs on;
the audit log and the points ledger."""
from flask import Blueprint, Response, flash, redirect, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..auth import roles_required
from ..errors import Invalid
from ..forms import (NO_TEAM, ComplianceRuleForm, ConfirmForm, CriterionForm, NewUserForm, ResetPasswordForm,
                     RuleValueForm, SynonymGroupForm, TeamForm, UserForm, whole_number)
from ..labels import REASON_LABELS
from ..models import Role
from ..services import activity, exports, guards, ledger, points, review, synonyms, users

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
@roles_required(Role.ADMIN)
def require_admin():
    """Only administrators reach any page here."""


def user_form(form_class, **defaults):
    form = form_class(**defaults)
    form.set_teams(users.list_teams())
    return form


@bp.get("")
def index():
    """Users and teams at a glance."""
    return render_template("admin/index.html", users=users.list_users(), teams=users.list_teams(),
                           team_form=TeamForm())


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    """Create an account."""
    form = user_form(NewUserForm, active=True, roles=["agent"])
    if form.validate_on_submit():
        try:
            user = users.create_user(form.username.data, form.password.data, form.roles.data or ["agent"],
                                     display_name=form.display_name.data,
                                     team=users.get_team(form.team.data) if form.team.data != NO_TEAM else None)
        except Invalid as error:
            for name, messages in error.fields.items():
                getattr(form, name).errors = list(messages)
        else:
            flash(_("Account %(username)s created.", username=user.username), "success")
            return redirect(url_for("admin.index"))
    return render_template("admin/user.html", form=form, user=None), 422 if form.errors else 200


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def edit_user(user_id):
    """Change a user's name, roles, team or active flag."""
    user = users.get_user(user_id)
    form = user_form(UserForm, obj=user, roles=sorted(user.roles), team=user.team_id or NO_TEAM)
    if form.validate_on_submit():
        try:
            users.update_user(user, current_user, form.display_name.data, form.roles.data,
                              form.team.data or None, form.active.data)
        except Invalid as error:
            form.roles.errors = list(error.fields.get("roles", []))
        else:
            flash(_("Saved the changes to %(username)s.", username=user.username), "success")
            return redirect(url_for("admin.index"))
    return render_template("admin/user.html", form=form, user=user, password_form=ResetPasswordForm()), \
        422 if form.errors else 200


@bp.post("/users/<int:user_id>/password")
def reset_password(user_id):
    """Set a new password for a user who forgot theirs."""
    user = users.get_user(user_id)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            users.reset_password(user, form.new_password.data)
        except Invalid as error:
            flash(" ".join(str(m) for m in error.fields["new_password"]), "error")
        else:
            flash(_("New password set for %(username)s; their sessions have ended.", username=user.username),
                  "success")
    return redirect(url_for("admin.edit_user", user_id=user.id))


@bp.post("/teams")
def create_team():
    """Add a team (and its branch when new)."""
    form = TeamForm()
    if form.validate_on_submit():
        team = users.get_or_create_team(form.branch.data, form.name.data)
        flash(_("Team %(team)s is ready.", team=f"{team.branch.name} · {team.name}"), "success")
    else:
        flash(_("Give both a branch and a team name."), "error")
    return redirect(url_for("admin.index") + "#teams")


@bp.get("/audit")
def audit():
    """The audit log: every submission, review, decision, retraction and account change."""
    page = activity.audit_log(request.args.get("page", 1, type=whole_number), action=request.args.get("action") or None)
    return render_template("admin/audit.html", page=page, ledger_filter=ledger.filter_for_event)


@bp.get("/points")
def point_ledger():
    """Every point award of every user, newest first, filtered, with the totals of the filtered rows."""
    try:
        filters = ledger.LedgerFilter.from_args(request.args)
        page = ledger.browse(filters, current_user, before=ledger.cursor(request.args, "before"),
                             after=ledger.cursor(request.args, "after"))
    except Invalid as error:
        return render_template("admin/points.html", page=None, filters=None, errors=error.fields,
                               reason_labels=REASON_LABELS), 422
    return render_template("admin/points.html", page=page, filters=filters, errors={}, reason_labels=REASON_LABELS)


@bp.get("/points.csv")
def export_point_ledger():
    """The filtered ledger rows as CSV, streamed."""
    headers, rows = ledger.export(ledger.LedgerFilter.from_args(request.args), current_user)
    return Response(stream_with_context(exports.csv_stream(headers, rows)), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="kmwiki-points-{points.local_day()}.csv"'})


@bp.get("/rules")
def rules():
    """Point rules, the rubric and the compliance lexicon: the data the workflow runs on."""
    return render_template("admin/rules.html", point_rules=points.rules(), criteria=review.all_criteria(),
                           lexicon=guards.all_rules(), value_form=RuleValueForm(),
                           rule_form=ComplianceRuleForm(), criterion_form=CriterionForm())


@bp.post("/rules/points/<key>")
def set_point_rule(key):
    """Change one point rule."""
    form = RuleValueForm()
    if form.validate_on_submit():
        points.set_rule(key, form.value.data, current_user)
        flash(_("Saved."), "success")
    else:
        flash(_("Enter a whole number from 0 to 10000."), "error")
    return redirect(url_for("admin.rules") + "#points")


@bp.post("/rules/compliance")
def save_compliance_rule():
    """Add or change a compliance phrase."""
    form = ComplianceRuleForm()
    if form.validate_on_submit():
        guards.save_rule(form.phrase.data, form.action.data, form.reason.data or "", form.active.data, current_user)
        flash(_("Saved."), "success")
    else:
        flash(_("Enter the phrase."), "error")
    return redirect(url_for("admin.rules") + "#compliance")


@bp.post("/rules/rubric")
def save_criterion():
    """Add or change a rubric criterion."""
    form = CriterionForm()
    if form.validate_on_submit():
        review.save_criterion(form.slug.data, form.name_zh.data, form.name_en.data, form.description_zh.data or "",
                              form.description_en.data or "", form.active.data, current_user)
        flash(_("Saved."), "success")
    else:
        flash(_("Enter the key and both names."), "error")
    return redirect(url_for("admin.rules") + "#rubric")


@bp.route("/synonyms", methods=["GET", "POST"])
def synonym_groups():
    """The synonym groups that expand searches, and adding one."""
    form = SynonymGroupForm()
    if form.validate_on_submit():
        try:
            group = synonyms.add_group(form.words.data, current_user)
        except Invalid as error:
            form.words.errors = list(error.fields["words"])
        else:
            flash(_("Added the synonyms %(words)s. They apply to the next search.",
                    words=", ".join(group.word_list)), "success")
            return redirect(url_for("admin.synonym_groups"))
    return render_template("admin/synonyms.html", form=form, groups=synonyms.all_groups(), group=None,
                           delete_form=ConfirmForm()), 422 if form.errors else 200


@bp.route("/synonyms/<int:group_id>", methods=["GET", "POST"])
def edit_synonym_group(group_id):
    """Change the words of one synonym group."""
    group = synonyms.get_group(group_id)
    form = SynonymGroupForm(words=", ".join(group.word_list))
    if form.validate_on_submit():
        try:
            synonyms.update_group(group.id, form.words.data, current_user)
        except Invalid as error:
            form.words.errors = list(error.fields["words"])
        else:
            flash(_("Saved. The changed synonyms apply to the next search."), "success")
            return redirect(url_for("admin.synonym_groups"))
    return render_template("admin/synonyms.html", form=form, groups=[], group=group,
                           delete_form=ConfirmForm()), 422 if form.errors else 200


@bp.post("/synonyms/<int:group_id>/delete")
def delete_synonym_group(group_id):
    """Remove a synonym group."""
    if ConfirmForm().validate_on_submit():
        words = synonyms.delete_group(group_id, current_user)
        flash(_("Deleted the synonyms %(words)s.", words=", ".join(words)), "success")
    return redirect(url_for("admin.synonym_groups"))
