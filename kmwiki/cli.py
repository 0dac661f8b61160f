"""Command-line tools: `flask --app kmwiki COMMAND --help`."""
import multiprocessing
import os
import queue
import sys
import traceback
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import force_locale
from flask_login import login_user
from flask_migrate import upgrade
from sqlalchemy import inspect

from . import pages
from .blueprints import entries as entry_pages
from .demo import load as demo
from .errors import KmwikiError
from .extensions import db
from .models import Role, Status
from .search import index as search_index
from .services import backup as backups, defaults, entries, importer, seeding, users


def init_app(app):
    """Register the commands."""
    for command in (init_db, create_user, demo_data, import_entries, reindex, search_check, backup, restore,
                    seed_scale, pages_group):
        app.cli.add_command(command)


def fail(message):
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def error_text(error):
    """A domain error as one readable line, field messages included."""
    details = "; ".join(f"{name}: {', '.join(map(str, msgs))}" for name, msgs in error.fields.items())
    return f"{error.message} ({details})" if details else str(error.message)


def english_error_text(error):
    """error_text in English, for reports that mix domain messages with English CLI text."""
    with force_locale("en"):
        return error_text(error)


@click.command("init-db")
@with_appcontext
def init_db():
    """Create or migrate the database to the newest schema and add the default data
    (categories, rubric, compliance lexicon, point rules)."""
    upgrade()
    added = defaults.ensure_defaults()
    click.echo("Database is up to date (added: " + ", ".join(f"{n} {what}" for what, n in added.items()) + ").")


@click.command("create-user")
@with_appcontext
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice([r.value for r in Role]),
              help="A role to grant; repeat for several.")
@click.option("--team", help='Team name, or "Branch/Team" when the name is not unique.')
@click.option("--name", "display_name", help="Display name (defaults to the username).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Prompted for when omitted.")
def create_user(username, roles, team, display_name, password):
    """Create a user who can sign in."""
    try:
        team_row = users.find_team(team) if team else None
        user = users.create_user(username, password, roles, display_name=display_name, team=team_row)
    except KmwikiError as error:
        fail(error_text(error))
    click.echo(f"Created {user.username} ({', '.join(sorted(user.roles))}).")


@click.command("demo-data")
@with_appcontext
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
def demo_data(if_empty):
    """Load the demo branches, teams, users and entries."""
    if users.count_users():
        if if_empty:
            click.echo("Database already has users; demo data not loaded.")
            return
        fail("the database already has users; demo data goes into an empty database only")
    defaults.ensure_defaults()
    # A bulk job: index once at the end instead of after each of its hundreds of commits.
    current_app.config["SEARCH_INDEX_UPDATES"] = False
    people = demo.load_people()
    with click.progressbar(list(enumerate(demo.ENTRIES)), label="Loading demo entries") as bar:
        for index, item in bar:
            demo.load_entry(index, item, people)
    demo.finish()
    search_index.rebuild(search_index.get_index())
    current_app.config["SEARCH_INDEX_UPDATES"] = True
    click.echo(f"Loaded {len(people)} users and {len(demo.ENTRIES)} entries. Password for all: {demo.DEMO_PASSWORD}")


@click.command("import-entries")
@with_appcontext
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--status", type=click.Choice([Status.DRAFT.value, Status.ADOPTED.value]), default=Status.DRAFT.value,
              show_default=True, help="adopted: already approved material, published at once without review.")
@click.option("--author", "author_name", metavar="USERNAME", help="Author of records that name none.")
@click.option("--skip-existing/--keep-duplicates", default=True, show_default=True,
              help="Skip a record whose title an entry (or an earlier record) already has, so a corrected "
                   "file can be imported again; --keep-duplicates imports it as one more entry.")
@click.option("--dry-run", is_flag=True, help="Check every record and report; write nothing.")
def import_entries(source, status, author_name, skip_existing, dry_run):
    """Import existing knowledge from SOURCE: a JSON Lines file, or a folder of Markdown files.

    \b
    JSON Lines: one object a line (blank lines skipped), e.g.
      {"title": "…", "body": "…", "kind": "faq", "products": ["medical"],
       "segments": [], "tags": "理赔, 医疗险", "author": "wangfang"}
    Markdown: every *.md below the folder, in sorted order, starting with
      ---
      kind: faq
      products: [medical, critical_illness]
      tags:
        - 理赔
      author: wangfang
      ---

    Front matter keys: title, kind, products, segments, tags, author, and no others. Lists are
    [a, b], "- a" lines or comma strings. Without a title, a "# heading" on the first body line
    is the title; a file name never is.

    Each record is saved on its own. An invalid one is reported by line or file and skipped,
    the rest are imported, and the exit code is 1.
    """
    try:
        options = importer.ImportOptions(status=Status(status), skip_existing=skip_existing, dry_run=dry_run,
                                         default_author=importer.find_author(author_name) if author_name else None)
        records = importer.read(source)
    except KmwikiError as error:
        fail(english_error_text(error))
    if not records:
        fail(f"no records found in {source}")
    with click.progressbar(length=len(records), label="Importing entries") as bar:
        summary = importer.run(records, options, progress=bar.update)
    for where, error in summary.errors:
        click.echo(f"{where}: {english_error_text(error)}", err=True)
    verb = "Dry run, nothing written: would import" if dry_run else "Imported"
    click.echo(f"{verb} {len(summary.imported)}, skipped {len(summary.skipped)} (title exists), "
               f"errors {len(summary.errors)}.")
    if summary.errors:
        sys.exit(1)


