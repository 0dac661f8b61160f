"""Bulk import of existing knowledge: a JSON Lines file or a folder of Markdown files with front
matter, each record saved through entries.create so it meets the same rules as a typed entry.

Records are saved one by one (entries.create commits each), so an invalid record or a crash halfway
never loses what was imported before it. Messages are plain English: this runs from the CLI only.
"""
import json
import re
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from ..errors import Invalid, KmwikiError
from ..extensions import db
from ..models import Entry, Status, User
from ..search import index as search_index
from . import access, entries, taxonomy
from .entries import EntryInput

FIELDS = ("title", "body", "kind", "products", "segments", "tags", "author")
LIST_FIELDS = ("products", "segments", "tags")
FRONT_MATTER_KEYS = tuple(name for name in FIELDS if name != "body")  # the body is the Markdown itself
FENCE = "---"
KEY_LINE = re.compile(r"^([A-Za-z_]\w*)\s*:\s*(.*)$")
ITEM_LINE = re.compile(r"^\s*-(?:\s+(.*))?$")
HEADING_LINE = re.compile(r"^#\s+(.+?)\s*$")


@dataclass
class Record:
    """One thing to import, named by where it came from ("line 12", "claims/理赔流程.md")."""

    source: str
    fields: dict | None = None
    error: KmwikiError | None = None  # a record that could not even be read: reported, not imported


@dataclass
class ImportOptions:
    """How to import: the status given, who writes authorless records, duplicates, dry run."""

    status: Status = Status.DRAFT
    default_author: User | None = None
    skip_existing: bool = True
    dry_run: bool = False


@dataclass
class Summary:
    """What an import did: sources imported (or, in a dry run, valid), skipped and failed."""

    imported: list[str] = field(default_factory=list)
    entry_ids: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[tuple[str, KmwikiError]] = field(default_factory=list)


def read(path):
    """The records of a JSON Lines file, a Markdown file, or a folder of Markdown files (recursive,
    in sorted order)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.md") if p.is_file())
        return [_markdown_record(p, p.relative_to(path).as_posix()) for p in files]
    if path.suffix.lower() == ".md":
        return [_markdown_record(path, path.name)]
    return read_json_lines(path.read_bytes())


def read_json_lines(content):
    """One record a non-blank line; a line that is not UTF-8 or not a JSON object is an error record."""
    records = []
    # Split on "\n" only: JSON strings may hold U+2028 and other breaks that str.splitlines() honours.
    for number, raw in enumerate(content.split(b"\n"), start=1):
        source = f"line {number}"
        try:
            line = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            records.append(Record(source, error=Invalid("Not UTF-8 text.")))
            continue
        if line.strip():
            records.append(_json_record(source, line))
    return records


def _json_record(source, line):
    try:
        fields = json.loads(line)
    except json.JSONDecodeError as error:
        return Record(source, error=Invalid(f"Not valid JSON: {error.msg} (column {error.colno})."))
    if not isinstance(fields, dict):
        return Record(source, error=Invalid("Not a JSON object."))
    return Record(source, fields=fields)


def _markdown_record(path, source):
    try:
        return Record(source, fields=parse_markdown(path.read_bytes().decode("utf-8-sig")))
    except UnicodeDecodeError:
        return Record(source, error=Invalid("Not UTF-8 text."))
    except Invalid as error:
        return Record(source, error=error)


def parse_markdown(text):
    """Fields of a Markdown file: its front matter plus the rest as body.

    Without a title in the front matter, a `# heading` on the body's first line is the title. It
    then leaves the body, as it does when it repeats the given title (the page shows the title).
    The file name is never used: names like `faq-017.md` make poor titles, so a missing title is an
    error instead.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    if lines[0].strip() != FENCE:
        raise Invalid("No front matter: the file must start with a --- line.")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == FENCE), None)
    if end is None:
        raise Invalid("The front matter has no closing --- line.")
    fields = parse_front_matter(lines[1:end], first_line=2)
    body = "\n".join(lines[end + 1:]).strip("\n")
    heading = HEADING_LINE.match(body.split("\n", 1)[0])
    if heading and fields.get("title", "") in ("", heading.group(1)):
        fields["title"] = heading.group(1)
        body = body.partition("\n")[2].strip("\n")
    fields["body"] = body
    return fields


