"""Kinds, product lines, customer segments and tags: the vocabularies entries are classified by."""
import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import caching
from ..errors import Invalid
from ..extensions import db
from ..models import Category, Tag, Vocabulary

# (vocabulary, slug, Chinese name, English name, group) — the seed; admins may add more rows.
DEFAULT_CATEGORIES = [
    (Vocabulary.KIND, "client_case", "客户案例", "Client case", ""),
    (Vocabulary.KIND, "sales_technique", "销售技巧", "Sales technique", ""),
    (Vocabulary.KIND, "objection_handling", "异议处理", "Objection handling", ""),
    (Vocabulary.KIND, "product_knowledge", "产品知识", "Product knowledge", ""),
    (Vocabulary.KIND, "claims_service", "理赔服务", "Claims service", ""),
    (Vocabulary.KIND, "faq", "常见问答", "FAQ", ""),
    (Vocabulary.PRODUCT, "medical", "医疗险", "Medical", ""),
    (Vocabulary.PRODUCT, "critical_illness", "重疾险", "Critical illness", ""),
    (Vocabulary.PRODUCT, "accident", "意外险", "Accident", ""),
    (Vocabulary.PRODUCT, "life", "寿险", "Life", ""),
    (Vocabulary.PRODUCT, "annuity", "年金/养老险", "Annuity / pension", ""),
    (Vocabulary.PRODUCT, "participating", "分红险", "Participating", ""),
    (Vocabulary.PRODUCT, "property", "财产险", "Property", ""),
    (Vocabulary.PRODUCT, "auto", "车险", "Auto", ""),
    (Vocabulary.SEGMENT, "single", "单身期", "Single", "life_stage"),
    (Vocabulary.SEGMENT, "young_family", "家庭形成期", "Young family", "life_stage"),
    (Vocabulary.SEGMENT, "child_education", "子女教育期", "Child education", "life_stage"),
    (Vocabulary.SEGMENT, "retirement", "退休期", "Retirement", "life_stage"),
    (Vocabulary.SEGMENT, "high_value", "高价值/重点客户", "High value", "value_tier"),
    (Vocabulary.SEGMENT, "potential", "潜力客户", "Potential", "value_tier"),
    (Vocabulary.SEGMENT, "general", "一般客户", "General", "value_tier"),
]
MAX_TAGS = 10
MAX_TAG_LENGTH = 40
TAG_SEPARATORS = re.compile(r"[,，、;；\n]+")


def ensure_default_categories():
    """Insert the seed categories that are missing; returns how many were added."""
    existing = {(c.vocabulary, c.slug) for c in db.session.scalars(select(Category))}
    added = 0
    for position, (vocabulary, slug, zh, en, group) in enumerate(DEFAULT_CATEGORIES):
        if (vocabulary, slug) not in existing:
            db.session.add(Category(vocabulary=vocabulary, slug=slug, name_zh=zh, name_en=en,
                                    group=group, position=position))
            added += 1
    db.session.commit()
    return added


@dataclass(frozen=True)
class CategoryRow:
    """A category as pickers, facets and labels show it: plain values that a process can keep."""

    id: int
    vocabulary: str
    slug: str
    name_zh: str
    name_en: str
    group: str
    position: int

    name = Category.name  # the display name in a UI locale, by the model's one rule


def categories(vocabulary):
    """All categories of one vocabulary in display order, kept per process until content changes
    (caching.py; adding, removing or renaming a category moves its stamp): the search page, the
    editor and every save asked for them anew, three queries a request."""
    return caching.remembered(("categories", str(vocabulary)), lambda: _category_rows(vocabulary))


def _category_rows(vocabulary):
    return tuple(CategoryRow(c.id, c.vocabulary, c.slug, c.name_zh, c.name_en, c.group, c.position)
                 for c in _in_order(select(Category).where(Category.vocabulary == vocabulary)))


def _in_order(query):
    return db.session.scalars(query.order_by(Category.position, Category.id)).all()


FIELD_VOCABULARY = {"kind": Vocabulary.KIND, "products": Vocabulary.PRODUCT, "segments": Vocabulary.SEGMENT}


def display_namer(locale):
    """A function (field, slug) -> display name for entry fields that hold category slugs."""
    names = {(c.vocabulary, c.slug): c.name(locale) for c in db.session.scalars(select(Category))}

    def name_of(field, value):
        vocabulary = FIELD_VOCABULARY.get(field)
        return names.get((vocabulary, value), value) if vocabulary else value

    return name_of


def category(vocabulary, slug):
    """One category by slug, or None."""
    return db.session.scalar(select(Category).where(Category.vocabulary == vocabulary, Category.slug == slug))


def resolve(vocabulary, slugs, field):
    """The categories for a list of slugs, in display order; unknown slugs are a field error."""
    wanted = set(slugs)
    found = _in_order(select(Category).where(Category.vocabulary == vocabulary, Category.slug.in_(wanted)))
    unknown = sorted(set(wanted) - {c.slug for c in found})
    if unknown:
        raise Invalid(fields={field: [_l("Unknown: %(slugs)s", slugs=", ".join(unknown))]})
    return found  # in display order, so the same choice always saves the same list


def split_tags(value):
    """Normalise tags typed as one string or given as a list: trimmed, unique, in order."""
    items = TAG_SEPARATORS.split(value) if isinstance(value, str) else list(value or [])
    return list(dict.fromkeys(str(t).strip() for t in items if str(t).strip()))


def tag_rows(names):
    """Tag rows for names, creating missing ones (safe when two requests add the same tag)."""
    rows = []
    for name in names:
        tag = db.session.scalar(select(Tag).where(Tag.name == name))
        if tag is None:
            try:
                with db.session.begin_nested():
                    tag = Tag(name=name)
                    db.session.add(tag)
            except IntegrityError:
                tag = db.session.scalar(select(Tag).where(Tag.name == name))
        rows.append(tag)
    return rows
