"""SQLAlchemy models, one module per domain."""
from .activity import AuditEvent, Notification
from .attachment import Attachment
from .entry import Category, Entry, EntryLink, PageGeneration, Revision, Status, Tag, Vocabulary
from .feedback import HelpfulVote
from .points import PointAward, PointRule, Reason
from .reading import Bookmark, Comment
from .search import SearchMiss, SynonymGroup
from .review import ComplianceRule, Decision, Review, ReviewScore, RubricCriterion, RuleAction
from .user import Account, ApiToken, Branch, Role, Team, User, UserRole

__all__ = [
    "Account", "ApiToken", "Attachment", "AuditEvent", "Bookmark", "Branch", "Category", "Comment", "ComplianceRule", "Decision", "Entry", "EntryLink",
    "HelpfulVote", "Notification", "PageGeneration", "PointAward", "PointRule", "Reason", "Review", "ReviewScore", "Revision",
    "Role", "RubricCriterion", "RuleAction", "SearchMiss", "Status", "SynonymGroup", "Tag", "Team", "User", "UserRole", "Vocabulary",
]