def parse_front_matter(lines, first_line=1):
    """A strict reader for the import keys only: `key: value`, `key: [a, b]`, or `key:` followed by
    `- a` lines. Anything else, an unknown key or a repeated key, is an error naming the line."""
    fields, open_key = {}, None  # open_key: a key with an empty value, which `- item` lines fill
    for number, line in enumerate(lines, start=first_line):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item, pair = ITEM_LINE.match(line), KEY_LINE.match(line)
        if item and open_key:
            if fields[open_key] == "":
                fields[open_key] = []
            fields[open_key].append(_unquote((item.group(1) or "").strip()))
        elif pair:
            key, value = pair.groups()
            if key not in FRONT_MATTER_KEYS:
                raise Invalid(f"Front matter line {number}: unknown key “{key}” "
                              f"(known: {', '.join(FRONT_MATTER_KEYS)}).")
            if key in fields:
                raise Invalid(f"Front matter line {number}: “{key}” is given twice.")
            fields[key] = _value(value.strip())
            open_key = key if fields[key] == "" else None
        else:
            raise Invalid(f"Front matter line {number}: expected “key: value” or “- item”.")
    return fields


def _value(raw):
    """An inline list `[a, "b"]` as a list, anything else as a string (comma strings stay strings)."""
    if raw.startswith("[") and raw.endswith("]"):
        return [_unquote(item.strip()) for item in raw[1:-1].split(",") if item.strip()]
    return _unquote(raw)


def _unquote(text):
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def to_input(fields):
    """An EntryInput from a record's fields; list fields may also be comma strings."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise Invalid(fields={name: ["Unknown field."] for name in unknown})
    values = {name: value for name, value in fields.items() if name != "author"}
    for name in LIST_FIELDS:
        if isinstance(values.get(name), str):
            values[name] = taxonomy.split_tags(values[name])
    return EntryInput.from_json(values)


def find_author(username):
    """The user who may author imported entries; a deactivated one is accepted, since migrated
    material keeps its original author."""
    user = db.session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise Invalid(fields={"author": [f"Unknown user “{username}”."]})
    if not access.can_contribute(user):
        raise Invalid(fields={"author": [f"“{username}” may not write entries (needs agent, reviewer or leader)."]})
    return user


def _record_author(fields, default):
    name = fields.get("author")
    if name is None or name == "":
        if default is None:
            raise Invalid(fields={"author": ["No author: name one in the record or with --author."]})
        return default
    if not isinstance(name, str):
        raise Invalid(fields={"author": ["Must be a username."]})
    return find_author(name)


def run(records, options, progress=None):
    """Import the records one by one and return the summary; calls progress(1) after each record.

    The search index is not written after each commit but once at the end, for the imported entries
    only, so an existing index is not rebuilt wholesale.
    """
    summary, seen_titles = Summary(), set()
    indexing = current_app.config["SEARCH_INDEX_UPDATES"]
    current_app.config["SEARCH_INDEX_UPDATES"] = False
    try:
        for record in records:
            _import_one(record, options, summary, seen_titles)
            if progress:
                progress(1)
    finally:
        current_app.config["SEARCH_INDEX_UPDATES"] = indexing
        if indexing and summary.entry_ids:  # also after a crash: what was committed becomes findable
            search_index.update(search_index.get_index(), summary.entry_ids)
    return summary


def _import_one(record, options, summary, seen_titles):
    """Import, skip or reject one record; only KmwikiError is a record's fault, anything else a bug."""
    try:
        if record.error:
            raise record.error
        data = to_input(record.fields)
        author = _record_author(record.fields, options.default_author)
        title = " ".join(data.title.split())  # compared as entries.create will store it
        if options.skip_existing and _title_taken(title, seen_titles):
            summary.skipped.append(record.source)
            return
        if options.dry_run:
            _check(data)
        else:
            summary.entry_ids.append(entries.create(data, author, status=options.status).id)
        seen_titles.add(title)
        summary.imported.append(record.source)
    except KmwikiError as error:
        db.session.rollback()
        summary.errors.append((record.source, error))


def _title_taken(title, seen_titles):
    """An entry with this title exists, or an earlier record of this run had it (dry runs save nothing)."""
    return title in seen_titles or db.session.scalar(select(Entry.id).where(Entry.title == title).limit(1)) is not None


def _check(data):
    """What entries.create checks, without writing (a dry run); find_author checked the author."""
    # Inside a savepoint that is rolled back, so the tag rows it adds are never written. On SQLite
    # this outer savepoint also matters: the driver commits a savepoint that opens the transaction
    # (see database.insert_once), which the tag rows' own savepoint would otherwise be.
    savepoint = db.session.begin_nested()
    try:
        # The very check entries.create runs first, without creating anything.
        entries.validate(data)
    finally:
        savepoint.rollback()
        db.session.rollback()
