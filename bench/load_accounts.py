"""bench/load.py's helper inside the app: the client accounts before a run, the lost-write check after.

    load_accounts.py ACCOUNTS_JSON CLIENTS DRAFTS PASSWORD REVIEWER_SHARE   # create or top up
    load_accounts.py --check < writes.json                                  # prints "lost: N"

Agents get drafts of their own to edit; every REVIEWER_SHARE-th client is a reviewer and gets
fresh entries submitted for review by the agents, to adopt during the run. Run with the server's
environment (KMWIKI_INSTANCE_PATH and, if set, KMWIKI_SQLALCHEMY_DATABASE_URI).
"""
import json
import sys
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kmwiki import create_app  # noqa: E402
from kmwiki.extensions import db  # noqa: E402
from kmwiki.models import Entry, PointAward, Revision, Role, Status, User  # noqa: E402
from kmwiki.services import entries as entry_service  # noqa: E402
from kmwiki.services import review, users  # noqa: E402
from kmwiki.services.entries import EntryInput  # noqa: E402

PENDING_PER_REVIEWER = 200
KIND = "objection_handling"


def main():
    app = create_app()
    with app.app_context():
        if sys.argv[1:] == ["--check"]:
            lost = lost_writes(json.load(sys.stdin))
            print(f"acknowledged writes checked; lost: {len(lost)}" + (f" {lost[:10]}" if lost else ""))
            sys.exit(1 if lost else 0)
        path, clients, drafts, password, reviewer_share = sys.argv[1:6]
        accounts = make_accounts(int(clients), int(drafts), password, int(reviewer_share))
        Path(path).write_text(json.dumps(accounts, ensure_ascii=False))


def make_accounts(clients, drafts, password, reviewer_share):
    team = users.get_or_create_team("负载测试分公司", "负载测试团队")
    accounts = []
    for n in range(clients):
        reviewer = n % reviewer_share == reviewer_share - 1
        user = account(f"load{n:02d}", password, [Role.REVIEWER, Role.AGENT] if reviewer else [Role.AGENT], team)
        accounts.append({"username": user.username, "drafts": [] if reviewer else own_drafts(user, drafts)})
    agents = [db.session.scalar(select(User).where(User.username == a["username"])) for a in accounts if a["drafts"]]
    rubric = [c.slug for c in review.criteria()]
    for item in accounts:
        if not item["drafts"]:
            item["to_adopt"] = waiting(item["username"], agents)
            item["rubric"] = rubric
    return accounts


def waiting(reviewer, agents):
    """Ids of PENDING_PER_REVIEWER entries waiting for this reviewer: those a run left waiting, then
    new ones. Creating them all anew on every run grew the index by 400 entries of one text a run,
    which every search scored, so later runs measured a slower search than earlier ones."""
    prefix = f"{reviewer}待采纳"
    left = db.session.scalars(select(Entry.id).where(Entry.title.startswith(prefix), Entry.status == Status.PENDING)
                              .order_by(Entry.id).limit(PENDING_PER_REVIEWER)).all()
    made = db.session.scalar(select(func.count()).select_from(Entry).where(Entry.title.startswith(prefix)))
    return left + [submitted(agents[k % len(agents)], f"{prefix}{k}")
                   for k in range(made, made + PENDING_PER_REVIEWER - len(left))]


def account(username, password, roles, team):
    user = db.session.scalar(select(User).where(User.username == username))
    return user or users.create_user(username, password, roles, display_name=f"压测{username[-2:]}", team=team)


def own_drafts(user, count):
    """(id, title, kind) of the user's drafts, creating them up to count."""
    rows = db.session.execute(select(Entry.id, Entry.title).where(
        Entry.author_id == user.id, Entry.status == Status.DRAFT).order_by(Entry.id)).all()
    for n in range(len(rows), count):
        entry = entry_service.create(draft_input(f"{user.username}的草稿{n}"), user)
        rows.append((entry.id, entry.title))
    return [(entry_id, title, KIND) for entry_id, title in rows[:count]]


def submitted(author, title):
    entry = entry_service.create(draft_input(title), author)
    review.submit(entry.id, author)
    return entry.id


def draft_input(title):
    return EntryInput(title=title, kind=KIND, products=["medical"], segments=[], tags=["负载测试"],
                      body=f"{title}\n\n客户觉得医疗险保费太贵时，先算清楚保障缺口，再比较两个方案。")


def lost_writes(writes):
    """The acknowledged writes the database does not hold."""
    lost = []
    for kind, entry_id, marker in writes:
        if kind == "edit":
            found = db.session.scalar(select(Revision.id).where(Revision.entry_id == entry_id, Revision.note == marker))
        else:
            found = db.session.scalar(select(PointAward.id).where(PointAward.cause == f"adopt:entry:{entry_id}")) \
                and db.session.get(Entry, entry_id).status == Status.ADOPTED
        if not found:
            lost.append((kind, entry_id, marker))
    return lost


if __name__ == "__main__":
    main()
