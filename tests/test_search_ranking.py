"""The search ranking rules (search/ranking.py): BM25F order, the title weighted highest, common
terms that only complete scores, deletions and several segments, and the per-segment cache.
Visibility, facets and helpful sorting are covered in test_search.py."""
import pytest

from kmwiki.models import Status, User
from kmwiki.extensions import db
from kmwiki.search import index, ranking
from kmwiki.services import entries, search
from kmwiki.services.entries import EntryInput

pytestmark = pytest.mark.search_index


def ask(app, username, text, **wanted):
    with app.test_request_context():
        user = db.session.scalar(db.select(User).where(User.username == username))
        return search.search(search.SearchRequest(text=text, **wanted), user)


def titles(found):
    return [hit.title for hit in found.hits]


def test_a_word_in_the_title_ranks_above_the_same_word_in_a_body(app, make_user, make_entry):
    alice = make_user("alice")
    make_entry(alice, title="客户异议的处理", body="讲到犹豫期时，客户往往会追问退保的费用。", status=Status.ADOPTED)
    make_entry(alice, title="犹豫期怎么讲", body="先讲清楚保障，再说明退保的规则。", status=Status.ADOPTED)
    assert titles(ask(app, "alice", "犹豫期")) == ["犹豫期怎么讲", "客户异议的处理"]


def test_more_of_the_question_ranks_higher(app, make_user, make_entry):
    alice = make_user("alice")
    make_entry(alice, title="续保提醒", body="车险到期前一个月提醒客户续保。", status=Status.ADOPTED)
    make_entry(alice, title="等待期内出险", body="重疾险等待期内确诊，保险公司退还保费，合同终止。", status=Status.ADOPTED)
    assert titles(ask(app, "alice", "重疾险等待期内确诊怎么办")) == ["等待期内出险"]
    assert titles(ask(app, "alice", "重疾险等待期内确诊或者续保提醒"))[0] == "等待期内出险"


def test_a_common_term_alone_does_not_make_an_entry_match(app, make_user, make_entry, monkeypatch):
    monkeypatch.setattr(ranking, "COMMON_MIN_DOCS", 1)
    alice = make_user("alice")
    for number in range(4):
        make_entry(alice, title=f"保险常识{number}", body="保险是转移风险的工具。", status=Status.ADOPTED)
    make_entry(alice, title="豁免条款", body="投保人豁免让保险在投保人身故后继续有效。", status=Status.ADOPTED)
    # 保险 is in every entry (common), 豁免 in one: only that one matches, and it is still complete.
    found = ask(app, "alice", "保险豁免")
    assert titles(found) == ["豁免条款"] and found.total == 1
    # A question of common words only: the rarest of them are required instead.
    assert ask(app, "alice", "保险").total == 5


def test_a_question_of_common_words_only_needs_them_all(app, make_user, make_entry, monkeypatch):
    monkeypatch.setattr(ranking, "COMMON_MIN_DOCS", 1)
    alice = make_user("alice")
    for number in range(3):
        make_entry(alice, title=f"理赔须知{number}", body="理赔要带齐材料。", status=Status.ADOPTED)
        make_entry(alice, title=f"保单存放{number}", body="保单要妥善保管。", status=Status.ADOPTED)
    make_entry(alice, title="丢了保单怎么理赔", body="保单丢了也能理赔，带上身份证。", status=Status.ADOPTED)
    # 理赔 and 保单 are each in half the entries (common): together they name one.
    found = ask(app, "alice", "保单理赔")
    assert titles(found) == ["丢了保单怎么理赔"] and found.total == 1
    assert dict(found.facets["kind"]) == {"objection_handling": 1}
    # When no entry holds them all, any of them will do.
    assert ask(app, "alice", "理赔保管").total == 7
    # Scored as when either would do.
    required = ranking.required_terms
    monkeypatch.setattr(ranking, "required_terms", lambda frequencies, terms: (required(frequencies, terms)[0], False))
    either = ask(app, "alice", "保单理赔")
    assert either.total == 7 and either.hits[0].title == "丢了保单怎么理赔" and either.hits[0].score == found.hits[0].score


def test_an_edited_entry_counts_once_and_only_its_new_text_matches(app, make_user, make_entry):
    alice = make_user("alice")
    entry_id = make_entry(alice, title="现金价值", body="退保时拿回现金价值。", status=Status.ADOPTED)
    make_entry(alice, title="保单贷款", body="可以用现金价值申请保单贷款。", status=Status.ADOPTED)
    with app.app_context():  # a second segment, and a deletion in the first
        entries.save_edit(entry_id, EntryInput(title="现金价值", body="退保拿回的钱就是这个数。", kind="faq"),
                          1, db.session.get(User, alice))
        entries.publish(entry_id, 2)
    assert ask(app, "alice", "现金价值").total == 2
    assert titles(ask(app, "alice", "拿回的钱")) == ["现金价值"]
    assert ask(app, "alice", "退保时拿回").total == 1


def test_cached_segments_are_dropped_once_merged_away(app, make_user, make_entry):
    alice = make_user("alice")
    make_entry(alice, title="甲", body="年金险的领取方式", status=Status.ADOPTED)
    make_entry(alice, title="乙", body="年金险的缴费方式", status=Status.ADOPTED)
    ask(app, "alice", "年金险")
    with app.app_context():
        ix = index.get_index()
        ix.optimize()  # one merged segment replaces the others
        live = {leaf.reader().segment().segment_id() for leaf, _ in ix.searcher().leaf_searchers()}
    assert ask(app, "alice", "年金险").total == 2
    assert set(ranking._segments) == live


