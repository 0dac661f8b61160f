"""Every route × every role against one reviewed table (issue 6, security).

Each role walks every route and API endpoint of the app with the real ids of objects someone else
owns (alice's draft, comment, bookmark, token, points, notifications …) and must get exactly the
status written in EXPECTED. A route the table does not list fails the suite, so no route ships
unreviewed; a refused state change must leave the database as it was, an allowed one must happen.
"""
import json
import re
from io import BytesIO
from types import SimpleNamespace
from urllib.parse import quote, urlsplit

import pytest
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException

from conftest import PASSWORD, entry_form
from kmwiki.extensions import db
from kmwiki.models import (ApiToken, Attachment, Bookmark, Comment, ComplianceRule, Entry, HelpfulVote,
                           Notification, PointAward, PointRule, Reason, Review, RubricCriterion, Status, SynonymGroup,
                           Team, User)
from kmwiki.services import activity, attachments, defaults, entries, points, reading, review, synonyms, tokens
from kmwiki.services.entries import EntryInput

COLUMNS = ("anonymous", "owner", "agent", "reviewer", "leader", "admin")
# The owner column is alice, an agent who owns the objects below; "agent" is bob, another agent. Each
# of them signs in as a user of their own, so a refusal is about whose object it is, not the role alone.
USERS = {"owner": ("alice", ["agent"]), "agent": ("bob", ["agent"]), "reviewer": ("rita", ["reviewer", "agent"]),
         "leader": ("lee", ["leader", "agent"]), "admin": ("root", ["admin"])}
