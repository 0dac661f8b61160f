"""XSS: the shared corpus and Markdown tricks through markup.render, benign links, and the entry pages over HTTP.

Rendered HTML is read back twice, the way a browser would meet it: a tokenizer-level scan of every `<`
(a browser opens a tag at `<` followed by a letter, whatever any parser library thinks) and the standard
library's HTMLParser for elements and attributes with character references decoded. bleach 6 vendors
html5lib privately, so the check uses the standard library rather than bleach's internals: it must keep
proving a replacement sanitizer safe. The corpus is read from /work/shared/data/xss at test time.
"""
import json
import re
from html.parser import HTMLParser
from urllib.parse import quote, unquote

import pytest

from conftest import SHARED_DATA
from kmwiki import markup
from kmwiki.models import Status

XSS_DIR = SHARED_DATA / "xss"
MISSING_CORPUS = f"XSS corpus not found at {XSS_DIR}: the shared data folder is not checked out here"
CORPUS_FILES = sorted(p.name for p in XSS_DIR.glob("*") if p.suffix in {".txt", ".jsonl"}) if XSS_DIR.is_dir() else []
PAYLOAD_KEYS = ("payload", "markdown", "input")  # each jsonl file names its payload field differently
MARKDOWN_FILES = ("markdown_vectors.txt", "markdown_vectors_multiline.jsonl")

FORBIDDEN_ELEMENTS = frozenset({"script", "iframe", "object", "embed", "style", "link", "meta", "base", "form",
                                "svg", "math", "frame", "frameset"})
FORBIDDEN_ATTRIBUTES = frozenset({"style", "srcdoc", "formaction", "xlink:href"})
URL_ATTRIBUTES = frozenset({"href", "src"})
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
SCHEME_RE = re.compile(r"([a-z][a-z0-9+.\-]*):")
# Everything a browser (or a lenient one) could ignore inside a scheme: controls, spaces, NBSP and other whitespace.
URL_NOISE_RE = re.compile(r"[\x00-\x20\x7f-\xa0\s]+")
# Where a browser's tokenizer leaves the data state: a tag (name up to whitespace, / or >), a declaration or
# processing instruction, or a bogus end tag.
TAG_OPEN_RE = re.compile(r"<(/?)([A-Za-z][^\t\n\f\r />]*)|<[!?]|</(?![A-Za-z])")
# One attribute as a browser's tokenizer reads it inside a start tag: name, then an optional quoted/unquoted value.
RAW_ATTRIBUTE_RE = re.compile(r"""[\t\n\f\r /]*([^\t\n\f\r />][^\t\n\f\r /=>]*)"""
                              r"""(?:[\t\n\f\r ]*=[\t\n\f\r ]*(?:"[^"]*"|'[^']*'|[^\t\n\f\r >]*))?""")
PERCENT_ENCODED_RE = re.compile(r"(?:[A-Za-z0-9_.~-]|%[0-9A-F]{2})+")
SCRIPT_TITLE = "<script>alert(1)</script> 标题"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"

needs_corpus = pytest.mark.skipif(not XSS_DIR.is_dir(), reason=MISSING_CORPUS)


