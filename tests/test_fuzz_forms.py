"""Hostile input in every form field, API field and query parameter (issue 6).

Values: payloads sampled deterministically from the shared XSS corpus (read at run time, never copied
here), strings beyond each field's limit, NUL bytes, invalid UTF-8 and lone surrogates, huge and negative
numbers, wrong JSON types and missing fields. The rules: never a 500; a refusal is a 4xx with the JSON
error envelope (API) or the form again with what the user typed (pages); and wherever a stored value is
shown later, the page holds no script element, no on* attribute and no javascript: URL, read with the
standard library's HTML parser.
"""
import json
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from conftest import PASSWORD, entry_form
from kmwiki.extensions import db
from kmwiki.models import User
from kmwiki.services import guards, review, users
from test_markup_xss import XSS_DIR as MARKUP_XSS_DIR
from test_markup_xss import corpus_payloads, parse, url_scheme

XSS_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "xss"
PER_FILE = 2  # payloads taken from each corpus file, evenly spread over it
SAFE_SCHEMES = {None, "http", "https", "mailto"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "poster", "background", "data", "srcset"}
HUGE = "9" * 40
INVALID_UTF8 = "%FF%FE%ED%A0%80%C0%AF"  # stray bytes, an encoded lone surrogate, an overlong slash
SURROGATE_JSON = '"a\\ud800b"'  # a lone surrogate, legal as a JSON escape, not encodable as UTF-8
RUBRIC = ("accuracy", "usefulness", "clarity", "originality")

needs_corpus = pytest.mark.skipif(not XSS_DIR.is_dir(), reason=f"XSS corpus not found at {XSS_DIR}")


