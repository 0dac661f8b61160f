"""Index writes owed after a commit, noted on disk until they are done.

A process killed between a database commit and the index write that follows it (SIGKILL, the
OOM killer, a worker timeout) would leave the index behind the database until someone ran
`search-check --repair`. So before each after-commit write the entry ids go into a small note
named after the process (`search_journal/<pid>-<random>.ids` in the instance folder), removed
once the write is done. `recover` writes the entries of every note whose process no longer runs,
and of this process's own failed writes; it runs whenever a process opens the index and after each
index write it makes (a directory listing), so the next write anywhere finishes a killed worker's
work.

The note is not fsynced: a killed process's writes reach the file system; a power loss is what
`search-check --repair` is for.
"""
import logging
import os
import uuid
from pathlib import Path

from flask import current_app

log = logging.getLogger(__name__)
FOLDER = "search_journal"
_failed = set()  # notes of this process whose write raised: retried at the next recover


def folder():
    path = Path(current_app.instance_path) / FOLDER
    path.mkdir(exist_ok=True)
    return path


def promise(entry_ids):
    """Note that these entries are owed to the index; returns the note to pass to done()."""
    note = folder() / f"{os.getpid()}-{uuid.uuid4().hex}.ids"
    note.write_text(" ".join(map(str, sorted(entry_ids))))
    return note


def done(note):
    """The owed write happened: forget the note."""
    note.unlink(missing_ok=True)
    _failed.discard(note)


def failed(note):
    """The owed write raised in this process: keep the note for the next recover()."""
    _failed.add(note)


def recover(write):
    """write(entry_ids) for the notes left by dead processes and by this one's failures; returns
    the entry ids written."""
    owed, notes = set(), []
    for note in sorted(folder().glob("*.ids")):
        if note in _failed or not _alive(_pid(note)):
            try:
                owed |= {int(n) for n in note.read_text().split()}
            except (OSError, ValueError):  # taken by another process meanwhile, or unreadable
                continue
            notes.append(note)
    if owed:
        log.warning("search index: writing %d entries owed by stopped or failed writers", len(owed))
        write(owed)
        for note in notes:
            done(note)
    return owed


def _pid(note):
    try:
        return int(note.name.split("-", 1)[0])
    except ValueError:
        return 0


def _alive(pid):
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True
