"""Accounts: creating users, signing in, passwords, roles, teams."""
import functools
import re
from collections import Counter
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, literal_column, select
from werkzeug.security import check_password_hash, generate_password_hash

from ..database import hot_row
from ..errors import Invalid, NotFound
from ..extensions import db
from ..models import Account, Branch, Role, Team, User, UserRole
from . import activity

USERNAME_RE = re.compile(r"^[a-z0-9_][a-z0-9_.-]{1,39}$")
MIN_PASSWORD = 8


@functools.cache
def _dummy_hash(method):
    # Checked when the username is unknown, so a miss costs as much time as a wrong password.
    return generate_password_hash("not-a-password", method=method)


def _hash(password):
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def create_user(username, password, roles, display_name=None, team=None):
    """Create an active user; raises Invalid on a taken name, a bad name or a short password."""
    username = (username or "").strip().lower()
    fields = {}
    if not USERNAME_RE.match(username):
        fields["username"] = [_l("2–40 characters: lower-case letters, digits, _ . -")]
    elif db.session.scalar(select(User.id).where(User.username == username)):
        fields["username"] = [_l("This username is already taken.")]
    if len(password or "") < MIN_PASSWORD:
        fields["password"] = [_l("Use at least %(n)s characters.", n=MIN_PASSWORD)]
    roles = {Role(r) for r in roles} or {Role.AGENT}
    if fields:
        raise Invalid(fields=fields)
    user = User(username=username, display_name=(display_name or username).strip(), team=team)
    user.password_hash = _hash(password)
    user.role_rows = [UserRole(role=r.value) for r in sorted(roles)]
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(username, password, channel="web"):
    """The active user with these credentials, or None. Every attempt goes to the audit log."""
    name = (username or "").strip().lower()
    user = db.session.scalar(select(User).where(User.username == name))
    if user is None:
        check_password_hash(_dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password or "")
    accepted = user is not None and user.active and user.check_password(password or "")
    activity.audit(user if accepted else None, "signed_in" if accepted else "sign_in_failed",
                   channel=channel, username=name[:80])
    db.session.commit()
    return user if accepted else None


@dataclass(frozen=True, eq=False)  # equal by get_id(), as Flask-Login's users are
class SessionUser(Account):
    """The signed-in user of a page request as one plain row: the columns pages and permission checks
    read, and the roles. It costs a fraction of an ORM User (no instance state, no identity map: ~0.1
    ms of every page). Frozen, so nothing can change it by mistake: a change, or a relationship to
    follow, goes through `model()`."""

    id: int
    username: str
    display_name: str
    team_id: int | None
    active: bool
    locale: str | None
    auth_version: int
    roles: frozenset


SESSION_USER = select(  # every request: built once
    User.id, User.username, User.display_name, User.team_id, User.active, User.locale, User.auth_version,
    select(func.aggregate_strings(UserRole.role, literal_column("','"))).where(UserRole.user_id == User.id)
    .scalar_subquery(),
).where(User.id == bindparam("id"))


def load_session_user(session_id):
    """The SessionUser for a Flask-Login session id "ID:VERSION", or None when the version moved on."""
    user_id, _, version = (session_id or "").partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    row = hot_row(SESSION_USER, id=int(user_id))
    if row is None:
        return None
    user_id, username, display_name, team_id, active, locale, auth_version, role_names = row
    if auth_version != int(version):
        return None
    return SessionUser(user_id, username, display_name, team_id, bool(active), locale, auth_version,
                       roles=frozenset(Role(name) for name in (role_names or "").split(",") if name))


def model(user):
    """The ORM User behind a signed-in user (itself when it is one), to change it or follow its relationships."""
    return user if isinstance(user, User) else db.session.get(User, user.id)


def team_of(user):
    """The user's team with its branch, or None."""
    return get_team(user.team_id) if user.team_id else None


def end_sessions(user):
    """Invalidate every session cookie and API token the user holds (logout, password change)."""
    model(user).auth_version += 1
    db.session.commit()


def change_password(user, current, new):
    """Change a password after checking the current one; ends all other sessions. Returns the User,
    whose new session id signs this device in again."""
    user = model(user)
    if not user.check_password(current or ""):
        raise Invalid(fields={"current_password": [_l("The current password is wrong.")]})
    if len(new or "") < MIN_PASSWORD:
        raise Invalid(fields={"new_password": [_l("Use at least %(n)s characters.", n=MIN_PASSWORD)]})
    user.password_hash = _hash(new)
    user.auth_version += 1
    db.session.commit()
    return user