TITLES = {
    "draft": "矩阵·爱丽丝的草稿", "draft_page": "矩阵·网页提交的草稿", "draft_api": "矩阵·接口提交的草稿",
    "pending": "矩阵·待审核", "pending_page": "矩阵·网页审核", "pending_api": "矩阵·接口审核",
    "own_pending": "矩阵·丽塔自己的条目", "adopted": "矩阵·已采纳", "adopted_api": "矩阵·接口投票",
    "adopted_edit": "矩阵·可修改", "retractable": "矩阵·待撤回",
    "history": "矩阵·修订历史", "adopted_pending_edit": "矩阵·审核中的改动",
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
REVIEW_SCORES = {"accuracy": 4, "usefulness": 4, "clarity": 4, "originality": 4}
VERDICT = {"scores": REVIEW_SCORES, "compliance": True, "decision": "adopt", "comment": ""}

# What each column gets. Pages answer an anonymous caller with a redirect to the sign-in page (302),
# the API and the editor's script endpoints with 401. An object someone may not see is 404 — the same
# as one that does not exist, so ids reveal nothing; an object they see but may not change is 403.
# Admins see everything (DESIGN §1 audit duties) but an admin-only account writes and votes on nothing.
# {name} is the id of the object of that name below; /wiki/ takes titles.
EXPECTED = {
    #                                                    anon owner agent review leader admin
    "GET /static/css/kmwiki.css":                        (200, 200, 200, 200, 200, 200),
    "GET /login":                                        (200, 200, 200, 200, 200, 200),
    "POST /login":                                       (200, 302, 302, 302, 302, 302),  # anon: unknown user
    "POST /language":                                    (302, 302, 302, 302, 302, 302),
    "GET /profile":                                      (302, 200, 200, 200, 200, 200),
    "GET /":                                             (302, 200, 200, 200, 200, 200),
    "GET /entries":                                      (302, 200, 200, 200, 200, 200),
    "GET /recent":                                       (302, 200, 200, 200, 200, 200),
    "GET /search?q=保费":                                 (302, 200, 200, 200, 200, 200),
    "GET /search/similar?title=保费":                     (302, 200, 200, 200, 200, 200),
    "GET /search/gaps":                                  (302, 403, 403, 403, 200, 200),
    "GET /leaderboard":                                  (302, 200, 200, 200, 200, 200),
    "GET /leaderboard?scope=team":                       (302, 403, 403, 403, 200, 200),
    "GET /me/points":                                    (302, 200, 200, 200, 200, 200),
    "GET /me/bookmarks":                                 (302, 200, 200, 200, 200, 200),
    "GET /notifications":                                (302, 200, 200, 200, 200, 200),
    "POST /notifications/read":                          (302, 302, 302, 302, 302, 302),
    "GET /dashboard":                                    (302, 403, 403, 403, 200, 200),
    "GET /dashboard/export/participation.csv":           (302, 403, 403, 403, 200, 200),
    # entries
    "GET /entries/new":                                  (302, 200, 200, 200, 200, 403),
    "POST /entries/new":                                 (302, 302, 302, 302, 302, 403),
    "GET /entries/{draft}":                              (302, 200, 404, 404, 404, 200),
    "GET /entries/{pending}":                            (302, 200, 404, 200, 404, 200),
    "GET /entries/{adopted}":                            (302, 200, 200, 200, 200, 200),
    "GET /entries/{draft}/revisions/1":                  (302, 200, 404, 404, 404, 200),
    "GET /entries/{draft}/history":                      (302, 200, 404, 404, 404, 200),
    "GET /entries/{draft}/diff?a=1&b=2":                 (302, 200, 404, 404, 404, 200),
    # An adopted entry's unpublished revisions (services/access.py can_view_revision): 1 is alice's
    # draft before adoption, 2 the published one, 3 carol's unsent edit; the other entry's 2 is an
    # edit waiting for review, which reviewers read while it waits.
    "GET /entries/{history}":                            (302, 200, 200, 200, 200, 200),
    "GET /entries/{history}/history":                    (302, 200, 200, 200, 200, 200),
    "GET /entries/{history}/revisions/1":                (302, 200, 404, 404, 404, 200),
    "GET /entries/{history}/revisions/2":                (302, 200, 200, 200, 200, 200),
    "GET /entries/{history}/revisions/3":                (302, 200, 404, 404, 404, 200),
    "GET /entries/{history}/diff?a=1&b=2":               (302, 200, 404, 404, 404, 200),
    "GET /entries/{history}/diff?a=2&b=3":               (302, 200, 404, 404, 404, 200),
    "GET /entries/{adopted_pending_edit}/revisions/2":   (302, 200, 404, 200, 404, 200),
    "GET /entries/{adopted_pending_edit}/diff?a=1&b=2":  (302, 200, 404, 200, 404, 200),
    "POST /entries/{history}/revert/1":                  (302, 302, 404, 404, 404, 403),
    "GET /entries/{draft}/edit":                         (302, 200, 404, 404, 404, 403),
    "POST /entries/{draft}/edit":                        (302, 302, 404, 404, 404, 403),
    "POST /entries/{draft}/revert/1":                    (302, 302, 404, 404, 404, 403),
    "POST /entries/{draft_page}/submit":                 (302, 302, 404, 404, 404, 403),
    "GET /entries/{adopted_edit}/edit":                  (302, 200, 200, 200, 200, 403),
    "POST /entries/{adopted_edit}/edit":                 (302, 302, 302, 302, 302, 403),
    "POST /entries/{adopted}/helpful":                   (302, 403, 302, 302, 302, 403),
    "POST /entries/{retractable}/retract":               (302, 403, 403, 403, 403, 302),
    "POST /entries/{adopted}/bookmark":                  (302, 302, 302, 302, 302, 302),
    "POST /entries/{draft}/bookmark":                    (302, 302, 404, 404, 404, 302),
    "POST /entries/{adopted}/comments":                  (302, 302, 302, 302, 302, 302),
    "POST /entries/{draft}/comments":                    (302, 302, 404, 404, 404, 302),
    "POST /entries/{adopted}/comments/{comment}/delete": (302, 302, 403, 403, 403, 302),
    "GET /wiki/{adopted_title}":                         (302, 302, 302, 302, 302, 302),
    "GET /wiki/{draft_title}":                           (302, 302, 404, 404, 404, 302),
    "GET /attachments/{attachment}":                     (302, 200, 200, 200, 200, 200),
    "POST /editor/preview":                              (401, 200, 200, 200, 200, 200),
    "POST /editor/attachments":                          (401, 201, 201, 201, 201, 403),
    # review
    "GET /review":                                       (302, 403, 403, 200, 403, 403),
    "GET /review/{pending}":                             (302, 403, 403, 200, 403, 403),
    "POST /review/{pending_page}":                       (302, 403, 403, 302, 403, 403),
    "GET /review/{own_pending}":                         (302, 403, 403, 200, 403, 403),  # rita's own entry
    "POST /review/{own_pending}":                        (302, 403, 403, 403, 403, 403),
    # administration
    "GET /admin":                                        (302, 403, 403, 403, 403, 200),
    "GET /admin/audit":                                  (302, 403, 403, 403, 403, 200),
    "GET /admin/points":                                 (302, 403, 403, 403, 403, 200),
    "GET /admin/points.csv":                             (302, 403, 403, 403, 403, 200),
    "GET /admin/rules":                                  (302, 403, 403, 403, 403, 200),
    "POST /admin/rules/compliance":                      (302, 403, 403, 403, 403, 302),
    "POST /admin/rules/points/review":                   (302, 403, 403, 403, 403, 302),
    "POST /admin/rules/rubric":                          (302, 403, 403, 403, 403, 302),
    "GET /admin/synonyms":                               (302, 403, 403, 403, 403, 200),
    "POST /admin/synonyms":                              (302, 403, 403, 403, 403, 302),
    "GET /admin/synonyms/{synonyms}":                    (302, 403, 403, 403, 403, 200),
    "POST /admin/synonyms/{synonyms}":                   (302, 403, 403, 403, 403, 302),
    "POST /admin/synonyms/{doomed_synonyms}/delete":     (302, 403, 403, 403, 403, 302),
    "POST /admin/teams":                                 (302, 403, 403, 403, 403, 302),
    "GET /admin/users/new":                              (302, 403, 403, 403, 403, 200),
    "POST /admin/users/new":                             (302, 403, 403, 403, 403, 302),
    "GET /admin/users/{carol}":                          (302, 403, 403, 403, 403, 200),
    "POST /admin/users/{carol}":                         (302, 403, 403, 403, 403, 302),
    "POST /admin/users/{carol}/password":                (302, 403, 403, 403, 403, 302),
    # JSON API
    "GET /api/v1/openapi.json":                          (200, 200, 200, 200, 200, 200),
    "POST /api/v1/tokens":                               (401, 201, 201, 201, 201, 201),  # anon: unknown user
    "GET /api/v1/categories":                            (401, 200, 200, 200, 200, 200),
    "GET /api/v1/rubric":                                (401, 200, 200, 200, 200, 200),
    "GET /api/v1/entries":                               (401, 200, 200, 200, 200, 200),
    "POST /api/v1/entries":                              (401, 201, 201, 201, 201, 403),
    "GET /api/v1/entries/similar?title=保费":              (401, 200, 200, 200, 200, 200),
    "GET /api/v1/search?q=保费":                           (401, 200, 200, 200, 200, 200),
    "GET /api/v1/entries/{draft}":                       (401, 200, 404, 404, 404, 200),
    "GET /api/v1/entries/{draft}/revisions":             (401, 200, 404, 404, 404, 200),
    "GET /api/v1/entries/{history}?revision=1":          (401, 200, 404, 404, 404, 200),
    "GET /api/v1/entries/{history}?revision=2":          (401, 200, 200, 200, 200, 200),
    "GET /api/v1/entries/{history}?revision=3":          (401, 200, 404, 404, 404, 200),
    "GET /api/v1/entries/{history}/revisions":           (401, 200, 200, 200, 200, 200),
    "GET /api/v1/entries/{adopted_pending_edit}?revision=2": (401, 200, 404, 200, 404, 200),
    "PUT /api/v1/entries/{draft}":                       (401, 200, 404, 404, 404, 403),
    "POST /api/v1/entries/{draft_api}/submit":           (401, 200, 404, 404, 404, 403),
    "GET /api/v1/entries/{pending}/reviews":             (401, 200, 404, 200, 404, 200),
    "POST /api/v1/entries/{pending_api}/reviews":        (401, 403, 403, 201, 403, 403),
    "POST /api/v1/entries/{own_pending}/reviews":        (401, 403, 403, 403, 403, 403),
    "POST /api/v1/entries/{adopted_api}/helpful":        (401, 403, 201, 201, 201, 403),
    "GET /api/v1/reviews/queue":                         (401, 403, 403, 200, 403, 403),
    "GET /api/v1/leaderboard":                           (401, 200, 200, 200, 200, 200),
    "GET /api/v1/leaderboard?scope=team":                (401, 403, 403, 403, 200, 200),
    "GET /api/v1/users/me/points":                       (401, 200, 200, 200, 200, 200),
    "GET /api/v1/points":                                (401, 403, 403, 403, 403, 200),
    # Last, because they end the caller's token, password or session.
    "DELETE /api/v1/tokens/current":                     (401, 204, 204, 204, 204, 204),
    "POST /profile":                                     (302, 302, 302, 302, 302, 302),
    "POST /logout":                                      (302, 302, 302, 302, 302, 302),
}

# Rows whose success is not shown by the entry's title in the answer.
UNTITLED = {"GET /api/v1/entries/{pending}/reviews"}


def review_form():
    """The review page's form data for an adopting verdict."""
    data = {f"score_{slug}": str(score) for slug, score in REVIEW_SCORES.items()}
    return dict(data, compliance="pass", comment="", decision="adopt")


# What each state-changing row sends: keyword arguments for the request, given the world and the caller.
REQUESTS = {
    "POST /login": lambda w, who: {"data": {"username": who.username if who else "nobody", "password": PASSWORD}},
    "POST /language": lambda w, who: {"data": {"lang": "en", "next": "/"}},
    "POST /entries/new": lambda w, who: {"data": entry_form(title="矩阵·新条目")},
    # Edits keep the title: the /wiki/ rows look the entries up by it.
    "POST /entries/{draft}/edit": lambda w, who: {"data": entry_form(
        title=TITLES["draft"], body="别人改写的正文", base_revision=w.latest("draft"))},
    "POST /entries/{draft}/revert/1": lambda w, who: {"data": {"base_revision": w.latest("draft")}},
    "POST /entries/{history}/revert/1": lambda w, who: {"data": {"base_revision": w.latest("history")}},
    "POST /entries/{adopted_edit}/edit": lambda w, who: {"data": entry_form(
        title=TITLES["adopted_edit"], body="改进的正文", base_revision=w.latest("adopted_edit"))},
    "POST /entries/{retractable}/retract": lambda w, who: {"data": {"reason": "内容过时"}},
    "POST /entries/{adopted}/bookmark": lambda w, who: {"data": {"keep": "1"}},
    "POST /entries/{draft}/bookmark": lambda w, who: {"data": {"keep": "1"}},
    "POST /entries/{adopted}/comments": lambda w, who: {"data": {"body": "矩阵评论"}},
    "POST /entries/{draft}/comments": lambda w, who: {"data": {"body": "矩阵评论"}},
    "POST /editor/preview": lambda w, who: {"data": {"body": "**粗体**"}},
    "POST /editor/attachments": lambda w, who: {"data": {"file": (BytesIO(PNG), "图.png")}},
    "POST /review/{pending_page}": lambda w, who: {"data": review_form()},
    "POST /review/{own_pending}": lambda w, who: {"data": review_form()},
    "POST /admin/rules/compliance": lambda w, who: {"data": {"phrase": "矩阵测试词", "action": "flag", "active": "y"}},
    "POST /admin/rules/points/review": lambda w, who: {"data": {"value": "3"}},
    "POST /admin/rules/rubric": lambda w, who: {"data": {"slug": "matrix_check", "name_zh": "矩阵", "name_en": "Matrix"}},
    "POST /admin/synonyms": lambda w, who: {"data": {"words": "矩阵甲, 矩阵乙"}},
    "POST /admin/synonyms/{synonyms}": lambda w, who: {"data": {"words": "矩阵词一, 矩阵词二, 矩阵词五"}},
    "POST /admin/teams": lambda w, who: {"data": {"branch": "华北分公司", "name": "矩阵组"}},
    "POST /admin/users/new": lambda w, who: {"data": {"username": "newcomer", "password": "secret-pass-9",
                                                       "display_name": "新人", "roles": ["agent"], "team": "0",
                                                       "active": "y"}},
    "POST /admin/users/{carol}": lambda w, who: {"data": {"display_name": "卡罗尔", "roles": ["agent", "reviewer"],
                                                           "team": "0", "active": "y"}},
    "POST /admin/users/{carol}/password": lambda w, who: {"data": {"new_password": "another-pass-2"}},
    "POST /profile": lambda w, who: {"data": {"current_password": PASSWORD, "new_password": "changed-pass-2",
                                              "confirm": "changed-pass-2"}},
    "POST /api/v1/tokens": lambda w, who: {"json": {"username": who.username if who else "nobody",
                                                    "password": PASSWORD}, "headers": {}},
    "POST /api/v1/entries": lambda w, who: {"json": {"title": "矩阵·接口新条目", "body": "正文", "kind": "faq"}},
    "PUT /api/v1/entries/{draft}": lambda w, who: {"json": {
        "title": TITLES["draft"], "body": "别人用接口改写", "kind": "objection_handling",
        "base_revision": w.latest("draft")}},
    "POST /api/v1/entries/{pending_api}/reviews": lambda w, who: {"json": VERDICT},
    "POST /api/v1/entries/{own_pending}/reviews": lambda w, who: {"json": VERDICT},
    # A token of its own, so revoking it leaves the caller's other requests signed in.
    "DELETE /api/v1/tokens/current": lambda w, who: {"headers": w.fresh_token(who)},
}


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


# What a state-changing row changes, read before and after: a refusal must leave it alone, a success
# must move it. `who` is the caller's user row (None when anonymous).
EFFECTS = {
    "POST /notifications/read": lambda w, who: who and count(Notification, Notification.user_id == who.id,
                                                             Notification.read_at.is_(None)),
    "POST /entries/new": lambda w, who: who and count(Entry, Entry.author_id == who.id),
    "POST /entries/{draft}/edit": lambda w, who: w.latest("draft"),
    "POST /entries/{draft}/revert/1": lambda w, who: w.latest("draft"),
    "POST /entries/{history}/revert/1": lambda w, who: w.latest("history"),
    "POST /entries/{draft_page}/submit": lambda w, who: w.status("draft_page"),
    "POST /entries/{adopted_edit}/edit": lambda w, who: w.latest("adopted_edit"),
    "POST /entries/{adopted}/helpful": lambda w, who: count(HelpfulVote, HelpfulVote.entry_id == w.adopted),
    "POST /entries/{retractable}/retract": lambda w, who: w.status("retractable"),
    "POST /entries/{adopted}/bookmark": lambda w, who: who and count(Bookmark, Bookmark.user_id == who.id),
    "POST /entries/{draft}/bookmark": lambda w, who: who and count(Bookmark, Bookmark.user_id == who.id),
    "POST /entries/{adopted}/comments": lambda w, who: count(Comment, Comment.entry_id == w.adopted),
    "POST /entries/{draft}/comments": lambda w, who: count(Comment, Comment.entry_id == w.draft),
    "POST /entries/{adopted}/comments/{comment}/delete": lambda w, who: db.session.get(Comment, w.comment).deleted_at,
    "POST /editor/attachments": lambda w, who: count(Attachment),
    "POST /review/{pending_page}": lambda w, who: (w.status("pending_page"), w.reviews("pending_page")),
    "POST /review/{own_pending}": lambda w, who: (w.status("own_pending"), w.reviews("own_pending")),
    "POST /admin/rules/compliance": lambda w, who: count(ComplianceRule, ComplianceRule.phrase == "矩阵测试词"),
    "POST /admin/rules/points/review": lambda w, who: db.session.get(PointRule, "review").value,
    "POST /admin/rules/rubric": lambda w, who: count(RubricCriterion, RubricCriterion.slug == "matrix_check"),
    "POST /admin/synonyms": lambda w, who: count(SynonymGroup),
    "POST /admin/synonyms/{synonyms}": lambda w, who: db.session.get(SynonymGroup, w.synonyms).words,
    "POST /admin/synonyms/{doomed_synonyms}/delete": lambda w, who: count(SynonymGroup),
    "POST /admin/teams": lambda w, who: count(Team),
    "POST /admin/users/new": lambda w, who: count(User, User.username == "newcomer"),
    "POST /admin/users/{carol}": lambda w, who: sorted(db.session.get(User, w.carol).roles),
    "POST /admin/users/{carol}/password": lambda w, who: db.session.get(User, w.carol).password_hash,
    "POST /profile": lambda w, who: who and db.session.get(User, who.id).password_hash,
    "POST /logout": lambda w, who: who and db.session.get(User, who.id).auth_version,
    "POST /api/v1/tokens": lambda w, who: count(ApiToken),
    "POST /api/v1/entries": lambda w, who: who and count(Entry, Entry.author_id == who.id),
    "PUT /api/v1/entries/{draft}": lambda w, who: w.latest("draft"),
    "POST /api/v1/entries/{draft_api}/submit": lambda w, who: w.status("draft_api"),
    "POST /api/v1/entries/{pending_api}/reviews": lambda w, who: (w.status("pending_api"), w.reviews("pending_api")),
    "POST /api/v1/entries/{own_pending}/reviews": lambda w, who: (w.status("own_pending"), w.reviews("own_pending")),
    "POST /api/v1/entries/{adopted_api}/helpful": lambda w, who: count(HelpfulVote,
                                                                       HelpfulVote.entry_id == w.adopted_api),
    "DELETE /api/v1/tokens/current": lambda w, who: count(ApiToken, ApiToken.revoked_at.is_not(None)),
}
# Changes nothing in the database: answers only, or a cookie.
NO_EFFECT = {"POST /login", "POST /language", "POST /editor/preview"}


class World:
    """Users and objects owned by alice (and one by rita), created through the services once per test."""

    def __init__(self, app, make_user, make_entry, client):
        self.app, self.client = app, client
        self.users = {column: make_user(name, roles=roles) for column, (name, roles) in USERS.items()}
        self.alice, self.rita, self.root = self.users["owner"], self.users["reviewer"], self.users["admin"]
        self.carol = make_user("carol")
        self.ids = {name: make_entry(self.rita if name == "own_pending" else self.alice, title=title,
                                     status=Status.ADOPTED if name.startswith(("adopted", "retract")) else Status.DRAFT)
                    for name, title in TITLES.items()}
        with app.app_context():
            alice, rita, root = (db.session.get(User, i) for i in (self.alice, self.rita, self.root))
            entries.save_edit(self.draft, self.content("draft", "第二稿"), 1, alice)
            for name in ("pending", "pending_page", "pending_api"):
                review.submit(self.ids[name], alice)
            review.submit(self.own_pending, rita)
            carol = db.session.get(User, self.carol)
            entries.save_edit(self.history, self.content("history", "已删去客户证件号"), 1, alice)
            entries.publish(self.history, 2)
            entries.save_edit(self.history, self.content("history", "卡罗尔未送审的修改"), 2, carol)
            entries.save_edit(self.adopted_pending_edit, self.content("adopted_pending_edit", "卡罗尔送审的修改"), 1, carol)
            review.submit(self.adopted_pending_edit, carol)
            self.comment = reading.add_comment(self.adopted, alice, "爱丽丝的评论").id
            reading.set_bookmark(self.adopted_api, alice, True)
            activity.notify(set(self.users.values()), "comment", db.session.get(Entry, self.adopted),
                            db.session.get(User, self.carol), title=TITLES["adopted"], comment="有人留言")
            points.award(self.alice, 15, Reason.ENTRY_ADOPTED, f"adopt:entry:{self.adopted}", self.adopted)
            db.session.commit()
            self.attachment = attachments.store(BytesIO(PNG), "爱丽丝的图.png", alice, entry_id=self.draft).token
            self.synonyms = synonyms.add_group("矩阵词一, 矩阵词二", root).id
            self.doomed_synonyms = synonyms.add_group("矩阵词三, 矩阵词四", root).id
        self.alice_token = self.fresh_token(self.user("owner"))

    @staticmethod
    def content(name, body):
        """An edit of the named entry that keeps its title (the /wiki/ rows and title checks need it)."""
        return EntryInput(title=TITLES[name], body=body, kind="objection_handling")

    def __getattr__(self, name):
        try:
            return self.__dict__["ids"][name]
        except KeyError:
            raise AttributeError(name) from None

    def user(self, column):
        """The user row of a column (None for anonymous), detached for reading its name and id."""
        if column == "anonymous":
            return None
        with self.app.app_context():
            user = db.session.get(User, self.users[column])
            return SimpleNamespace(id=user.id, username=user.username)

    def url(self, template):
        values = dict(self.ids, comment=self.comment, attachment=self.attachment, synonyms=self.synonyms,
                      doomed_synonyms=self.doomed_synonyms, carol=self.carol,
                      adopted_title=quote(TITLES["adopted"]), draft_title=quote(TITLES["draft"]))
        return template.format(**values)

    def latest(self, name):
        return db.session.get(Entry, self.ids[name], populate_existing=True).latest_number

    def status(self, name):
        return db.session.get(Entry, self.ids[name], populate_existing=True).status

    def reviews(self, name):
        return count(Review, Review.entry_id == self.ids[name])

    def fresh_token(self, who):
        """Bearer headers with a newly issued token of this user (none when anonymous)."""
        if who is None:
            return {}
        response = self.client.post("/api/v1/tokens", json={"username": who.username, "password": PASSWORD})
        assert response.status_code == 201, response.get_json()
        return {"Authorization": "Bearer " + response.get_json()["token"]}

    def probe(self, key, who):
        with self.app.app_context():
            return EFFECTS[key](self, who)


def empty_database(app):
    """Every row gone and the seed data back: the next column starts from the same world."""
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())
        defaults.ensure_defaults()


