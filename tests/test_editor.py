"""The entry editor over HTTP: the editor page, live preview, image uploads and how they are served."""
import hashlib
import html
import io
import json
import os
import re
import struct
import zlib

import pytest
from sqlalchemy import select

from conftest import entry_form
from kmwiki.extensions import db
from kmwiki.models import Attachment, Status, User

JSON = {"Accept": "application/json"}


def tiny_png():
    """A valid 1×1 red PNG, built here so the test needs no fixture file."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def csrf_headers(client):
    return {**JSON, "X-CSRFToken": client.csrf_token()}


def preview(client, body, headers=None):
    return client.post("/editor/preview", json={"body": body}, headers=headers or csrf_headers(client))


def upload(client, data, name="photo.png", headers=None, **form):
    fields = {"file": (io.BytesIO(data), name), **form}
    return client.post("/editor/attachments", data=fields, content_type="multipart/form-data",
                       headers=headers or csrf_headers(client))


@pytest.fixture
def agent(client, make_user):
    make_user("alice")
    client.login("alice")
    return client


# ---- the editor page ----------------------------------------------------------------------------

def test_new_entry_page_has_toolbar_preview_pane_and_script(agent):
    page = agent.get("/entries/new").get_data(as_text=True)
    assert 'role="toolbar"' in page
    for action in ("bold", "italic", "heading", "list", "numbered", "link", "quote", "table", "wikilink", "image"):
        assert f'data-action="{action}"' in page
    assert '<button type="button" class="tool tool-wide" data-action="preview"' in page
    assert 'id="preview"' in page and 'aria-live="polite"' in page
    assert "/static/js/editor.js" in page
    assert "<script>" not in page  # CSP: script-src 'self', nothing inline
    assert 'data-draft-key="kmwiki:draft:' in page and ':new"' in page
    assert "插入图片" in page or "Insert image" in page


def test_edit_page_keys_the_draft_by_entry_and_user(app, agent, make_user, make_entry):
    with app.app_context():
        alice = db.session.scalar(select(User.id).where(User.username == "alice"))
    entry_id = make_entry(alice)
    page = agent.get(f"/entries/{entry_id}/edit").get_data(as_text=True)
    assert f'data-draft-key="kmwiki:draft:{alice}:{entry_id}"' in page
    assert f'data-entry-id="{entry_id}"' in page


def test_the_editor_knows_the_titles_of_the_authors_newest_entries(app, agent, make_user, make_entry):
    with app.app_context():
        alice = db.session.scalar(select(User.id).where(User.username == "alice"))
    mine = [make_entry(alice, title=f"我的第{n}篇") for n in range(7)]
    make_entry(make_user("bob"), title="别人的条目", status=Status.ADOPTED)
    page = agent.get(f"/entries/{mine[0]}/edit").get_data(as_text=True)
    titles = json.loads(html.unescape(re.search(r'data-recent-titles="([^"]*)"', page).group(1)))
    assert titles == [f"我的第{n}篇" for n in (6, 5, 4, 3, 2)]  # the five newest, the author's own


def test_pickers_render_chips_grouped_segments_and_tag_suggestions(agent, make_user, make_entry):
    bob = make_user("bob")
    make_entry(bob, tags=("健康告知",), status=Status.ADOPTED)
    page = agent.get("/entries/new").get_data(as_text=True)
    assert 'type="radio" class="chip-input" name="kind" id="kind-faq" value="faq"' in page
    assert 'name="products" id="products-life" value="life"' in page
    assert 'name="segments" id="segments-young_family" value="young_family"' in page
    assert page.count('class="chip-group"') == 2  # life stage, value tier
    assert 'list="tag-suggestions"' in page and '<option value="健康告知">' in page


def test_invalid_post_keeps_choices_and_marks_the_form_as_posted(agent):
    response = agent.form_post("/entries/new", entry_form(title="", kind="faq", products=["life", "auto"]))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="faq" checked' in page
    assert 'value="auto" checked' in page and 'value="life" checked' in page
    assert 'data-posted="1"' in page


def test_entry_form_posts_still_save(app, agent):
    response = agent.form_post("/entries/new", entry_form())
    assert response.status_code == 302


# ---- preview ------------------------------------------------------------------------------------

def test_preview_renders_markdown_through_the_sanitizer(agent):
    response = preview(agent, "## 开场\n\n**先报姓名**，再说 [[犹豫期是什么]]。")
    assert response.status_code == 200
    html = response.get_json()["html"]
    assert '<h2 id="h-开场">开场</h2>' in html
    assert "<strong>先报姓名</strong>" in html
    assert 'class="wikilink"' in html


@pytest.mark.parametrize("payload", [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    "<svg onload=alert(1)>",
    "<iframe src=//evil.example></iframe>",
])
def test_preview_output_is_inert(agent, payload):
    html = preview(agent, payload).get_json()["html"]
    for name, attributes in re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)([^>]*)>", html):  # real tags only
        assert name.lower() not in {"script", "svg", "iframe", "object", "embed", "style"}
        assert not re.search(r"\bon[a-z]+\s*=", attributes, re.I)
        assert "javascript" not in attributes.lower()


def test_preview_needs_a_signed_in_user(client):
    response = preview(client, "hello")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_preview_needs_the_csrf_token(agent):
    response = agent.post("/editor/preview", json={"body": "hello"}, headers=JSON)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf"


def test_preview_refuses_a_body_over_the_limit(app, agent):
    app.config["MAX_BODY_CHARS"] = 50
    response = preview(agent, "长" * 51)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"
    assert preview(agent, "长" * 50).status_code == 200


def test_preview_without_body_is_a_clear_422(agent):
    response = agent.post("/editor/preview", json={"text": 1}, headers=csrf_headers(agent))
    assert response.status_code == 422
    assert "body" in response.get_json()["error"]["fields"]


# ---- uploads ------------------------------------------------------------------------------------

def test_upload_accepts_a_real_png_and_serves_it_with_safe_headers(app, agent):
    data = tiny_png()
    response = upload(agent, data, name="客户合影.png")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    token = body["url"].rsplit("/", 1)[1]
    assert body["url"] == f"/attachments/{token}"
    assert body["markdown"] == f"![客户合影]({body['url']})"
    with app.app_context():
        row = db.session.scalar(select(Attachment).where(Attachment.token == token))
        assert row.content_type == "image/png" and row.size == len(data)
        assert row.sha256 == hashlib.sha256(data).hexdigest() and row.original_name == "客户合影.png"
    served = agent.get(body["url"])
    content = served.data
    served.close()  # release the file send_file opened
    assert served.status_code == 200
    assert content == data
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers.getlist("Content-Security-Policy") == ["default-src 'none'; sandbox"]  # not the page CSP too
    assert served.headers["Cache-Control"].startswith("private")
    assert served.headers["Content-Disposition"] == \
        "inline; filename=\"image.png\"; filename*=UTF-8''%E5%AE%A2%E6%88%B7%E5%90%88%E5%BD%B1.png"
    # The rendered entry keeps the relative image address.
    html = preview(agent, body["markdown"]).get_json()["html"]
    assert f'src="{body["url"]}"' in html


def test_the_stored_file_name_is_the_token_not_the_upload_name(app, agent):
    body = upload(agent, tiny_png(), name="../../etc/passwd.gif").get_json()
    token = body["url"].rsplit("/", 1)[1]
    assert os.listdir(os.path.join(app.instance_path, "attachments")) == [token]
    served = agent.get(body["url"])
    served.close()
    # The served name keeps no path and takes the extension of the real type.
    assert served.headers["Content-Disposition"] == "inline; filename=\"passwd.png\"; filename*=UTF-8''passwd.png"


@pytest.mark.parametrize("data, name", [
    (b"<html><script>alert(1)</script></html>", "photo.png"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "photo.png"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "logo.svg"),
    (b"", "empty.png"),
])
def test_upload_refuses_what_is_not_a_known_image(app, agent, data, name):
    response = upload(agent, data, name=name)
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_type"
    assert "PNG" in response.get_json()["error"]["message"]
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Attachment.id))) == 0


def test_upload_refuses_an_oversize_image(app, agent):
    app.config["ATTACHMENT_MAX_BYTES"] = 1024
    response = upload(agent, tiny_png() + b"\x00" * 1024)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Attachment.id))) == 0


def test_upload_needs_login_csrf_and_a_file(client, agent, make_client):
    assert upload(agent, tiny_png(), headers=JSON).status_code == 400  # no CSRF token
    missing = agent.post("/editor/attachments", data={}, headers=csrf_headers(agent))
    assert missing.status_code == 422
    stranger = make_client()
    assert upload(stranger, tiny_png(), headers=csrf_headers(stranger)).status_code == 401


def test_upload_records_the_entry_only_when_the_uploader_may_edit_it(app, agent, make_user, make_entry):
    with app.app_context():
        alice = db.session.scalar(select(User.id).where(User.username == "alice"))
    own = make_entry(alice)
    other = make_entry(make_user("bob"))
    first = upload(agent, tiny_png(), entry_id=str(own)).get_json()["url"].rsplit("/", 1)[1]
    second = upload(agent, tiny_png(), entry_id=str(other)).get_json()["url"].rsplit("/", 1)[1]
    with app.app_context():
        rows = {a.token: a.entry_id for a in db.session.scalars(select(Attachment))}
    assert rows == {first: own, second: None}


def test_anonymous_cannot_fetch_an_attachment(agent, make_client):
    url = upload(agent, tiny_png()).get_json()["url"]
    response = make_client().get(url)
    assert response.status_code in (302, 401)
    assert response.data != tiny_png()


def test_unknown_attachment_is_404(agent):
    assert agent.get("/attachments/" + "a" * 43).status_code == 404
    assert agent.get("/attachments/..%2Fsecret_key").status_code == 404