@click.command("reindex")
@with_appcontext
@click.option("--processes", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default=True,
              help="Processes building the index side by side.")
def reindex(processes):
    """Rebuild the search index from the database (the source of truth). Searches keep using the
    old index until the new one is complete."""
    rebuild_index(processes)


def rebuild_index(processes=None):
    ix = search_index.get_index(fill=False)
    with click.progressbar(length=search_index.entry_count(), label="Indexing entries") as bar:
        total = search_index.rebuild(ix, progress=bar.update, processes=processes)
    click.echo(f"Indexed {total} entries.")


@click.command("search-check")
@click.option("--repair", is_flag=True, help="Reindex what is missing or stale and drop orphans.")
@with_appcontext
def search_check(repair):
    """Report entries missing from or stale in the search index; exit 1 when any are found."""
    ix = search_index.get_index()
    missing, stale, orphaned = search_index.check(ix)
    click.echo(f"missing: {len(missing)}  stale: {len(stale)}  orphaned: {len(orphaned)}")
    for label, ids in (("missing", missing), ("stale", stale), ("orphaned", orphaned)):
        if ids:
            click.echo(f"  {label}: {', '.join(map(str, ids[:50]))}{' …' if len(ids) > 50 else ''}")
    if repair and (missing or stale or orphaned):
        search_index.update(ix, set(missing) | set(stale) | set(orphaned))
        click.echo("Repaired.")
    elif missing or stale or orphaned:
        sys.exit(1)


@click.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup(target):
    """Write a consistent backup of the running wiki (database, search index, attachments) to
    TARGET, a new .tar.gz file. Safe while the wiki serves requests."""
    try:
        manifest = backups.backup(target)
    except KmwikiError as error:
        fail(error_text(error))
    click.echo(f"Backed up {manifest['entries']} entries and {manifest['users']} users to {target}.")


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already holds users.")
@with_appcontext
def restore(source, force):
    """Restore a backup made by `backup`: database, search index (checked and repaired against the
    database) and attachments. Stop the web workers first."""
    try:
        manifest = backups.restore(source, force=force)
    except KmwikiError as error:
        fail(error_text(error))
    if inspect(db.engine).has_table("alembic_version"):
        upgrade()  # a backup from an older version is migrated forward
    click.echo(f"Restored {manifest['entries']} entries and {manifest['users']} users from {source} "
               f"(taken {manifest['created_at']}).")


@click.command("seed-scale")
@click.option("--entries", default=100_000, show_default=True, help="Adopted entries (from the demo texts).")
@click.option("--users", "user_count", default=10_000, show_default=True, help="Users (no password: they cannot sign in).")
@click.option("--teams", default=50, show_default=True)
@click.option("--branches", default=5, show_default=True)
@click.option("--ledger", default=1_000_000, show_default=True, help="Point ledger rows over the last --days.")
@click.option("--days", default=400, show_default=True)
@click.option("--seed", default=7, show_default=True, help="Random seed: the same numbers give the same data.")
@click.option("--no-index", is_flag=True, help="Skip building the search index (run `reindex` later).")
@with_appcontext
def seed_scale(entries, user_count, teams, branches, ledger, days, seed, no_index):
    """Fill an empty database at the scale of DESIGN §10 for load runs and benchmarks (bulk inserts)."""
    if users.count_users():
        fail("the database already has users; seed-scale fills an empty database only")
    if user_count < teams:
        fail("--users must be at least --teams (each team gets a leader)")
    defaults.ensure_defaults()
    scale = seeding.Scale(branches=branches, teams=teams, users=user_count, entries=entries, ledger=ledger, days=days,
                          seed=seed)
    bars = {"entries": click.progressbar(length=entries, label="Entries"),
            "ledger": click.progressbar(length=ledger, label="Ledger rows")}
    updates = current_app.config["SEARCH_INDEX_UPDATES"]
    current_app.config["SEARCH_INDEX_UPDATES"] = False  # bulk rows have no commit hook; indexed below
    try:
        seeding.seed(scale, progress=lambda name, count: bars[name].update(count))
    finally:
        current_app.config["SEARCH_INDEX_UPDATES"] = updates
    for bar in bars.values():
        bar.render_finish()
    click.echo(f"Seeded {branches} branches, {teams} teams, {user_count} users, {entries} entries, {ledger} ledger rows.")
    if not no_index:
        rebuild_index()