def split(key):
    method, _, template = key.partition(" ")
    return method, template


def answer_text(response):
    """The response as text, JSON without \\u escapes so titles can be looked for."""
    if response.is_json:
        return json.dumps(response.get_json(), ensure_ascii=False)
    return response.get_data().decode("utf-8", "replace")


def entry_names(template):
    return [name for name in TITLES if "{" + name + "}" in template]


def test_every_route_is_in_the_table_and_every_row_is_a_route(app):
    """A new route fails here until someone decides, in EXPECTED, who may call it."""
    adapter = app.url_map.bind("localhost")
    listed = set()
    for key in EXPECTED:
        method, template = split(key)
        path = urlsplit(re.sub(r"\{\w+\}", "1", template)).path
        try:
            endpoint, _ = adapter.match(path, method=method)
        except HTTPException:
            pytest.fail(f"{key} is in EXPECTED but is no route of the app")
        listed.add((endpoint, method))
    routes = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes - listed == set(), "routes nobody has reviewed: add them to EXPECTED"
    assert set(REQUESTS) <= set(EXPECTED) and set(EFFECTS) <= set(EXPECTED)
    changing = {key for key in EXPECTED if split(key)[0] != "GET"}
    assert changing - set(EFFECTS) == NO_EFFECT, "say what each state-changing row changes"


