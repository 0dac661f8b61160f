"""`flask import-entries`: JSON Lines and Markdown folders, per-record errors, dry runs, duplicates,
adopted imports that search finds."""
import json

import pytest
from sqlalchemy import func, select

from conftest import SHARED_DATA
from kmwiki.errors import Invalid
from kmwiki.extensions import db
from kmwiki.models import Entry, Revision, Status, Tag, User
from kmwiki.services import importer
from kmwiki.services.search import SearchRequest, search

FAQ = SHARED_DATA / "baoxianzhidao_faq"
CLAIM_BODY = "## 理赔材料\n\n1. 理赔申请书\n2. 病历和出院小结\n3. 医疗费用发票原件\n\n材料齐全后十个工作日内到账。"


def faq_records(count):
    """Real insurance Q&A (question as title, best answer as body), read at test time only."""
    if not FAQ.exists():
        pytest.skip("the shared 保险知道 data set is not present")
    answers = {}
    with open(FAQ / "docs.jsonl", encoding="utf-8") as docs:
        for line in docs:
            doc = json.loads(line)
            answers[doc["id"]] = doc["text"]
            if len(answers) >= 50:
                break
    records = []
    with open(FAQ / "queries.jsonl", encoding="utf-8") as queries:
        for line in queries:
            query = json.loads(line)
            if query.get("kind") == "original" and query["relevant"][0] in answers:
                records.append({"title": query["text"], "body": answers[query["relevant"][0]]})
            if len(records) == count:
                return records
    return records


def write_lines(path, lines):
    """A JSON Lines file: dicts become JSON, strings are written as they are (for broken lines)."""
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)
                              for line in lines) + "\n", encoding="utf-8")
    return path


def run_import(app, *args):
    return app.test_cli_runner().invoke(args=["import-entries", *map(str, args)])


def all_entries(app):
    with app.app_context():
        return {e.title: e for e in db.session.scalars(select(Entry).order_by(Entry.id))}


def test_help_documents_the_formats_and_duplicates(app):
    result = run_import(app, "--help")
    assert result.exit_code == 0
    assert "JSON Lines" in result.output and "front matter" in result.output.lower()
    assert "--keep-duplicates" in result.output and "--dry-run" in result.output


def test_json_lines_become_drafts_with_categories_tags_and_author(app, make_user, tmp_path):
    make_user("wangfang")
    make_user("lina")
    faq = faq_records(3)
    lines = [dict(faq[0], kind="faq", products=["auto"], segments=[], tags=["座位险", "车险"], author="wangfang"),
             dict(faq[1], kind="faq", products=["auto"], segments=["general"], tags="车险，理赔"),
             "",
             dict(faq[2], kind="client_case")]
    result = run_import(app, write_lines(tmp_path / "faq.jsonl", lines), "--author", "lina")
    assert result.exit_code == 0, result.output
    assert "Imported 3, skipped 0 (title exists), errors 0." in result.stdout
    with app.app_context():
        found = {e.title: e for e in db.session.scalars(select(Entry))}
        first, second = found[faq[0]["title"]], found[faq[1]["title"]]
        assert {e.status for e in found.values()} == {Status.DRAFT}
        assert not any(e.is_public for e in found.values())
        assert first.author.username == "wangfang" and second.author.username == "lina"
        assert [c.slug for c in second.products] == ["auto"] and [c.slug for c in second.segments] == ["general"]
        assert sorted(t.name for t in first.tags) == ["座位险", "车险"]
        assert sorted(t.name for t in second.tags) == ["理赔", "车险"]  # a comma string, full-width comma too
        revision = db.session.scalar(select(Revision).where(Revision.entry_id == first.id))
        assert revision.body == faq[0]["body"]  # the Chinese answer, unchanged
    assert app.config["SEARCH_INDEX_UPDATES"] is False  # restored as the test app had it


