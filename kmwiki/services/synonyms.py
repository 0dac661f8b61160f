"""Synonym groups as data administrators edit (DESIGN §6). Searches expand with them when a question
is asked, so a change applies to the next search; the index never needs rebuilding for it."""
import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..errors import Invalid, NotFound
from ..extensions import db
from ..models import SynonymGroup
from ..search import analysis
from . import activity

MAX_WORD = 40
MAX_TEXT = 400  # the column's size
# Agents type Chinese punctuation: a full-width comma or 、 separates words as well as ",".
SEPARATORS = re.compile(r"[,，、;；\n]")


def all_groups():
    """Every synonym group, oldest first (the seeded ones lead)."""
    return db.session.scalars(select(SynonymGroup).order_by(SynonymGroup.id)).all()


def get_group(group_id):
    """One group, or NotFound."""
    group = db.session.get(SynonymGroup, group_id)
    if group is None:
        raise NotFound()
    return group


def parse(text):
    """The distinct words in a comma-separated text, trimmed, in the order typed."""
    words, seen = [], set()
    for word in (" ".join(w.split()) for w in SEPARATORS.split(text or "")):
        if word and word.casefold() not in seen:
            seen.add(word.casefold())
            words.append(word)
    return words


def validated(text, group_id=None):
    """The group's stored text ("a,b,c"), or Invalid with a message on the `words` field."""
    words = parse(text)
    if len(words) < 2:
        raise _invalid(_l("Enter at least two different words, separated by commas."))
    for word in words:
        if len(word) > MAX_WORD:
            raise _invalid(_l("“%(word)s” is too long: a word may have at most %(n)s characters.",
                              word=word[:MAX_WORD] + "…", n=MAX_WORD))
        if not analysis.query_terms(word):
            raise _invalid(_l("“%(word)s” has nothing to search for: use words, not only punctuation or very "
                              "common words such as 的.", word=word))
    joined = ",".join(words)
    if len(joined) > MAX_TEXT:
        raise _invalid(_l("A group may have at most %(n)s characters in all.", n=MAX_TEXT))
    wanted = {w.casefold() for w in words}
    for other in all_groups():
        if other.id != group_id and {w.casefold() for w in other.word_list} == wanted:
            raise _invalid(_l("A group with these words already exists."))
    return joined


def add_group(text, actor):
    """Create a group from comma-separated words."""
    group = SynonymGroup(words=validated(text))
    db.session.add(group)
    db.session.flush()
    activity.audit(actor, "synonym_group_added", group_id=group.id, words=group.words)
    _commit()
    return group


def update_group(group_id, text, actor):
    """Replace a group's words; an unchanged group is left alone and not audited."""
    group = get_group(group_id)
    words = validated(text, group_id=group.id)
    if words != group.words:
        activity.audit(actor, "synonym_group_changed", group_id=group.id, old=group.words, new=words)
        group.words = words
        _commit()
    return group


def delete_group(group_id, actor):
    """Remove a group (its words stop finding each other at the next search); returns its words."""
    group = get_group(group_id)
    words = group.word_list
    activity.audit(actor, "synonym_group_deleted", group_id=group.id, words=group.words)
    db.session.delete(group)
    db.session.commit()
    return words


def _commit():
    # Two administrators saving the same words at once: the unique column decides.
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise _invalid(_l("A group with these words already exists.")) from None


def _invalid(message):
    return Invalid(fields={"words": [message]})