def test_access_matrix(app, make_user, make_entry, make_client, client):
    """Every row for every column. Each column gets a world of its own (one column's allowed changes,
    a submitted draft say, would change what the next one may see) but shares the app, whose compiled
    templates are most of a walk's time."""
    problems = {}
    for column in COLUMNS:
        if column != COLUMNS[0]:
            empty_database(app)
        world = World(app, make_user, make_entry, client)
        problems.update({f"{column}: {key}": problem for key, problem in walk(app, world, make_client(), column)})
    assert problems == {}


def walk(app, world, browser, column):
    """Call every row as the column's user; yields (row, what is wrong) for each row that is."""
    index = COLUMNS.index(column)
    who = world.user(column)
    if who is not None:
        assert browser.login(who.username).status_code == 302
    csrf = browser.csrf_token()
    bearer = world.fresh_token(who)
    for key, expected in EXPECTED.items():
        method, template = split(key)
        expected = expected[index]
        url = world.url(template)
        with app.app_context():
            options = REQUESTS[key](world, who) if key in REQUESTS else {}
        if url.startswith("/api/"):
            options.setdefault("headers", bearer)
        elif method != "GET":
            options["data"] = dict(options.get("data", {}), csrf_token=csrf)
            options["headers"] = {"X-CSRFToken": csrf}
        before = world.probe(key, who) if key in EFFECTS else None
        response = browser.open(url, method=method, **options)
        text = answer_text(response)
        response.close()  # files (static, attachments) are streamed from an open handle
        if response.status_code != expected:
            yield key, f"expected {expected}, got {response.status_code}: {text[:160]}"
            continue
        if key in EFFECTS:
            # A refusal (or an anonymous caller, whom every row refuses or sends to sign in) changes nothing.
            should_change = who is not None and expected < 400
            if (world.probe(key, who) != before) != should_change:
                yield key, f"{response.status_code}, but {'nothing changed' if should_change else 'it changed'}"
        for name in entry_names(template):
            shown = TITLES[name] in text
            if response.status_code in (403, 404) and shown:
                yield key, f"the refusal shows the title of {name}"
            elif method == "GET" and response.status_code == 200 and key not in UNTITLED and not shown:
                yield key, f"200 without the title of {name}: not that entry's page"