def test_segments_lacking_a_word_are_skipped_without_changing_counts_or_scores(app, make_user, make_entry,
                                                                               monkeypatch):
    alice = make_user("alice")  # each entry is written in segments of its own
    make_entry(alice, title="现金价值", body="退保时拿回现金价值。", tags=("退保",), status=Status.ADOPTED)
    make_entry(alice, title="保单贷款", body="可以用现金价值申请保单贷款。", status=Status.ADOPTED)
    make_entry(alice, title="犹豫期", body="犹豫期内退保全额退还。", tags=("退保",), status=Status.ADOPTED)
    question = "现金价值 退保 贷款"
    found = ask(app, "alice", question)
    with app.app_context():
        searcher = index.searcher()
        frequencies = ranking.DocFrequencies(searcher)
        assert len(frequencies.segments) >= 3
        for name in ranking.FIELD_BOOSTS:
            for term in ("现金价值", "退保", "贷款", "犹豫期", "理赔"):
                assert frequencies[name, term] == searcher.doc_frequency(name, term)

    monkeypatch.setattr(ranking, "WORD_SET_MAX_DOCS", -1)  # no segment knows its words: every one is asked
    ranking._segments.clear()
    asked_everywhere = ask(app, "alice", question)
    assert [(hit.title, hit.score) for hit in found.hits] == [(hit.title, hit.score) for hit in asked_everywhere.hits]
    assert (found.total, found.facets) == (asked_everywhere.total, asked_everywhere.facets)
    assert titles(found) == ["保单贷款", "现金价值", "犹豫期"]


def test_a_small_segment_knows_the_words_of_every_text_field(app, make_user, make_entry):
    alice = make_user("alice")
    make_entry(alice, title="标题里的等待期", body="正文写免赔额。", tags=("宽限期",), status=Status.ADOPTED)
    with app.app_context():
        views = [view for _, view in ranking.DocFrequencies(index.searcher()).segments]
    assert {"等待期", "免赔额", "宽限期"} <= set().union(*(view.words for view in views))
    assert not any(view.may_hold("理赔") for view in views)


def leaf_readers(searcher):
    return {reader.segment().segment_id(): reader for reader, _ in searcher.ixreader.leaf_readers()}


def test_a_changed_index_keeps_the_readers_of_unchanged_segments_only(app, make_user, make_entry):
    alice = make_user("alice")
    first = make_entry(alice, title="现金价值", body="退保时拿回现金价值。", status=Status.ADOPTED)
    with app.app_context():
        before = leaf_readers(index.searcher())
    make_entry(alice, title="保单贷款", body="可以用现金价值申请保单贷款。", status=Status.ADOPTED)
    with app.app_context():
        after = leaf_readers(index.searcher())
    assert set(before) < set(after)
    assert all(after[key] is reader and not reader.is_closed for key, reader in before.items())
    assert ask(app, "alice", "现金价值").total == 2

    with app.app_context():  # a new revision deletes the old document in its segment: that reader is opened anew
        entries.save_edit(first, EntryInput(title="现金价值", body="这是保单里能领回的钱。", kind="faq"),
                          1, db.session.get(User, alice))
        entries.publish(first, 2)
        changed = leaf_readers(index.searcher())
    reopened = [key for key in before if key in changed and changed[key] is not before[key]]
    assert reopened and all(before[key].is_closed for key in reopened)
    assert ask(app, "alice", "退保时拿回").total == 0
    assert ask(app, "alice", "现金价值").total == 2

    with app.app_context():  # merged into one segment: every old reader is closed, nothing counts twice
        index.get_index().optimize()
        merged = leaf_readers(index.searcher())
    assert len(merged) == 1 and all(reader.is_closed for reader in changed.values())
    assert ask(app, "alice", "现金价值").total == 2


def test_sorting_by_newest(app, make_user, make_entry):
    alice = make_user("alice")
    make_entry(alice, title="先写的理赔经验", body="理赔材料要齐全。", status=Status.ADOPTED)
    make_entry(alice, title="后写的理赔经验", body="理赔时先报案。", status=Status.ADOPTED)
    assert titles(ask(app, "alice", "理赔", sort="newest")) == ["后写的理赔经验", "先写的理赔经验"]


def test_unknown_words_do_not_hide_the_known_ones(app, make_user, make_entry):
    alice = make_user("alice")
    make_entry(alice, title="车险在哪里买", body="车辆保险可以在异地投保吗？可以，但理赔要回投保地。", status=Status.ADOPTED)
    assert titles(ask(app, "alice", "车辆是济*的可以从莱西买保险吗")) == ["车险在哪里买"]


def test_did_you_mean_corrects_an_unknown_word_from_the_titles(app, make_user, make_entry):
    alice = make_user("alice")
    make_entry(alice, title="Claims checklist 理赔清单", body="材料要齐全。", status=Status.ADOPTED)
    found = ask(app, "alice", "claimms 流程")
    assert found.total == 0 and found.suggestion == "claim 流程"
    assert ask(app, "alice", "保险").suggestion == ""  # short Chinese words are never "corrected"