@click.group("pages")
def pages_group():
    """Entry pages kept for sharing (kmwiki/pages.py): warm them, or clear them."""


@pages_group.command("warm")
@click.option("--locale", "locales", multiple=True, help="UI language to render in (default: the default language).")
@click.option("--roles", "role_sets", multiple=True, metavar="ROLE[,ROLE...]",
              help='The readers\' roles, e.g. "agent" or "agent,reviewer"; repeat for several '
                   "(default: the roles most active users hold).")
@click.option("--processes", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default=True,
              help="Processes rendering side by side.")
@with_appcontext
def warm_pages(locales, role_sets, processes):
    """Render and keep the shared page of every adopted entry, most read first, for readers with
    these roles and language; pages kept and current stay as they are, those of other releases go.
    For after a release (pages of other code are never served) or before a load run."""
    locales = locales or (current_app.config["BABEL_DEFAULT_LOCALE"],)
    unknown = sorted(set(locales) - set(current_app.config["LANGUAGES"]))
    if unknown:
        fail(f"unknown language {', '.join(unknown)}; choose from {', '.join(current_app.config['LANGUAGES'])}")
    readers = [(roles, locale) for roles in (parse_roles(text) for text in role_sets) or [users.commonest_role_set()]
               for locale in locales]
    pages.clear(keep_this_release=True)  # never served again
    ids = entries.shared_page_ids()
    total = len(ids) * len(readers)
    with click.progressbar(length=total, label="Rendering entry pages") as bar:
        rendered = warm_in_processes(ids, readers, processes, bar.update)
    click.echo(f"Rendered {rendered} pages; {total - rendered} were kept and current.")


@pages_group.command("clear")
@with_appcontext
def clear_pages():
    """Forget every kept page (they are rendered again when next read)."""
    click.echo(f"Removed {pages.clear()} kept pages.")


def parse_roles(text):
    roles = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(roles - {role.value for role in Role})
    if unknown or not roles:
        fail(f"unknown role {', '.join(unknown) or '(none given)'}; choose from {', '.join(r.value for r in Role)}")
    if Role.ADMIN in roles:
        fail("administrators see more than other readers: their pages are never shared")
    return tuple(sorted(roles))


def warm_in_processes(ids, readers, processes, progress):
    """warm_share over shares of ids: the first here, the others in forked processes (each on
    connections of its own). Returns how many pages were rendered."""
    shares = [ids[n::processes] for n in range(processes) if ids[n::processes]] or [[]]
    context = multiprocessing.get_context("fork")
    messages = context.Queue()
    children = [context.Process(target=_warm_child, args=(share, readers, messages), daemon=True)
                for share in shares[1:]]
    done = []

    def take(message):
        kind, value = message
        if kind == "progress":
            progress(value)
        elif kind == "done":
            done.append(value)
        else:
            raise click.ClickException(f"a rendering process failed:\n{value}")

    def report(count):
        progress(count)
        while True:
            try:
                take(messages.get_nowait())
            except queue.Empty:
                return

    try:
        for child in children:
            child.start()
        rendered = warm_share(shares[0], readers, report)
        while len(done) < len(children):
            try:
                take(messages.get(timeout=5))
            except queue.Empty:
                if any(child.exitcode not in (None, 0) for child in children):
                    raise click.ClickException("a rendering process died")
    finally:
        for child in children:
            child.kill() if child.is_alive() and len(done) < len(children) else child.join()
    return rendered + sum(done)


def _warm_child(share, readers, messages):
    db.engine.dispose(close=False)  # the pooled connections belong to the parent
    try:
        messages.put(("done", warm_share(share, readers, lambda count: messages.put(("progress", count)))))
    except BaseException:
        messages.put(("failed", traceback.format_exc()))


def warm_share(ids, readers, report, step=100):
    """Render the pages of these entries for each (roles, locale) reader, as that reader would ask."""
    rendered = 0
    for roles, locale in readers:
        reader = users.stand_in_reader(roles, locale)
        for start in range(0, len(ids), step):
            for entry_id in ids[start:start + step]:
                with current_app.test_request_context(f"/entries/{entry_id}"):
                    login_user(reader)
                    rendered += entry_pages.warm_page(entry_id)
            db.session.remove()  # what the last pages loaded is not needed again
            report(len(ids[start:start + step]))
    return rendered