# --- what belongs to someone else stays theirs --------------------------------------------------------


def signed_in(make_client, username):
    browser = make_client()
    assert browser.login(username).status_code == 302
    return browser


def test_nobody_reaches_another_users_token_notifications_points_or_bookmarks(app, make_user, make_entry,
                                                                              make_client, client):
    world = World(app, make_user, make_entry, client)
    alice, bob = world.user("owner"), world.user("agent")
    alice_token = world.alice_token["Authorization"].partition(" ")[2]
    bob_api = world.fresh_token(bob)
    bob_page = signed_in(make_client, "bob")

    # Tokens: the only revocation is of the token presented; naming alice's anywhere else is ignored.
    assert client.delete(f"/api/v1/tokens/current?token={alice_token}", json={"token": alice_token},
                         headers=bob_api).status_code == 204
    assert client.get("/api/v1/users/me/points", headers=bob_api).status_code == 401
    assert client.get("/api/v1/users/me/points", headers=world.alice_token).status_code == 200
    with app.app_context():
        assert tokens.user_for(alice_token).username == "alice"

    # Notifications: marking read marks one's own.
    def unread(user):
        with app.app_context():
            return activity.unread_count(db.session.get(User, user.id))

    assert (unread(alice), unread(bob)) == (1, 1)
    assert bob_page.form_post("/notifications/read").status_code == 302
    assert (unread(alice), unread(bob)) == (1, 0)

    # Points: /me is the caller, whatever the query string says.
    bob_api = world.fresh_token(bob)
    for query in ("", f"?user_id={alice.id}", "?user=alice", "?username=alice"):
        mine = client.get(f"/api/v1/users/me/points{query}", headers=bob_api).get_json()
        assert (mine["total"], mine["rows"]) == (0, []), query
        assert TITLES["adopted"] not in bob_page.get(f"/me/points{query}").get_data(as_text=True), query
    assert client.get("/api/v1/users/me/points", headers=world.alice_token).get_json()["total"] == 15
    assert TITLES["adopted"] in signed_in(make_client, "alice").get("/me/points").get_data(as_text=True)

    # Bookmarks: dropping one drops one's own; the list is one's own.
    assert bob_page.form_post(f"/entries/{world.adopted_api}/bookmark", {"keep": "0"}).status_code == 302
    with app.app_context():
        assert db.session.get(Bookmark, (alice.id, world.adopted_api)) is not None
    assert TITLES["adopted_api"] not in bob_page.get("/me/bookmarks").get_data(as_text=True)
    assert TITLES["adopted_api"] in signed_in(make_client, "alice").get("/me/bookmarks").get_data(as_text=True)