def set_locale(user, locale):
    """Remember a user's UI language."""
    model(user).locale = locale
    db.session.commit()


def get_or_create_team(branch_name, team_name):
    """The team of that name in that branch, created with its branch when missing."""
    branch_name, team_name = branch_name.strip(), team_name.strip()
    if not branch_name or not team_name:
        raise Invalid(fields={"team": [_l("Give both a branch and a team name.")]})
    branch = db.session.scalar(select(Branch).where(Branch.name == branch_name))
    if branch is None:
        branch = Branch(name=branch_name)
        db.session.add(branch)
        db.session.flush()
    team = db.session.scalar(select(Team).where(Team.branch_id == branch.id, Team.name == team_name))
    if team is None:
        team = Team(name=team_name, branch=branch)
        db.session.add(team)
    db.session.commit()
    return team


def find_team(name):
    """A team by "Branch/Team" or by a team name that is unique across branches."""
    branch_name, _, team_name = name.rpartition("/")
    query = select(Team).where(Team.name == team_name.strip())
    if branch_name:
        query = query.join(Branch).where(Branch.name == branch_name.strip())
    teams = db.session.scalars(query).all()
    if len(teams) != 1:
        raise NotFound(_l("No single team is called %(name)s.", name=name))
    return teams[0]


def count_users():
    """How many users exist."""
    return db.session.scalar(select(db.func.count(User.id)))


def commonest_role_set():
    """The roles most active users hold together, administrators aside (who never share pages)."""
    held = {}
    for user_id, role in db.session.execute(select(UserRole.user_id, UserRole.role).join(User)
                                            .where(User.active.is_(True))):
        held.setdefault(user_id, set()).add(role)
    sets = Counter(tuple(sorted(roles)) for roles in held.values() if Role.ADMIN not in roles)
    return sets.most_common(1)[0][0] if sets else (Role.AGENT.value,)


def stand_in_reader(roles, locale):
    """A reader who is nobody in particular, with these roles and language: pages rendered for them
    are the ones every uninvolved reader like them shares (flask pages warm). Never stored."""
    return User(id=0, username="", display_name="", password_hash="", active=True, locale=locale,
                auth_version=0, role_rows=[UserRole(role=Role(role).value) for role in roles])


def list_users():
    """Every user with team and branch, by team then name."""
    return db.session.scalars(
        select(User).outerjoin(Team).outerjoin(Branch)
        .order_by(Branch.name.nulls_first(), Team.name.nulls_first(), User.username)
    ).all()


def list_teams():
    """Every team with its branch, by branch then team name."""
    return db.session.scalars(select(Team).join(Branch).order_by(Branch.name, Team.name)).all()


def get_user(user_id):
    """A user by id, or NotFound."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound()
    return user


def update_user(user, acting, display_name, roles, team_id, active):
    """An administrator changes a user's name, roles, team or active flag.

    Deactivating or removing admin from oneself is refused, so the last door never locks from inside.
    """
    roles = {Role(r) for r in roles}
    if not roles:
        raise Invalid(fields={"roles": [_l("Choose at least one role.")]})
    if user.id == acting.id and (Role.ADMIN not in roles or not active):
        raise Invalid(fields={"roles": [_l("You cannot remove your own administrator access.")]})
    activity.audit(acting, "user_updated", user=user.username, roles=sorted(roles),
                   old_roles=sorted(user.roles), active=active, team_id=team_id)
    user.display_name = (display_name or user.username).strip()[:80]
    user.role_rows = [UserRole(role=r.value) for r in sorted(roles)]
    user.team = db.session.get(Team, team_id) if team_id else None
    if user.active and not active:
        user.auth_version += 1  # a deactivated user's open sessions and tokens end now
    user.active = active
    db.session.commit()
    return user


def reset_password(user, new_password):
    """An administrator sets a new password; the user's sessions and tokens end."""
    if len(new_password or "") < MIN_PASSWORD:
        raise Invalid(fields={"new_password": [_l("Use at least %(n)s characters.", n=MIN_PASSWORD)]})
    user.password_hash = _hash(new_password)
    user.auth_version += 1
    db.session.commit()


def get_team(team_id):
    """A team by id, or NotFound."""
    team = db.session.get(Team, team_id)
    if team is None:
        raise NotFound()
    return team
