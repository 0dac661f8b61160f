"""The only path from user-written text to HTML: Markdown, then an allow-list sanitizer.

bleach is frozen at 6.4; keep every sanitizer detail behind `render` so it can be swapped,
and let tests/test_markup_xss.py (the shared XSS corpus) prove any replacement safe.
"""
import html
import re
import xml.etree.ElementTree as etree
from urllib.parse import quote

import bleach
import markdown
from markdown.extensions import Extension
from markdown.extensions.toc import slugify_unicode
from markdown.inlinepatterns import InlineProcessor
from markupsafe import Markup

# Bump when rendering changes, so revisions cached with an older renderer are rendered again.
RENDER_VERSION = 1

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre",
    "s", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
})
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})
HEADING_ID_PREFIX = "h-"
WIKILINK_PREFIX = "/wiki/"
WIKILINK_RE = r"\[\[([^\[\]|\n]{1,200})(?:\|([^\[\]\n]{1,200}))?\]\]"


def _safe_url(value):
    """Relative, or one of the allowed schemes. Checked here as well as by bleach, whose URL parser
    takes `javascript:123` for a host and port and lets it through (mozilla/bleach#536)."""
    cleaned = value
    for _ in range(3):  # decode entities until stable, so "&#x26;#74;avascript:" is judged as "javascript:"
        cleaned = html.unescape(cleaned)
    cleaned = re.sub(r"[\x00-\x20\x7f]", "", cleaned).lower()
    scheme, colon, _ = cleaned.partition(":")
    if not colon or any(c in scheme for c in "/?#"):
        return True  # no scheme: a relative URL
    return scheme in ALLOWED_PROTOCOLS


def _allowed_attribute(tag, name, value):
    """Allow-list per tag; heading ids only in the prefixed form the TOC extension makes."""
    if name in {"title"}:
        return True
    if tag == "a":
        return (name == "href" and _safe_url(value)) or (name == "class" and value == "wikilink")
    if tag == "img":
        return name == "alt" or (name == "src" and _safe_url(value))
    if tag in {"th", "td"}:
        return name == "align" and value in {"left", "right", "center"}
    if tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
        return name == "id" and value.startswith(HEADING_ID_PREFIX)
    return False


_cleaner = bleach.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=_allowed_attribute,
    protocols=ALLOWED_PROTOCOLS,
    strip=False,  # disallowed markup is shown as text: nothing the author typed disappears
    strip_comments=True,
)


def _heading_slug(value, separator):
    return HEADING_ID_PREFIX + slugify_unicode(value, separator)


class _WikiLinkProcessor(InlineProcessor):
    def handleMatch(self, m, data):
        title = m.group(1).strip()
        link = etree.Element("a")
        link.set("href", WIKILINK_PREFIX + quote(title, safe=""))
        link.set("class", "wikilink")
        link.text = (m.group(2) or title).strip()
        return link, m.start(0), m.end(0)


class WikiLinkExtension(Extension):
    """`[[Title]]` and `[[Title|label]]` become links resolved by title at click time."""

    def extendMarkdown(self, md):
        # Above inline raw HTML (90), so a title holding "<b>" is not swapped for a stash placeholder first;
        # below backticks (190) and backslash escapes (180), so `[[x]]` in code stays literal.
        md.inlinePatterns.register(_WikiLinkProcessor(WIKILINK_RE, md), "wikilink", 95)


def _markdown():
    return markdown.Markdown(
        extensions=["tables", "fenced_code", "sane_lists", "nl2br", "toc", WikiLinkExtension()],
        extension_configs={
            "toc": {"slugify": _heading_slug, "permalink": False},
            "tables": {"use_align_attribute": True},
        },
        output_format="html",
    )


def render(text):
    """Render user Markdown to sanitized HTML."""
    html = _markdown().convert(text or "")
    return Markup(_cleaner.clean(html))


def wikilink_titles(text):
    """Titles referenced by `[[...]]` links in a Markdown text, in order, without repeats."""
    seen = {}
    for match in re.finditer(WIKILINK_RE, text or ""):
        seen.setdefault(match.group(1).strip(), None)
    return list(seen)


def headings(html):
    """(level, id, text) for each heading of rendered HTML, for a table of contents."""
    pattern = re.compile(r'<h([1-6]) id="(' + HEADING_ID_PREFIX + r'[^"]*)">(.*?)</h\1>', re.S)
    return [(int(level), anchor, Markup(inner).striptags()) for level, anchor, inner in pattern.findall(str(html))]