def edit_adopted(client, headers, entry_id, body, base):
    response = client.put(f"/api/v1/entries/{entry_id}", headers=headers, json={
        "title": TITLES["adopted_edit"], "body": body, "kind": "objection_handling", "base_revision": base})
    assert response.status_code == 200, response.get_json()


def entry_state(app, entry_id):
    with app.app_context():
        entry = db.session.get(Entry, entry_id)
        return entry.status, entry.published_number, entry.review_number, entry.latest_number


def test_nobody_sends_someone_elses_edit_to_review_and_is_paid_for_it(app, make_user, make_entry, make_client,
                                                                       client, api):
    """An adopted edit pays its submitter (DESIGN §4), so only its writer may send it."""
    alice, bob = make_user("alice"), make_user("bob")
    make_user("rita", roles=["reviewer", "agent"])
    entry_id = make_entry(alice, title=TITLES["adopted_edit"], status=Status.ADOPTED)
    edit_adopted(client, api("rita"), entry_id, "丽塔的改进", 1)
    submit_form = f'action="/entries/{entry_id}/submit"'
    assert submit_form in signed_in(make_client, "rita").get(f"/entries/{entry_id}").get_data(as_text=True)
    assert client.post(f"/api/v1/entries/{entry_id}/submit", headers=api("bob")).status_code == 403
    for name in ("bob", "alice"):  # not even the entry's author sends it on the editor's behalf
        page = signed_in(make_client, name)
        assert submit_form not in page.get(f"/entries/{entry_id}").get_data(as_text=True)
        assert page.form_post(f"/entries/{entry_id}/submit").status_code == 403, name
    assert entry_state(app, entry_id) == (Status.ADOPTED, 1, None, 2)

    # Whoever builds on the edit sends their own newest revision.
    edit_adopted(client, api("bob"), entry_id, "丽塔的改进，鲍勃补充", 2)
    assert client.post(f"/api/v1/entries/{entry_id}/submit", headers=api("bob")).status_code == 200
    with app.app_context():
        assert db.session.get(Entry, entry_id).submitted_by_id == bob
    assert entry_state(app, entry_id) == (Status.PENDING, 1, 3, 3)