@pytest.mark.search_index
def test_adopted_import_is_published_and_found_by_search(app, make_user, make_entry, tmp_path):
    author = make_user("wangfang")
    make_user("bob")
    # An index that already exists: the import adds to it rather than building it afresh.
    make_entry(author, title="医疗险报销比例", body="社保报销后的剩余部分按合同比例报销。", status=Status.ADOPTED)
    lines = [{"title": "住院医疗险理赔需要哪些材料", "body": CLAIM_BODY, "kind": "claims_service",
              "products": ["medical"], "tags": ["理赔"], "author": "wangfang"}]
    result = run_import(app, write_lines(tmp_path / "claims.jsonl", lines), "--status", "adopted")
    assert result.exit_code == 0, result.output
    assert app.config["SEARCH_INDEX_UPDATES"] is True
    with app.app_context():
        entry = db.session.scalar(select(Entry).where(Entry.title == "住院医疗险理赔需要哪些材料"))
        assert entry.status == Status.ADOPTED and entry.is_public and entry.published_number == 1
        reader = db.session.scalar(select(User).where(User.username == "bob"))
        found = search(SearchRequest(text="理赔要带发票原件吗"), reader)
        assert found.hits[0].title == "住院医疗险理赔需要哪些材料"
        assert search(SearchRequest(text="报销比例"), reader).hits[0].title == "医疗险报销比例"  # still indexed


def test_bad_records_are_reported_by_line_and_the_others_imported(app, make_user, tmp_path):
    make_user("wangfang")
    good = {"title": "犹豫期内退保能退全款吗", "body": "犹豫期内退保，退还全部已交保费，只扣少量工本费。",
            "kind": "faq", "products": ["life"], "author": "wangfang"}
    lines = [good,
             '{"title": "断了的一行", "body": ',
             dict(good, title=""),
             dict(good, title="分红险的红利怎么领取", kind="no_such_kind"),
             "",
             dict(good, title="宽限期内出险赔不赔", author="nobody"),
             dict(good, title="重疾险等待期多长", segment=["single"]),
             '["not", "an", "object"]',
             dict(good, title="意外险的免赔额是什么意思", products="accident, auto")]
    result = run_import(app, write_lines(tmp_path / "mixed.jsonl", lines))
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert [line.split(":")[0] for line in errors] == ["line 2", "line 3", "line 4", "line 6", "line 7", "line 8"]
    assert "Not valid JSON" in errors[0]
    assert "title: Please enter a title." in errors[1]  # English, whatever the default locale
    assert "kind: Please choose a kind." in errors[2]
    assert "author: Unknown user “nobody”." in errors[3]
    assert "segment: Unknown field." in errors[4]
    assert "Not a JSON object." in errors[5]
    assert "Imported 2, skipped 0 (title exists), errors 6." in result.stdout
    imported = all_entries(app)
    assert list(imported) == ["犹豫期内退保能退全款吗", "意外险的免赔额是什么意思"]


def test_a_record_without_any_author_is_an_error(app, make_user, tmp_path):
    make_user("root", roles=["admin"])
    lines = [{"title": "车险出险后多久报案", "body": "一般要求48小时内报案。", "kind": "faq"},
             {"title": "管理员能写条目吗", "body": "不能。", "kind": "faq", "author": "root"}]
    result = run_import(app, write_lines(tmp_path / "a.jsonl", lines))
    assert result.exit_code == 1
    assert "line 1:" in result.stderr and "--author" in result.stderr
    assert "line 2:" in result.stderr and "may not write entries" in result.stderr
    assert all_entries(app) == {}


def test_an_unknown_default_author_stops_before_importing(app, tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [{"title": "车险出险后多久报案", "body": "48小时内。", "kind": "faq"}])
    result = run_import(app, path, "--author", "ghost")
    assert result.exit_code == 1 and "ghost" in result.output
    assert all_entries(app) == {}


def write_markdown(folder, name, text):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_markdown_folder_with_inline_and_dash_lists(app, make_user, tmp_path):
    make_user("wangfang")
    folder = tmp_path / "knowledge"
    write_markdown(folder, "b_claims/住院理赔.md", (
        "---\nkind: claims_service\nproducts: [medical, critical_illness]\nsegments: \"young_family\"\n"
        "tags:\n  - 理赔\n  - 住院\nauthor: wangfang\n---\n\n# 住院医疗险理赔流程\n\n" + CLAIM_BODY + "\n"))
    write_markdown(folder, "a_objection.md", (
        "---\ntitle: 客户说保费太贵怎么办\nkind: objection_handling\nproducts: critical_illness, life\n"
        "segments:\n- young_family\n- potential\ntags: [保费, 异议处理]\nauthor: wangfang\n---\n"
        "先认同客户的感受，再用家庭保障缺口说明保额为什么需要这么高。\n"))
    write_markdown(folder, "notes.txt", "not Markdown: ignored")
    result = run_import(app, folder)
    assert result.exit_code == 0, result.output
    with app.app_context():
        objection, claims = db.session.scalars(select(Entry).order_by(Entry.id)).all()  # sorted by path
        assert objection.title == "客户说保费太贵怎么办"
        assert [c.slug for c in objection.products] == ["critical_illness", "life"]
        assert [c.slug for c in objection.segments] == ["young_family", "potential"]
        assert sorted(t.name for t in objection.tags) == ["保费", "异议处理"]
        assert claims.title == "住院医疗险理赔流程"  # from the leading heading
        assert claims.kind.slug == "claims_service" and claims.author.username == "wangfang"
        assert [c.slug for c in claims.products] == ["medical", "critical_illness"]
        assert sorted(t.name for t in claims.tags) == ["住院", "理赔"]
        body = db.session.scalar(select(Revision.body).where(Revision.entry_id == claims.id))
        assert body == CLAIM_BODY  # the heading became the title and left the body