class _ParsedHTML(HTMLParser):
    """Elements, end tags and oddities of an HTML text; also what sits inside `<div class="prose">`."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []  # (tag, [(name, value)], inside_prose)
        self.end_tags = []
        self.oddities = []
        self.prose_text = []
        self._prose_depth = 0

    def handle_starttag(self, tag, attrs):
        if tag == "div" and self._prose_depth:
            self._prose_depth += 1
        self.elements.append((tag, attrs, bool(self._prose_depth)))
        if tag == "div" and not self._prose_depth and "prose" in (dict(attrs).get("class") or "").split():
            self._prose_depth = 1

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, attrs, bool(self._prose_depth)))

    def handle_endtag(self, tag):
        self.end_tags.append(tag)
        if tag == "div" and self._prose_depth:
            self._prose_depth -= 1

    def handle_data(self, data):
        if self._prose_depth:
            self.prose_text.append(data)

    def handle_comment(self, data):
        self.oddities.append(f"comment <!--{data}-->")

    def handle_decl(self, decl):
        self.oddities.append(f"declaration <!{decl}>")

    def unknown_decl(self, data):
        self.oddities.append(f"declaration <![{data}]>")

    def handle_pi(self, data):
        self.oddities.append(f"processing instruction <?{data}>")


def parse(html):
    parser = _ParsedHTML()
    parser.feed(str(html))
    parser.close()
    return parser


def raw_attribute_names(html):
    """Attribute names of every start tag, read straight from the text without an HTML library."""
    names = []
    for match in re.finditer(r"<[A-Za-z][^\t\n\f\r />]*", html):
        position = match.end()
        while (attribute := RAW_ATTRIBUTE_RE.match(html, position)) and attribute.end() > position:
            names.append(attribute.group(1).lower())
            position = attribute.end()
    return names


def url_scheme(value):
    """The scheme of a URL attribute as a browser could read it: noise removed, lower-cased; None if relative."""
    match = SCHEME_RE.match(URL_NOISE_RE.sub("", value).lower())
    return match.group(1) if match else None


def attribute_problems(tag, attrs):
    """Why one element's attributes could run script or break markup.py's allow-list."""
    found = []
    for name, value in attrs:
        value = value or ""
        if name.startswith("on"):
            found.append(f"event handler {name}={value!r} on <{tag}>")
        if name in FORBIDDEN_ATTRIBUTES:
            found.append(f"forbidden attribute {name}={value!r} on <{tag}>")
        if name in URL_ATTRIBUTES and url_scheme(value) not in (None, *SAFE_SCHEMES):
            found.append(f"{name} with scheme {url_scheme(value)!r}: <{tag} {name}={value!r}>")
        if not markup._allowed_attribute(tag, name, value):
            found.append(f"attribute outside the allow-list: <{tag} {name}={value!r}>")
    return found


def problems(html):
    """Every reason a rendered fragment could run script or break the allow-list; empty when it is safe."""
    html = str(html)
    found = []
    for match in TAG_OPEN_RE.finditer(html):
        if match.group(2) is None:
            found.append(f"markup declaration or bogus tag at {html[match.start():match.start() + 40]!r}")
        elif match.group(2).lower() not in markup.ALLOWED_TAGS:
            found.append(f"tag outside the allow-list: {html[match.start():match.start() + 40]!r}")
    found += [f"attribute {name!r} in the raw text" for name in raw_attribute_names(html)
              if name.startswith("on") or name in FORBIDDEN_ATTRIBUTES]
    parsed = parse(html)
    found += parsed.oddities
    for tag, attrs, _ in parsed.elements:
        if tag in FORBIDDEN_ELEMENTS:
            found.append(f"forbidden element <{tag}>")
        elif tag not in markup.ALLOWED_TAGS:
            found.append(f"element outside the allow-list <{tag}>")
        found += attribute_problems(tag, attrs)
    found += [f"end tag outside the allow-list </{tag}>" for tag in parsed.end_tags if tag not in markup.ALLOWED_TAGS]
    return found


def event_handler_payloads(name):
    """An attribute name from the event-handler lists, put where an author could write it."""
    return [f"<img src=x {name}=alert(1)>", f'<a href="https://example.com" {name}="alert(1)">x</a>',
            f"paragraph\n{{: {name}=alert(1) }}", f"## heading {{ #h {name}=alert(1) }}"]


def payload_field(record, file_name):
    keys = [key for key in PAYLOAD_KEYS if key in record]
    assert len(keys) == 1, f"{file_name}: cannot tell which field holds the payload in {sorted(record)}"
    return record[keys[0]]


def corpus_payloads(file_name):
    """The payloads of one corpus file: txt one per line (split on LF only), jsonl one per record."""
    text = (XSS_DIR / file_name).read_bytes().decode("utf-8")  # byte-exact: no newline translation
    lines = [line for line in text.split("\n") if line]
    if file_name.endswith(".jsonl"):
        return [payload_field(json.loads(line), file_name) for line in lines if line.strip()]
    if file_name.startswith("event_handlers_"):
        return [payload for name in lines for payload in event_handler_payloads(name.strip())]
    return lines


def report(failures, total, what):
    lines = [f"{len(failures)} of {total} {what} render unsafely; the first 20:"]
    for payload, found, html in failures[:20]:
        lines.append(f"- payload {payload[:300]!r}\n    problems {found[:3]}\n    output {html[:300]!r}")
    return "\n".join(lines)


@pytest.mark.parametrize("file_name", CORPUS_FILES or [pytest.param(None, marks=pytest.mark.skip(reason=MISSING_CORPUS))])
def test_corpus_file_renders_inert(file_name):
    payloads = corpus_payloads(file_name)
    assert payloads, f"{file_name} holds no payloads"
    failures = []
    for payload in payloads:
        html = str(markup.render(payload))
        found = problems(html)
        if found:
            failures.append((payload, found, html))
    assert not failures, report(failures, len(payloads), f"payloads of {file_name}")


@needs_corpus
def test_corpus_covers_every_documented_file():
    for name in ("all_html_payloads_unique.txt", "h5sc_vectors.jsonl", "dompurify_fixture_payloads.jsonl",
                 "owasp_xss_filter_evasion.jsonl", "bleach_clean_cases.jsonl", "markdown_it_xss_fixtures.jsonl",
                 *MARKDOWN_FILES, "event_handlers_pat_0xcela_event_handlers.txt"):
        assert name in CORPUS_FILES


@pytest.mark.parametrize("source", [
    "<script>alert(1)</script>",
    '<a href="https://example.com" onclick="alert(1)">x</a>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<p style="background:url(javascript:alert(1))">x</p>',
    "<svg><a xlink:href=\"javascript:alert(1)\">x</a></svg>",
    '<form><button formaction="javascript:alert(1)">x</button></form>',
    '<a href="javascript:alert(1)">x</a>',
    "<!-- <script>alert(1)</script> -->",
])
def test_the_checker_itself_spots_unsanitized_html(source):
    assert problems(source), "the checker must flag raw dangerous HTML, or every corpus test proves nothing"


DANGEROUS_LINKS = {
    "javascript": "[x](javascript:alert(1))",
    "mixed-case": "[x](JaVaScRiPt:alert(1))",
    "tab-entity": "[x](java&#09;script:alert(1))",
    "newline-entity": "[x](java&#x0A;script:alert(1))",
    "decimal-entities": "[x](&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1))",
    "colon-entity": "[x](javascript&colon;alert(1))",
    "angle-brackets": "[x](<javascript:alert(1)>)",
    "with-title": '[x](javascript:alert(1) "t")',
    "image": "![x](javascript:alert(1))",
    "data-html": "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "data-image": "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "vbscript": "[x](vbscript:msgbox)",
    "reference": "[x][r]\n\n[r]: javascript:alert(1)",
    "reference-image": "![x][r]\n\n[r]: javascript:alert(1)",
    "reference-with-title": '[x][r]\n\n[r]: javascript:alert(1) "t"',
    "raw-anchor": '<a href="javascript:alert(1)">x</a>',
    "raw-anchor-entity": '<a href="jav&#x09;ascript:alert(1)">x</a>',
    "raw-anchor-leading-space": '<a href=" javascript:alert(1)">x</a>',
    "raw-image": '<img src="javascript:alert(1)" alt="x">',
}


@pytest.mark.parametrize("source", DANGEROUS_LINKS.values(), ids=DANGEROUS_LINKS.keys())
def test_dangerous_link_scheme_loses_its_url_but_keeps_its_text(source):
    html = markup.render(source)
    assert problems(html) == []
    parsed = parse(html)
    # Dropped, or left as a harmless relative URL (Markdown writes `&colon;` as `&amp;colon;`).
    urls = [value for _, attrs, _ in parsed.elements for name, value in attrs if name in URL_ATTRIBUTES]
    assert all(url_scheme(url) is None for url in urls), urls
    assert "x" in re.sub(r"<[^>]*>", "", str(html)) or any(("alt", "x") in attrs for _, attrs, _ in parsed.elements)


@pytest.mark.parametrize("source", ["[x](javascript:123)", '<a href="javascript:123">x</a>'])
def test_javascript_href_of_only_digits_is_dropped_too(source):
    # bleach's vendored urlparse reads `scheme:<digits>` as host:port, so no scheme is checked (mozilla/bleach#536).
    assert problems(markup.render(source)) == []


@pytest.mark.parametrize("source", [
    '[x](https://example.com "t\\" onmouseover=\\"alert(1)")',
    "[x](https://example.com 'a\" onmouseover=\"alert(1)')",
    '![x](https://example.com/a.png "t\" onerror=\"alert(1)")',
    '[x](https://example.com"onclick="alert(1))',
    "| a | b |\n|:--|--:|\n| <script>alert(1)</script> | <img src=x onerror=alert(1)> |",
    "- a\n    - <iframe src=javascript:alert(1)>\n- b",
    "*<script>*alert(1)*</script>*",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "\\<script>alert(1)\\</script>",
    '<div markdown="1">**<script>alert(1)</script>**</div>',
    "> <a href=\"javascript:alert(1)\"\n> >x</a>",
    "line one\n<script>alert(1)</script>\nline three",
    "<details open ontoggle=alert(1)>x</details>",
    "[[a]]<img src=x onerror=alert(1)>[[b|<svg onload=alert(1)>]]",
])
def test_markdown_constructs_render_inert(source):
    assert problems(markup.render(source)) == []


def test_autolink_with_javascript_stays_text():
    html = str(markup.render("<javascript:alert(1)>"))
    assert problems(html) == []
    assert "<a" not in html
    assert "&lt;javascript:alert(1)&gt;" in html


@pytest.mark.parametrize("source", [
    'paragraph\n{: onclick="alert(1)"}',
    'paragraph {: onclick="alert(1)" }',
    "paragraph\n{#id .class onclick=x}",
    "## heading {#id .class onclick=x}",
    "## heading\n{: onclick=alert(1) style=color:red }",
    '> quote\n{: onmouseover="alert(1)" }',
])
def test_attribute_list_syntax_adds_no_attributes(source):
    html = markup.render(source)
    assert problems(html) == []
    for tag, attrs, _ in parse(html).elements:
        assert all(name == "id" and value.startswith(markup.HEADING_ID_PREFIX) for name, value in attrs), (tag, attrs)
    assert "onclick" in str(html) or "onmouseover" in str(html)  # shown as text: nothing the author typed disappears


@pytest.mark.parametrize("source, dropped", [
    ("<img src=x onerror=alert(1)>", "onerror"),
    ('<img src="x" onerror="alert(1)" alt="a">', "onerror"),
    ('<a href="https://example.com" onmouseover="alert(1)">x</a>', "onmouseover"),
    ('<p onclick="alert(1)">x</p>', "onclick"),
    ('<div style="position:fixed;top:0">x</div>', "style"),
    ('<a href="https://example.com" class="evil">x</a>', "class"),
])
def test_raw_html_loses_disallowed_attributes(source, dropped):
    html = markup.render(source)
    assert problems(html) == []
    assert all(dropped not in dict(attrs) for _, attrs, _ in parse(html).elements)


@pytest.mark.parametrize("source", ['<h2 id="x">T</h2>', '<h2 id="main-content">T</h2>', '<p id="h-x">T</p>',
                                    '<h2 id=" h-x">T</h2>'])
def test_raw_html_cannot_set_an_unprefixed_or_non_heading_id(source):
    html = markup.render(source)
    assert problems(html) == []
    assert all("id" not in dict(attrs) for _, attrs, _ in parse(html).elements)
    assert "T" in str(html)


def test_markdown_heading_ids_carry_the_prefix():
    html = markup.render('## Title "><script>alert(1)</script>\n\n### <img src=x onerror=alert(1)>')
    assert problems(html) == []
    ids = [dict(attrs)["id"] for tag, attrs, _ in parse(html).elements if tag in {"h2", "h3"}]
    assert len(ids) == 2 and all(i.startswith(markup.HEADING_ID_PREFIX) for i in ids)


def wikilink_href(html):
    hrefs = [dict(attrs)["href"] for tag, attrs, _ in parse(html).elements if tag == "a"]
    assert len(hrefs) == 1, str(html)
    return hrefs[0]


@pytest.mark.parametrize("title", ["<script>alert(1)</script>", 'x" onmouseover="alert(1)', "javascript:alert(1)",
                                   "x' onfocus='alert(1)", "../../admin", "a\tb"])
def test_wikilink_payload_stays_a_percent_encoded_wiki_path(title):
    html = markup.render(f"[[{title}]]")
    assert problems(html) == []
    links = [dict(attrs) for tag, attrs, _ in parse(html).elements if tag == "a"]
    assert len(links) == 1 and links[0]["class"] == "wikilink"
    href = links[0]["href"]
    assert href.startswith(markup.WIKILINK_PREFIX)
    assert PERCENT_ENCODED_RE.fullmatch(href[len(markup.WIKILINK_PREFIX):]), href
    assert set(links[0]) == {"href", "class"}


@pytest.mark.parametrize("title", ['x" onmouseover="alert(1)', "javascript:alert(1)", "../../admin"])
def test_wikilink_href_decodes_to_the_written_title(title):
    href = wikilink_href(markup.render(f"[[{title}]]"))
    assert href == markup.WIKILINK_PREFIX + quote(title, safe="")
    assert unquote(href[len(markup.WIKILINK_PREFIX):]) == title


def test_wikilink_with_inline_html_in_its_title_links_to_that_title():
    title = "<script>alert(1)</script>"
    href = wikilink_href(markup.render(f"[[{title}]]"))
    assert unquote(href[len(markup.WIKILINK_PREFIX):]) == title


def test_wikilink_label_is_sanitized():
    html = markup.render("[[Title|<img src=x onerror=alert(1)><script>alert(1)</script>]]")
    assert problems(html) == []
    assert "&lt;script&gt;" in str(html)


@pytest.mark.parametrize("source", ["```\n<script>alert(1)</script>\n```", "~~~html\n<script>alert(1)</script>\n~~~",
                                    "    <script>alert(1)</script>", "`<script>alert(1)</script>`"])
def test_code_shows_script_as_text(source):
    html = str(markup.render(source))
    assert problems(html) == []
    assert "<code>&lt;script&gt;alert(1)&lt;/script&gt;" in html


def benign_controls():
    """(markdown, text, url, is_image) per row of markdown_benign_controls.tsv (columns: source, markdown)."""
    rows = (XSS_DIR / "markdown_benign_controls.tsv").read_text(encoding="utf-8").split("\n")
    assert rows[0].split("\t") == ["source", "markdown"]
    controls = []
    for row in filter(None, rows[1:]):
        source = row.split("\t", 1)[1]
        match = re.fullmatch(r"(!?)\[([^\]]*)\]\((\S+)\)", source)
        assert match, f"not a single Markdown link: {source!r}"
        controls.append((source, match.group(2), match.group(3), bool(match.group(1))))
    return controls


def decoded(url):
    """A URL as the browser reads it from an attribute (character references such as &amp; decoded)."""
    return dict(parse(f'<a href="{url}">').elements[0][1])["href"]


@needs_corpus
def test_benign_links_still_render_with_their_urls():
    kept = 0
    for source, text, url, is_image in benign_controls():
        html = markup.render(source)
        tag, attribute = ("img", "src") if is_image else ("a", "href")
        found = [dict(attrs) for t, attrs, _ in parse(html).elements if t == tag]
        assert len(found) == 1, (source, str(html))
        if url_scheme(url) in (None, *SAFE_SCHEMES):
            assert problems(html) == [], (source, str(html))
            assert found[0].get(attribute) == decoded(url), (source, str(html))
            kept += 1
        else:
            # Schemes outside kmwiki's allow-list (ftp:, tel:, irc:, data:) may lose the URL, never the text.
            assert (found[0].get("alt") == text) if is_image else (f">{text}</a>" in str(html)), (source, str(html))
    assert kept >= 25, "most controls are http/https/mailto or relative links"


def corpus_sample(size=200):
    """Every Markdown vector, then an even spread over the other payload files, to `size` payloads."""
    markdown_vectors = [p for name in MARKDOWN_FILES for p in corpus_payloads(name)]
    others = [p for name in CORPUS_FILES if name not in MARKDOWN_FILES and name != "all_html_payloads_unique.txt"
              for p in corpus_payloads(name)]
    step = max(1, len(others) // max(1, size - len(markdown_vectors)))
    return (markdown_vectors + others[::step])[:size]


def prose_problems(page):
    """What inside the entry's prose div could run script or break the allow-list."""
    found = []
    for tag, attrs, inside in parse(page).elements:
        if inside:
            if tag not in markup.ALLOWED_TAGS:
                found.append(f"element <{tag}>")
            found += attribute_problems(tag, attrs)
    return found