def test_a_reviewer_never_reviews_an_edit_they_wrote_that_someone_else_sent(app, make_user, make_entry,
                                                                            make_client, client, api):
    alice, bob = make_user("alice"), make_user("bob")
    make_user("rita", roles=["reviewer", "agent"])
    make_user("ray", roles=["reviewer", "agent"])
    entry_id = make_entry(alice, title=TITLES["adopted_edit"], status=Status.ADOPTED)
    edit_adopted(client, api("rita"), entry_id, "丽塔的改进", 1)
    edit_adopted(client, api("bob"), entry_id, "丽塔的改进，鲍勃补充", 2)
    assert client.post(f"/api/v1/entries/{entry_id}/submit", headers=api("bob")).status_code == 200

    rita = signed_in(make_client, "rita")
    assert f'href="/review/{entry_id}"' not in rita.get(f"/entries/{entry_id}").get_data(as_text=True)
    assert 'name="decision"' not in rita.get(f"/review/{entry_id}").get_data(as_text=True)
    assert rita.form_post(f"/review/{entry_id}", dict(review_form(), csrf_token=rita.csrf_token())).status_code == 403
    assert client.post(f"/api/v1/entries/{entry_id}/reviews", json=VERDICT, headers=api("rita")).status_code == 403
    assert entry_state(app, entry_id) == (Status.PENDING, 1, 3, 3)
    with app.app_context():
        assert count(Review, Review.entry_id == entry_id) == 0 and count(PointAward) == 0

    # A reviewer who wrote none of it decides, and the submitter is paid for the edit.
    assert client.post(f"/api/v1/entries/{entry_id}/reviews", json=VERDICT, headers=api("ray")).status_code == 201
    assert entry_state(app, entry_id) == (Status.ADOPTED, 3, 3, 3)
    with app.app_context():
        assert db.session.scalar(select(PointAward.user_id).where(PointAward.reason == Reason.EDIT_ADOPTED)) == bob