def test_unknown_front_matter_key_fails_that_file_only(app, make_user, tmp_path):
    make_user("wangfang")
    folder = tmp_path / "md"
    write_markdown(folder, "good.md", "---\nkind: faq\nauthor: wangfang\n---\n# 什么是现金价值\n\n退保时能拿回的钱。\n")
    write_markdown(folder, "bad.md", "---\nkind: faq\nauthor: wangfang\ncategory: faq\n---\n# 年金险\n\n每年领取。\n")
    result = run_import(app, folder)
    assert result.exit_code == 1
    assert result.stderr.startswith("bad.md: Front matter line 4: unknown key “category”")
    assert list(all_entries(app)) == ["什么是现金价值"]


@pytest.mark.parametrize("text, message", [
    ("# 没有元数据\n\n正文", "No front matter"),
    ("---\nkind: faq\n# 正文", "no closing ---"),
    ("---\nkind: faq\nkind: client_case\n---\n正文", "given twice"),
    ("---\nkind faq\n---\n正文", "line 2: expected"),
    ("---\n- 理赔\n---\n正文", "line 2: expected"),
    ("---\nbody: 正文\n---\n正文", "unknown key “body”"),
])
def test_front_matter_is_strict(text, message):
    with pytest.raises(Invalid) as raised:
        importer.parse_markdown(text)
    assert message in str(raised.value.message)


def test_front_matter_values():
    fields = importer.parse_markdown(
        "---\r\ntitle: '重疾险: 确诊即赔吗'\r\n# a comment\r\nproducts: [\"critical_illness\", ]\r\n"
        "tags:\r\nauthor: lina\r\n---\r\n# 重疾险: 确诊即赔吗\r\n\r\n不一定，要看条款。\r\n")
    assert fields == {"title": "重疾险: 确诊即赔吗", "products": ["critical_illness"], "tags": "",
                      "author": "lina", "body": "不一定，要看条款。"}  # the repeated heading left the body


def test_dry_run_checks_everything_and_writes_nothing(app, make_user, tmp_path):
    make_user("wangfang")
    record = {"title": "年金险什么时候开始领", "body": "按合同约定的领取年龄开始领取。", "kind": "product_knowledge",
              "products": ["annuity"], "tags": ["年金", "养老"], "author": "wangfang"}
    path = write_lines(tmp_path / "a.jsonl", [record, dict(record, title="第二条", products=["pets"]), record])
    result = run_import(app, path, "--dry-run")
    assert result.exit_code == 1
    assert "line 2:" in result.stderr and "products: Unknown: pets" in result.stderr
    assert "Dry run, nothing written: would import 1, skipped 1 (title exists), errors 1." in result.stdout
    with app.app_context():
        assert db.session.scalar(select(func.count(Entry.id))) == 0
        assert db.session.scalar(select(func.count(Tag.id))) == 0


def test_existing_titles_are_skipped_unless_duplicates_are_kept(app, make_user, make_entry, tmp_path):
    author = make_user("wangfang")
    make_entry(author, title="客户说保费太贵怎么办")
    record = {"title": "客户说保费太贵怎么办", "body": "先算保障缺口，再谈预算。", "kind": "objection_handling",
              "author": "wangfang"}
    path = write_lines(tmp_path / "a.jsonl", [record])
    skipped = run_import(app, path)
    assert skipped.exit_code == 0 and "Imported 0, skipped 1" in skipped.stdout
    kept = run_import(app, path, "--keep-duplicates")
    assert kept.exit_code == 0 and "Imported 1, skipped 0" in kept.stdout
    with app.app_context():
        assert db.session.scalar(select(func.count(Entry.id))) == 2


def test_an_empty_file_is_an_error(app, tmp_path):
    result = run_import(app, write_lines(tmp_path / "empty.jsonl", ["", "  "]))
    assert result.exit_code == 1 and "no records" in result.output
