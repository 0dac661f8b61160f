"""Load the demo organisation and knowledge (kmwiki/demo/data.py) through the services."""
from ..models import Status
from ..services import entries, users
from ..services.entries import EntryInput
from .data import BRANCHES, DEMO_PASSWORD, ENTRIES, USERS

__all__ = ["DEMO_PASSWORD", "ENTRIES", "load_entry", "load_people"]


def load_people():
    """Create the branches, teams and users; returns users by username."""
    teams = {}
    for branch in BRANCHES:
        for team_name in branch["teams"]:
            teams[team_name] = users.get_or_create_team(branch["name"], team_name)
    people = {}
    for person in USERS:
        people[person["username"]] = users.create_user(
            person["username"], DEMO_PASSWORD, person["roles"], display_name=person["display_name"],
            team=teams.get(person["team"]))
    return people


def load_entry(item, people):
    """Create one demo entry with its later edits; adopted entries publish their last edit."""
    status = Status(item.get("status", Status.ADOPTED))
    data = EntryInput(title=item["title"], body=item["body"], kind=item["kind"], products=item["products"],
                      segments=item["segments"], tags=item["tags"])
    entry = entries.create(data, people[item["author"]], status=status)
    for edit in item.get("edits", []):
        revised = EntryInput(title=item["title"], body=edit["body"], kind=item["kind"], products=item["products"],
                             segments=item["segments"], tags=item["tags"], note=edit.get("note", ""))
        entries.save_edit(entry.id, revised, entry.latest_number, people[edit["editor"]])
    if status == Status.ADOPTED:
        entries.publish(entry.id, entry.latest_number)
    return entry
