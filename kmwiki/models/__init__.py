"""SQLAlchemy models, one module per domain."""
from .entry import Category, Entry, EntryLink, Revision, Status, Tag, Vocabulary
from .feedback import HelpfulVote
from .user import ApiToken, Branch, Role, Team, User, UserRole

__all__ = [
    "ApiToken", "Branch", "Category", "Entry", "EntryLink", "HelpfulVote", "Revision", "Role", "Status", "Tag",
    "Team", "User", "UserRole", "Vocabulary",
]