def xss_sample(max_length=None, single_line=False):
    """PER_FILE payloads from every corpus file, in file order; the same ones on every run."""
    assert XSS_DIR == MARKUP_XSS_DIR
    sample = []
    for path in sorted(p for p in XSS_DIR.iterdir() if p.suffix in {".txt", ".jsonl"}):
        payloads = [p for p in corpus_payloads(path.name)
                    if (max_length is None or len(p) <= max_length) and not (single_line and "\n" in p)]
        step = max(1, len(payloads) // PER_FILE)
        sample += [p for p in payloads[::step][:PER_FILE] if p not in sample]
    assert len(sample) >= 40
    return sample


def quote_all(text):
    return quote(text, safe="")


def unsafe_markup(html):
    """Script elements, event-handler attributes and script URLs anywhere in a page."""
    found = []
    for tag, attrs, _ in parse(html).elements:
        if tag == "script" and not (dict(attrs).get("src") or "").startswith("/static/"):
            found.append("<script> element that is not one of kmwiki's own files")
        for name, value in attrs:
            if name.startswith("on"):
                found.append(f"{name}= on <{tag}>")
            if name in URL_ATTRIBUTES and url_scheme(value or "") not in SAFE_SCHEMES:
                found.append(f"{name}={value!r} on <{tag}>")
    return found


def assert_page_safe(response, url):
    assert response.status_code < 500, (url, response.status_code)
    assert unsafe_markup(response.get_data(as_text=True)) == [], url


def assert_error_envelope(response, *statuses):
    """A refusal the API's way: one of the given 4xx statuses and {"error": {"code", "message"}}."""
    assert response.status_code in statuses, (response.status_code, response.get_data(as_text=True)[:300])
    error = response.get_json()["error"]
    assert error["code"] and error["message"], error
    return error


def field_value(html, name):
    """What a re-shown form holds for a field: an input's value or a textarea's text."""
    for tag, attrs, _ in parse(html).elements:
        attrs = dict(attrs)
        if attrs.get("name") == name and tag == "input":
            return attrs.get("value") or ""
    parser = _TextareaReader(name)
    parser.feed(html)
    return parser.text


class _TextareaReader(HTMLParser):
    """The text of the textarea named `name` (html.parser, character references decoded)."""

    def __init__(self, name):
        super().__init__(convert_charrefs=True)
        self.name, self.inside, self.text = name, False, None

    def handle_starttag(self, tag, attrs):
        if tag == "textarea" and dict(attrs).get("name") == self.name:
            self.inside, self.text = True, ""

    def handle_endtag(self, tag):
        if tag == "textarea":
            self.inside = False

    def handle_data(self, data):
        if self.inside:
            self.text += data


def raw_form(client, url, fields, **raw):
    """POST a form whose `raw` fields are sent as written (percent-escapes of any bytes), with the CSRF token."""
    body = urlencode({"csrf_token": client.csrf_token(), **{k: v for k, v in fields.items() if k not in raw}},
                     doseq=True)
    body += "".join(f"&{name}={value}" for name, value in raw.items())
    return client.post(url, data=body.encode(), content_type="application/x-www-form-urlencoded")


def post_json(client, url, text, headers, method="post"):
    """Send a JSON text as it is (so it can hold escapes json.dumps would never write)."""
    return getattr(client, method)(url, data=text, content_type="application/json", headers=headers)


@pytest.fixture
def people(make_user):
    """An author in a team, a reviewer and an administrator."""
    return {"author": make_user("amy", team="华东/一组"), "reviewer": make_user("rita", roles=("agent", "reviewer")),
            "admin": make_user("adam", roles=("agent", "admin"))}


@pytest.fixture
def pending_entry(app, make_entry, people):
    """A draft by the author, submitted for review the way the author would."""

    def factory():
        entry_id = make_entry(people["author"])
        with app.app_context():
            review.submit(entry_id, db.session.get(User, people["author"]))
        return entry_id

    return factory


def signed_in(make_client, username):
    client = make_client()
    assert client.login(username).status_code == 302
    return client


# --- the entry editor -------------------------------------------------------------------------------------

TEXT_LIMITS = {"title": 200, "tags": 500, "note": 200}


def hostile_text(limit):
    return {"over the limit": "长" * (limit + 1), "far over": "x" * 100_000, "NUL": "a\x00b", "only NUL": "\x00",
            "whitespace": " \t ", "huge number": HUGE, "negative": "-1",
            "markup": '"><script>alert(1)</script><img src=x onerror=alert(1)>'}


@pytest.mark.parametrize("name", ["title", "tags", "note", "body"])
def test_entry_form_keeps_or_saves_hostile_text(app, people, make_client, make_entry, name):
    client = signed_in(make_client, "amy")
    limit = TEXT_LIMITS.get(name, app.config["MAX_BODY_CHARS"])
    for label, value in hostile_text(limit).items():
        entry = make_entry(people["author"])
        # A change note is asked for on edits only.
        url, data = (f"/entries/{entry}/edit", {"base_revision": "1"}) if name == "note" else ("/entries/new", {})
        response = client.form_post(url, entry_form(**{**data, name: value}))
        assert response.status_code in (302, 422), (name, label, response.status_code)
        if response.status_code == 422:
            page = response.get_data(as_text=True)
            assert unsafe_markup(page) == [], (name, label)
            kept = field_value(page, name)
            assert kept is not None and kept.lstrip("\r\n") == value, (name, label, (kept or "")[:80])
            assert "field-errors" in page, (name, label)


@pytest.mark.parametrize("overrides", [
    {"kind": "no_such_kind"}, {"kind": HUGE}, {"kind": ""}, {"kind": "\x00"}, {"products": ["life", "<script>"]},
    {"segments": [HUGE, "-1"]}, {"products": "x" * 10_000}, {"base_revision": HUGE}, {"base_revision": "-1"},
    {"base_revision": "abc"}, {"title": ["一", "二"]},
], ids=lambda o: ",".join(f"{k}={str(v)[:12]!r}" for k, v in o.items()))
def test_entry_form_refuses_bad_choices_and_numbers_clearly(people, make_client, make_entry, overrides):
    client = signed_in(make_client, "amy")
    entry = make_entry(people["author"])
    for url in ("/entries/new", f"/entries/{entry}/edit"):
        data = entry_form(**overrides)
        if "base_revision" not in overrides and url.endswith("/edit"):
            data["base_revision"] = "1"
        response = client.form_post(url, data)
        assert response.status_code in (302, 409, 422), (url, response.status_code)
        assert_page_safe(response, url)


@pytest.mark.parametrize("name", ["title", "body", "tags", "kind"])
def test_entry_form_with_invalid_utf8_is_refused_or_saved_never_a_crash(people, make_client, name):
    client = signed_in(make_client, "amy")
    response = raw_form(client, "/entries/new", entry_form(), **{name: "ok" + INVALID_UTF8})
    assert response.status_code in (302, 422), (name, response.status_code)


def test_entry_form_without_fields_is_shown_again_with_reasons(people, make_client):
    client = signed_in(make_client, "amy")
    response = client.form_post("/entries/new", {})
    assert response.status_code == 422
    assert response.get_data(as_text=True).count('class="field-errors"') >= 3


# --- stored payloads, shown on every page that shows them ---------------------------------------------------

def review_data(decision="adopt", comment="好"):
    data = {f"score_{slug}": "4" for slug in RUBRIC}
    data.update(compliance="pass", decision=decision, comment=comment)
    return data


@needs_corpus
@pytest.mark.search_index
def test_corpus_payloads_stored_through_the_pages_are_shown_inert_everywhere(app, people, make_client):
    author, reviewer, admin = (signed_in(make_client, name) for name in ("amy", "rita", "adam"))
    titles = xss_sample(max_length=180, single_line=True)
    bodies = xss_sample()
    entry_ids = []
    for number, (title, body) in enumerate(zip(titles, bodies)):
        response = author.form_post("/entries/new", entry_form(
            title=f"{number} {title}", body=body, tags=", ".join(t[:30] for t in (title, "保费")),
            note=title[:200]))
        assert response.status_code == 302, (title, response.status_code, response.get_data(as_text=True)[:500])
        entry_id = int(response.headers["Location"].rsplit("/", 1)[1])
        entry_ids.append(entry_id)
        assert author.form_post(f"/entries/{entry_id}/submit").status_code == 302
        assert reviewer.form_post(f"/entries/{entry_id}/comments", {"body": title}).status_code == 302
        decision = "adopt" if number % 3 else "revise"
        response = reviewer.form_post(f"/review/{entry_id}", review_data(decision, comment=body[:2000]))
        assert response.status_code == 302, (title, response.status_code)
        reviewer.form_post(f"/entries/{entry_id}/bookmark", {"keep": "1"})
        reviewer.form_post(f"/entries/{entry_id}/helpful")
    adopted = [e for number, e in enumerate(entry_ids) if number % 3]
    assert admin.form_post(f"/entries/{adopted[0]}/retract", {"reason": titles[1]}).status_code == 302
    pages = {client: [] for client in (author, reviewer, admin)}
    for entry_id in entry_ids[:12]:
        for url in (f"/entries/{entry_id}", f"/entries/{entry_id}/history", f"/entries/{entry_id}/revisions/1",
                    f"/entries/{entry_id}/diff?a=1&b=1"):
            pages[author].append(url)
        if entry_id != adopted[0]:  # retracted: no longer editable
            pages[author].append(f"/entries/{entry_id}/edit")
        if entry_id in adopted[1:]:  # returned and retracted ones are the author's alone again
            pages[reviewer].append(f"/review/{entry_id}")
    for query in [t[:60] for t in titles[:10]] + ["script", "alert", "onerror", "javascript"]:
        pages[reviewer].append("/search?" + urlencode({"q": query}))
        pages[admin].append("/search?" + urlencode({"q": query, "sort": "newest"}))
    pages[author] += ["/", "/entries", "/recent", "/notifications", "/me/points", "/leaderboard",
                      "/entries?tag=" + quote_all(titles[0][:30])]
    pages[reviewer] += ["/review", "/me/bookmarks", "/notifications", "/"]
    pages[admin] += ["/dashboard", "/admin/audit", "/admin/points", "/search/gaps", "/leaderboard?scope=team",
                     f"/entries/{adopted[0]}"]
    shown = ""
    for client, urls in pages.items():
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            assert_page_safe(response, url)
            shown += response.get_data(as_text=True)
    assert "alert(" in shown  # the payloads are on the pages, as text


# --- comments ----------------------------------------------------------------------------------------------

def test_comment_form_keeps_refused_text_and_never_crashes(people, make_client, make_entry):
    client = signed_in(make_client, "rita")
    entry = make_entry(people["author"])
    author = signed_in(make_client, "amy")
    assert author.form_post(f"/entries/{entry}/submit").status_code == 302  # now the reviewer may see it
    for label, value in {"over the limit": "评" * 2001, "far over": "x" * 100_000, "NUL": "a\x00b",
                         "empty": "   ", "markup": "<script>alert(1)</script>"}.items():
        response = client.form_post(f"/entries/{entry}/comments", {"body": value})
        assert response.status_code in (302, 422), (label, response.status_code)
        if response.status_code == 422:
            page = response.get_data(as_text=True)
            assert unsafe_markup(page) == [], label
            assert field_value(page, "body") == value, label
    assert raw_form(client, f"/entries/{entry}/comments", {}, body=INVALID_UTF8).status_code in (302, 422)
    assert_page_safe(client.get(f"/entries/{entry}"), "entry with comments")


# --- administration: names shown on the profile, leaderboard, notifications and admin pages -------------------

@needs_corpus
def test_admin_forms_take_hostile_names_and_show_them_inert(app, people, make_client, make_entry):
    admin = signed_in(make_client, "adam")
    names = xss_sample(max_length=80, single_line=True)[:24]
    for name in names:
        assert admin.form_post("/admin/teams", {"branch": name, "name": name[::-1]}).status_code == 302
        admin.form_post("/admin/rules/compliance", {"phrase": name, "action": "flag", "reason": name,
                                                    "active": "y"})
    with app.app_context():
        team_ids = [team.id for team in users.list_teams()]
    created = []
    for number, name in enumerate(names):
        response = admin.form_post("/admin/users/new", {"username": f"user{number}", "password": PASSWORD,
                                                       "display_name": name, "roles": "agent",
                                                       "team": str(team_ids[number % len(team_ids)])})
        assert response.status_code == 302, (name, response.status_code)
        created.append(f"user{number}")
    for number, name in enumerate(names[:6]):
        admin.form_post("/admin/rules/rubric", {"slug": f"c{number}", "name_zh": name, "name_en": name,
                                                "description_zh": name, "description_en": name, "active": "y"})
        admin.form_post("/admin/synonyms", {"words": f"{name[:40]}, 同义{number}"})
    # The hostile display names earn points and comment, so they reach boards and notifications.
    author = people["author"]
    entry = make_entry(author, status="adopted")
    for username in created[:8]:
        writer = signed_in(make_client, username)
        writer.form_post(f"/entries/{entry}/comments", {"body": "有用"})
        writer.form_post(f"/entries/{entry}/helpful")
    reader = signed_in(make_client, "amy")
    for url in ("/admin", "/admin/rules", "/admin/synonyms", "/admin/audit", "/admin/points", "/admin/users/2"):
        assert_page_safe(admin.get(url), url)
    for url in ("/notifications", "/leaderboard", "/leaderboard?period=all", f"/entries/{entry}", "/me/points"):
        assert_page_safe(reader.get(url), url)
    for url in ("/leaderboard?scope=team&period=all", "/leaderboard?scope=branch&period=all"):
        assert_page_safe(admin.get(url), url)
    for username in created[:4]:
        assert_page_safe(signed_in(make_client, username).get("/profile"), f"/profile of {username}")
    assert_page_safe(admin.get("/dashboard"), "/dashboard")


ADMIN_FORMS = {
    "/admin/users/new": {"username": "newbie", "password": PASSWORD, "display_name": "新人", "roles": "agent",
                         "team": "0"},
    "/admin/users/2": {"display_name": "审核员", "roles": "reviewer", "team": "0", "active": "y"},
    "/admin/users/2/password": {"new_password": "another-pass-1"},
    "/admin/teams": {"branch": "华南", "name": "二组"},
    "/admin/rules/compliance": {"phrase": "稳赚", "action": "block", "reason": "误导", "active": "y"},
    "/admin/rules/rubric": {"slug": "speed", "name_zh": "时效", "name_en": "Speed", "description_zh": "",
                            "description_en": "", "active": "y"},
    "/admin/rules/points/entry_adopted:faq": {"value": "10"},
    "/admin/synonyms": {"words": "保单贷款, 保单借款"},
}
LIMITS = {"username": 40, "password": 200, "display_name": 80, "new_password": 200, "branch": 80, "name": 80,
          "phrase": 80, "reason": 200, "slug": 40, "name_zh": 80, "name_en": 80, "description_zh": 200,
          "description_en": 200, "words": 400}


def hostile_field_values(name):
    values = {"missing": None, "NUL": "a\x00b", "huge number": HUGE, "negative": "-1", "far over": "x" * 100_000,
              "markup": "<img src=x onerror=alert(1)>"}
    if name in LIMITS:
        values["over the limit"] = "长" * (LIMITS[name] + 1)
    return values


@pytest.mark.parametrize("url", ADMIN_FORMS)
def test_every_admin_form_field_survives_hostile_values(app, people, make_client, url):
    admin = signed_in(make_client, "adam")
    for name in ADMIN_FORMS[url]:
        for label, value in hostile_field_values(name).items():
            data = dict(ADMIN_FORMS[url])
            if value is None:
                del data[name]
            else:
                data[name] = value
            response = admin.form_post(url, data)
            assert response.status_code in (200, 302, 409, 422), (url, name, label, response.status_code)
            assert_page_safe(response, f"{url} {name} {label}")
        response = raw_form(admin, url, ADMIN_FORMS[url], **{name: INVALID_UTF8})
        assert response.status_code in (200, 302, 409, 422), (url, name, "invalid UTF-8", response.status_code)
    for page in ("/admin", "/admin/rules", "/admin/synonyms", "/admin/audit", "/admin/users/2"):
        assert_page_safe(admin.get(page), page)


@pytest.mark.parametrize("url, data", [
    ("/login", {"username": "amy", "password": PASSWORD, "next": "/"}),
    ("/profile", {"current_password": PASSWORD, "new_password": "new-pass-123", "confirm": "new-pass-123"}),
    ("/language", {"lang": "en", "next": "/"}),
    ("/review/{entry}", review_data()),
    ("/entries/{entry}/retract", {"reason": "过时"}),
    ("/entries/{entry}/bookmark", {"keep": "1", "next": "/me/bookmarks"}),
    ("/entries/{entry}/revert/1", {"base_revision": "1"}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_other_forms_survive_hostile_values(app, people, make_client, pending_entry, url, data):
    entry = pending_entry()
    url = url.format(entry=entry)
    username = "adam" if "retract" in url else "rita"
    for name in data:
        for label, value in hostile_field_values(name).items():
            client = signed_in(make_client, username)
            fields = dict(data)
            if value is None:
                del fields[name]
            else:
                fields[name] = value
            response = client.form_post(url, fields)
            assert response.status_code in (200, 302, 400, 403, 409, 422), (url, name, label, response.status_code)
            assert_page_safe(response, f"{url} {name} {label}")
            response = raw_form(client, url, data, **{name: INVALID_UTF8})
            assert response.status_code in (200, 302, 400, 403, 409, 422), (url, name, "bad UTF-8",
                                                                             response.status_code)


# --- query strings and path numbers ---------------------------------------------------------------------------

PAGE_QUERIES = {
    "/entries": ("kind", "product", "segment", "tag", "status", "mine", "page"),
    "/search": ("q", "kind", "product", "segment", "tag", "sort", "page"),
    "/search/similar": ("title",),
    "/leaderboard": ("scope", "period", "sort"),
    "/me/points": ("page",),
    "/dashboard": ("period",),
    "/dashboard/export/coverage.csv": ("period",),
    "/admin/audit": ("page", "action"),
    "/admin/points": ("user", "reason", "from", "to", "entry", "before", "after"),
    "/admin/points.csv": ("user", "reason", "from", "to", "entry"),
    "/entries/new": ("title",),
    "/entries/{entry}/diff": ("a", "b"),
    "/login": ("next",),
}
API_QUERIES = {
    "/api/v1/entries": ("kind", "product", "segment", "tag", "status", "mine", "page", "per_page"),
    "/api/v1/entries/{entry}": ("revision",),
    "/api/v1/search": ("q", "kind", "product", "segment", "tag", "sort", "page"),
    "/api/v1/entries/similar": ("title",),
    "/api/v1/leaderboard": ("scope", "period", "sort", "limit"),
    "/api/v1/points": ("user", "reason", "from", "to", "entry", "before", "after", "per_page"),
}
HOSTILE_QUERY_VALUES = {
    "NUL": "%00", "NUL inside": "a%00b", "invalid UTF-8": INVALID_UTF8, "huge": HUGE, "negative": "-1",
    "float": "1e309", "far over": "x" * 10_000, "markup": quote_all("\"><script>alert(1)</script>"),
    "javascript": quote_all("javascript:alert(1)"), "empty": "", "repeated": "1&{name}=2",
}


@pytest.mark.search_index
def test_every_page_query_parameter_survives_hostile_values(app, people, make_client, make_entry):
    entry = make_entry(people["author"], status="adopted")
    client = signed_in(make_client, "adam")
    for path, names in PAGE_QUERIES.items():
        path = path.format(entry=entry)
        for name in names:
            for label, value in HOSTILE_QUERY_VALUES.items():
                url = f"{path}?{name}={value.format(name=name)}"
                response = client.get(url)
                response.get_data()  # a CSV download streams: read it to the end, inside its request
                response.close()
                assert response.status_code in (200, 302, 400, 404, 422), (url[:120], label, response.status_code)
                if response.mimetype == "text/html":
                    assert_page_safe(response, url[:120])


@pytest.mark.search_index
def test_every_api_query_parameter_survives_hostile_values(app, people, api, make_entry):
    entry = make_entry(people["author"], status="adopted")
    client = app.test_client()
    headers = api("adam")
    for path, names in API_QUERIES.items():
        path = path.format(entry=entry)
        for name in names:
            for label, value in HOSTILE_QUERY_VALUES.items():
                url = f"{path}?{name}={value.format(name=name)}"
                response = client.get(url, headers=headers)
                assert response.status_code < 500, (url[:120], label, response.status_code)
                if response.status_code >= 400:
                    assert_error_envelope(response, 400, 403, 404, 422)


@pytest.mark.parametrize("url", [
    "/entries/{n}", "/entries/{n}/history", "/entries/{n}/edit", "/entries/{n}/diff", "/entries/1/revisions/{n}",
    "/review/{n}", "/admin/users/{n}", "/admin/synonyms/{n}", "/api/v1/entries/{n}", "/api/v1/entries/{n}/revisions",
    "/api/v1/entries/{n}/reviews",
])
def test_huge_and_negative_ids_in_paths_are_not_found(people, make_client, api, make_entry, url):
    make_entry(people["author"], status="adopted")
    username = "adam" if url.startswith("/admin/") else "rita"
    client = signed_in(make_client, username)
    headers = api(username)
    for number in (HUGE, str(2**31), str(2**63), "-1", "0"):
        response = client.get(url.format(n=number), headers=headers if url.startswith("/api/") else {})
        assert response.status_code == 404, (url, number, response.status_code)
        if url.startswith("/api/"):
            assert_error_envelope(response, 404)


@pytest.mark.parametrize("url", [
    "/entries/{n}/comments", "/entries/{n}/bookmark", "/entries/{n}/helpful", "/entries/{n}/submit",
    "/entries/1/comments/{n}/delete", "/entries/1/revert/{n}", "/admin/synonyms/{n}/delete",
    "/admin/users/{n}/password",
])
def test_huge_ids_in_form_paths_are_not_found(people, make_client, make_entry, url):
    make_entry(people["author"], status="adopted")
    client = signed_in(make_client, "adam")
    for number in (HUGE, str(2**31), str(2**63)):
        response = client.form_post(url.format(n=number), {"body": "x", "keep": "1", "new_password": "x" * 10})
        assert response.status_code == 404, (url, number, response.status_code)


# --- the JSON API's bodies -----------------------------------------------------------------------------------

ENTRY_JSON = {"title": "客户嫌贵怎么办", "body": "先算保障缺口。", "kind": "objection_handling",
              "products": ["critical_illness"], "segments": ["young_family"], "tags": ["保费"], "note": ""}
WRONG_TYPES = {"list": ["a", "b"], "object": {"nested": {"deep": [1]}}, "number": 12, "huge": 10**40,
               "float": 1.5, "true": True, "null": None, "list of objects": [{"a": 1}], "list of lists": [["x"]]}


def hostile_json_values(limit=None):
    values = dict(WRONG_TYPES, NUL="a\x00b", empty="", markup="<script>alert(1)</script>")
    if limit:
        values["over the limit"] = "长" * (limit + 1)
    return values


@pytest.mark.parametrize("name", list(ENTRY_JSON) + ["base_revision"])
def test_api_entry_fields_refuse_wrong_types_with_the_envelope(app, people, api, make_entry, name):
    client = app.test_client()
    headers = api("amy")
    entry = make_entry(people["author"])
    limit = {"title": 200, "note": 200, "body": app.config["MAX_BODY_CHARS"]}.get(name)
    for label, value in {**hostile_json_values(limit), "missing": ...}.items():
        data = {**ENTRY_JSON, "base_revision": 1}
        if value is ...:
            del data[name]
        else:
            data[name] = value
        for method, url in (("post", "/api/v1/entries"), ("put", f"/api/v1/entries/{entry}")):
            response = getattr(client, method)(url, json=data, headers=headers)
            assert response.status_code in (200, 201, 409, 422), (method, name, label, response.status_code)
            if response.status_code >= 400:
                assert_error_envelope(response, 409, 422)
            else:
                shown = client.get(f"/api/v1/entries/{response.get_json()['id']}", headers=headers).get_json()
                assert unsafe_markup(shown["html"]) == []
        text = json.dumps({**ENTRY_JSON, "base_revision": 1})
        surrogate = text.replace(json.dumps(ENTRY_JSON.get(name, "")), SURROGATE_JSON, 1) \
            if isinstance(ENTRY_JSON.get(name), str) and ENTRY_JSON.get(name) else text
        for method, url in (("post", "/api/v1/entries"), ("put", f"/api/v1/entries/{entry}")):
            response = post_json(client, url, surrogate, headers, method)
            assert response.status_code in (200, 201, 409, 422), (method, name, "surrogate", response.status_code)


@pytest.mark.parametrize("body", [
    "", "null", "[]", "[1, 2]", '"text"', "42", "{", '{"title": ', "{}", '{"a": ' * 200 + "1" + "}" * 200,
    "\x00", "\ufeff{}", '{"title": "\\u0000"}',
], ids=repr)
def test_api_bodies_that_are_not_objects_get_400_or_422(app, people, api, pending_entry, body):
    client = app.test_client()
    headers = api("rita")
    entry = pending_entry()
    for method, url in (("post", "/api/v1/entries"), ("put", f"/api/v1/entries/{entry}"),
                        ("post", f"/api/v1/entries/{entry}/reviews"), ("post", "/api/v1/tokens")):
        response = post_json(client, url, body, headers, method)
        assert_error_envelope(response, 400, 401, 422)


REVIEW_JSON = {"scores": {slug: 4 for slug in RUBRIC}, "compliance": True, "decision": "revise", "comment": "补充"}


@pytest.mark.parametrize("name", list(REVIEW_JSON) + ["score"])
def test_api_review_fields_refuse_wrong_types_with_the_envelope(app, people, api, pending_entry, name):
    client = app.test_client()
    headers = api("rita")
    entry = pending_entry()
    for label, value in {**hostile_json_values(2000 if name == "comment" else None), "missing": ...,
                         "negative": -1, "zero": 0, "six": 6}.items():
        data = json.loads(json.dumps(REVIEW_JSON))
        target, key = (data["scores"], "accuracy") if name == "score" else (data, name)
        if value is ...:
            del target[key]
        else:
            target[key] = value
        response = client.post(f"/api/v1/entries/{entry}/reviews", json=data, headers=headers)
        assert response.status_code in (201, 409, 422), (name, label, response.status_code)
        if response.status_code >= 400:
            assert_error_envelope(response, 409, 422)
        else:
            entry = pending_entry()
    text = json.dumps(REVIEW_JSON).replace('"\\u8865\\u5145"', SURROGATE_JSON)
    assert_error_envelope(post_json(client, f"/api/v1/entries/{entry}/reviews", text, headers), 422)


@pytest.mark.parametrize("name", ["username", "password"])
def test_api_token_fields_refuse_hostile_values(app, people, name):
    client = app.test_client()
    for label, value in {**hostile_json_values(), "far over": "x" * 100_000, "missing": ...}.items():
        data = {"username": "amy", "password": PASSWORD}
        if value is ...:
            del data[name]
        else:
            data[name] = value
        response = client.post("/api/v1/tokens", json=data)
        assert_error_envelope(response, 400, 401, 422)
    credentials = {"username": "amy", "password": PASSWORD}
    text = json.dumps(credentials).replace(f'"{credentials[name]}"', SURROGATE_JSON)
    assert_error_envelope(post_json(client, "/api/v1/tokens", text, {}), 400, 401, 422)


def test_editor_preview_refuses_wrong_types_and_renders_payloads_inert(people, make_client):
    client = signed_in(make_client, "amy")
    headers = {"X-CSRFToken": client.csrf_token()}
    for value in list(WRONG_TYPES.values()) + ["a\x00b", "<script>alert(1)</script>"]:
        response = client.post("/editor/preview", json={"body": value}, headers=headers)
        assert response.status_code in (200, 422), (value, response.status_code)
        if response.status_code == 200:
            assert unsafe_markup(response.get_json()["html"]) == []
        else:
            assert_error_envelope(response, 422)
    response = post_json(client, "/editor/preview", '{"body": ' + SURROGATE_JSON + "}", headers)
    assert response.status_code in (200, 422)


# --- sizes ---------------------------------------------------------------------------------------------------

def test_bodies_over_the_size_limit_get_413_on_a_form_and_an_api_route(app, people, make_client, api):
    too_big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    client = signed_in(make_client, "amy")
    response = client.form_post("/entries/new", entry_form(body=too_big))
    assert response.status_code == 413
    assert "请求内容过大" in response.get_data(as_text=True)  # the message, in the Chinese default UI
    response = app.test_client().post("/api/v1/entries", json={**ENTRY_JSON, "body": too_big}, headers=api("amy"))
    assert_error_envelope(response, 413)


def test_an_image_over_the_attachment_limit_is_refused_clearly(app, people, make_client):
    client = signed_in(make_client, "amy")
    image = b"\x89PNG\r\n\x1a\n" + b"\0" * app.config["ATTACHMENT_MAX_BYTES"]
    # Encoded here in memory: the test client would spool this body to a temporary file it never closes.
    boundary, body = encode_multipart({"file": FileStorage(BytesIO(image), "big.png")})
    response = client.post("/editor/attachments", data=body, headers={"X-CSRFToken": client.csrf_token()},
                           content_type=f"multipart/form-data; boundary={boundary}")
    error = assert_error_envelope(response, 413)
    assert error["message"] == "图片超过 5.0 MB，请压缩后重新上传。", error


# --- regressions: each a bug the fuzzing above found ------------------------------------------------------------

def test_a_page_number_beyond_any_id_shows_the_first_page(people, make_client, api, make_entry, app):
    """Was a 500: SQLite cannot hold the OFFSET, PostgreSQL's integer columns overflow."""
    make_entry(people["author"], status="adopted")
    client = signed_in(make_client, "adam")
    for url in (f"/entries?page={HUGE}", f"/me/points?page={HUGE}", f"/admin/audit?page={HUGE}"):
        assert client.get(url).status_code == 200, url
    response = app.test_client().get(f"/api/v1/entries?page={HUGE}", headers=api("amy"))
    assert response.status_code == 200 and response.get_json()["page"] == 1


def test_a_huge_id_on_a_route_with_other_methods_is_404_not_405(app, people, api):
    """werkzeug's own `max` would refuse GET .../reviews and then offer the POST rule: 405."""
    response = app.test_client().get(f"/api/v1/entries/{2**31}/reviews", headers=api("rita"))
    assert_error_envelope(response, 404)
    assert app.test_client().get(f"/api/v1/entries/{2**31 - 1}/reviews", headers=api("rita")).status_code == 404


@pytest.mark.parametrize("value", ["a\x00b", "\x00"])
def test_a_nul_in_an_entry_field_is_refused_with_the_text_kept(people, make_client, value):
    """Was a 500 on PostgreSQL, whose text columns hold no NUL."""
    client = signed_in(make_client, "amy")
    response = client.form_post("/entries/new", entry_form(title=value, body="正文" + value))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert page.count("含有无法保存的字符") == 2  # next to the title and next to the body
    assert field_value(page, "title") == value


def test_a_nul_in_a_comment_is_refused_with_the_text_kept(people, make_client, make_entry):
    """Was a 500 on PostgreSQL: the comment form bypassed every form check."""
    entry = make_entry(people["author"], status="adopted")
    client = signed_in(make_client, "rita")
    response = client.form_post(f"/entries/{entry}/comments", {"body": "好\x00文"})
    assert response.status_code == 422
    assert "含有无法保存的字符" in response.get_data(as_text=True)
    assert field_value(response.get_data(as_text=True), "body") == "好\x00文"
    assert client.form_post(f"/entries/{entry}/comments", {"body": "好文"}).status_code == 302


def test_a_nul_in_the_address_is_a_400_with_a_message(app, people, make_client, api):
    """Was a 500 on PostgreSQL for every filter, search and lookup by name in a query string or path."""
    client = signed_in(make_client, "amy")
    for url in ("/entries?tag=%00", "/search?q=a%00b", "/wiki/a%00b", "/admin/points?user=%00"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "网址中含有不允许的字符" in response.get_data(as_text=True), url
    error = assert_error_envelope(app.test_client().get("/api/v1/entries?kind=%00", headers=api("amy")), 400)
    assert error["code"] == "bad_url"


@pytest.mark.parametrize("text, field", [
    ('{"title": "a\\ud800", "body": "b", "kind": "faq"}', "title"),
    ('{"title": "t", "body": "\\udfff", "kind": "faq"}', "body"),
    ('{"title": "t", "body": "b", "kind": "faq", "tags": ["\\u0000"]}', "tags"),
])
def test_unstorable_characters_in_api_json_are_422_naming_the_field(app, people, api, text, field):
    """Was a 500: a lone surrogate is no UTF-8 (SQLite and PostgreSQL refuse it), a NUL no PostgreSQL text."""
    response = post_json(app.test_client(), "/api/v1/entries", text, api("amy"))
    assert assert_error_envelope(response, 422)["fields"] == {field: ["含有无法保存的字符（空字符或损坏的字符）。请删除后重新提交。"]}


def test_an_api_token_request_with_a_lone_surrogate_is_422(app, people):
    """Was a 500 when the username was looked up."""
    response = post_json(app.test_client(), "/api/v1/tokens", '{"username": "\\ud800", "password": "x"}', {})
    assert assert_error_envelope(response, 422)["fields"].keys() == {"username"}


def test_a_base_revision_beyond_any_id_is_refused_not_a_crash(app, people, make_client, make_entry, api):
    """Was a 500: the conflict view looked the revision number up in the database."""
    entry = make_entry(people["author"])
    client = signed_in(make_client, "amy")
    response = client.form_post(f"/entries/{entry}/edit", entry_form(base_revision=str(2**31)))
    assert response.status_code == 422
    assert "该修订版本号不存在" in response.get_data(as_text=True)
    assert field_value(response.get_data(as_text=True), "title") == entry_form()["title"]
    response = app.test_client().put(f"/api/v1/entries/{entry}", json={**ENTRY_JSON, "base_revision": 2**31},
                                     headers=api("amy"))
    assert assert_error_envelope(response, 422)["fields"].keys() == {"base_revision"}


def test_a_compliance_rule_needs_one_of_the_two_actions(app, people, make_client):
    """Was a 500: a missing or unknown action reached the database."""
    admin = signed_in(make_client, "adam")
    for data in ({"phrase": "包赚"}, {"phrase": "包赚", "action": "delete"}):
        assert admin.form_post("/admin/rules/compliance", data).status_code == 302
        with app.app_context():
            assert "包赚" not in {rule.phrase for rule in guards.all_rules()}
    assert admin.form_post("/admin/rules/compliance", {"phrase": "包赚", "action": "block"}).status_code == 302
    with app.app_context():
        assert {rule.phrase: rule.action for rule in guards.all_rules()}["包赚"] == "block"
