"""The Chinese catalog covers every user-visible string in the code and templates."""
import re

from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po
from werkzeug.datastructures import MultiDict

from kmwiki import ROOT
from kmwiki.forms import ConfirmForm

CATALOG = ROOT / "kmwiki" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)s")
# Babel skips "_*" folders by default, which would leave templates/_macros untranslated.
IGNORE_DIRS = ".* __pycache__"


def first(value):
    return value[0] if isinstance(value, (tuple, list)) else value


def extracted_messages(tmp_path):
    """Extract the current source strings the way `make extract-messages` does."""
    pot = tmp_path / "messages.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(ROOT / "kmwiki" / "translations" / "babel.cfg"),
                                "-k", "_l", "-k", "lazy_gettext", "--ignore-dirs", IGNORE_DIRS, "-o", str(pot), str(ROOT)])
    with pot.open("rb") as handle:
        return {first(m.id) for m in read_po(handle) if m.id}


def test_every_source_string_has_a_chinese_translation(tmp_path):
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle)
    translated = {first(m.id): m for m in catalog if m.id}
    missing = sorted(s for s in extracted_messages(tmp_path)
                     if s not in translated or not first(translated[s].string) or translated[s].fuzzy)
    assert missing == [], "run `make extract-messages` and translate: " + "; ".join(missing[:20])


def test_translations_keep_their_placeholders():
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle)
    broken = [first(m.id) for m in catalog if m.id and first(m.string)
              and set(PLACEHOLDER.findall(first(m.id))) != set(PLACEHOLDER.findall(first(m.string)))]
    assert broken == []


def test_wtforms_own_messages_follow_the_ui_language(app):
    """WTForms' built-in messages (its own catalog, read once per language) speak the reader's language."""
    for cookie, expected in (("", "不是有效的整数。"), ("kmwiki_lang=en", "Not a valid integer value.")):
        with app.test_request_context("/", headers={"Cookie": cookie} if cookie else {}):
            form = ConfirmForm(formdata=MultiDict({"base_revision": "abc"}), meta={"csrf": False})
            assert not form.validate()
            assert form.errors == {"base_revision": [expected]}
