"""People: users, their roles, teams and branches, and API tokens."""
import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash

from ..extensions import db
from .base import UTCDateTime, utcnow


class Role(enum.StrEnum):
    """What a user may do; a user may hold several."""

    AGENT = "agent"
    REVIEWER = "reviewer"
    LEADER = "leader"
    ADMIN = "admin"


class Branch(db.Model):
    """A branch office (分公司)."""

    __tablename__ = "branches"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    teams: Mapped[list["Team"]] = relationship(back_populates="branch", order_by="Team.name")


class Team(db.Model):
    """A sales team inside a branch."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("branch_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    branch: Mapped[Branch] = relationship(back_populates="teams")


class UserRole(db.Model):
    """One role held by one user."""

    __tablename__ = "user_roles"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)


class Account(UserMixin):
    """What every form of a signed-in user answers, from `roles`, `active`, `id` and `auth_version`:
    the ORM User, and services/users.SessionUser (the plain row every request reads)."""

    def has_role(self, *roles):
        """True when the user holds any of the given roles."""
        return bool(self.roles.intersection(roles))

    @property
    def is_admin(self):
        return Role.ADMIN in self.roles

    @property
    def is_active(self):
        return self.active

    def get_id(self):
        # The version in the session id lets a bump invalidate every earlier cookie.
        return f"{self.id}:{self.auth_version}"


class User(Account, db.Model):
    """A person who signs in."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(255))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(String(10))
    # Bumped on logout and password change: every older session cookie and API token dies.
    auth_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    team: Mapped[Team | None] = relationship()
    role_rows: Mapped[list[UserRole]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def roles(self):
        """The set of Role values this user holds."""
        return {Role(row.role) for row in self.role_rows}

    def check_password(self, password):
        return check_password_hash(self.password_hash, password)


class ApiToken(db.Model):
    """A bearer token for the JSON API; only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    auth_version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