@needs_corpus
def test_entry_pages_show_corpus_payloads_inert(app, client, make_user, make_entry):
    alice = make_user("alice")
    sample = corpus_sample()
    body = "## <script>alert(1)</script>\n\n## &lt;script&gt;alert(2)&lt;/script&gt;\n\n" + "\n\n".join(sample)
    body_entry = make_entry(alice, title="XSS 语料", body=body, status=Status.ADOPTED)
    title_entry = make_entry(alice, title=SCRIPT_TITLE, body="[[" + SCRIPT_TITLE + "]]\n\n## a\n\n## b",
                             status=Status.ADOPTED)
    client.login("alice")
    missing_title = "/wiki/" + quote(SCRIPT_TITLE + " 不存在", safe="")
    pages = {}
    for url in (f"/entries/{body_entry}", f"/entries/{body_entry}/history", f"/entries/{body_entry}/revisions/1",
                f"/entries/{title_entry}", f"/entries/{title_entry}/history", "/", "/entries", "/recent", missing_title):
        response = client.get(url)
        assert response.status_code == (404 if url == missing_title else 200), url
        pages[url] = response.get_data(as_text=True)
    assert len(sample) == 200
    assert 'class="toc' in pages[f"/entries/{body_entry}"]  # heading text reaches the page a second time, via the TOC
    for url, page in pages.items():
        assert "<script" not in page.lower(), url  # kmwiki's pages carry no script tag at all
        # The layout itself has a stylesheet <link>, <meta> and forms; none of the others belongs on any page.
        assert not any(tag in FORBIDDEN_ELEMENTS - {"form", "link", "meta"} for tag, _, _ in parse(page).elements), url
        assert not any(name.startswith("on") for _, attrs, _ in parse(page).elements for name, _ in attrs), url
        assert not [name for name in raw_attribute_names(page) if name.startswith("on")], url
    for url in (f"/entries/{body_entry}", f"/entries/{body_entry}/revisions/1", f"/entries/{title_entry}"):
        parsed = parse(pages[url])
        assert parsed.prose_text, f"{url} has no prose div"
        assert prose_problems(pages[url]) == [], url
        assert "alert(1)" in "".join(parsed.prose_text)  # the payloads are shown as text, not dropped
    for url in (f"/entries/{title_entry}", f"/entries/{title_entry}/history", "/", "/entries", "/recent", missing_title):
        assert ESCAPED_SCRIPT in pages[url], url


def test_content_security_policy_forbids_inline_script(client):
    policy = client.get("/login").headers["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    script_sources = directives.get("script-src", directives.get("default-src"))
    assert script_sources is not None
    assert "'self'" in script_sources
    assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"} & set(script_sources)
    assert directives.get("object-src") == ["'none'"]
