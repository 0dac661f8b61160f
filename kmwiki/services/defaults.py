"""The data every installation starts with: categories, rubric, compliance lexicon, point rules."""
from .. import pages
from ..extensions import db
from . import guards, points, review, search, taxonomy


def ensure_defaults():
    """Insert whatever seed rows are missing; returns how many of each were added."""
    return {
        "categories": taxonomy.ensure_default_categories(),
        "rubric criteria": review.ensure_default_rubric(),
        "compliance rules": guards.ensure_default_rules(),
        "point rules": points.ensure_default_rules(),
        "synonym groups": search.ensure_default_synonyms(),
        "shared page generation": pages.ensure_generation(db.session),
    }
