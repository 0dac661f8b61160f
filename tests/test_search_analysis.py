"""Search text analysis: Chinese segmentation, sub-words, English stemming, dictionaries, threads."""
import pickle
import threading

import pytest
from whoosh import fields, index, query
from whoosh.highlight import highlight, ContextFragmenter, HtmlFormatter

from kmwiki.search import analysis


def words(text):
    """Return the token texts the index analyzer produces for text."""
    return [token.text for token in analysis.analyzer()(text)]


@pytest.fixture
def extra_dictionary(tmp_path):
    """Yield a path set as the extra dictionary (not yet written); unset it afterwards."""
    path = tmp_path / "search_dict.txt"
    analysis.set_extra_dictionary(path)
    yield path
    analysis.set_extra_dictionary(None)


def test_chinese_sentence_yields_its_content_words():
    tokens = words("推荐重疾险给客户")
    assert {"推荐", "重疾险", "客户"} <= set(tokens)
    assert "给" not in tokens


@pytest.mark.parametrize("sentence, term", [
    ("这份重疾险值得买吗", "重疾险"),
    ("万能险的结算利率", "万能险"),
    ("犹豫期内退保全额退款", "犹豫期"),
    ("退保只能拿回现金价值", "现金价值"),
    ("可以申请保单贷款吗", "保单贷款"),
    ("等待期内确诊不赔", "等待期"),
    ("免赔额是一万元", "免赔额"),
    ("宽限期过后保单失效", "宽限期"),
    ("失效两年内可以申请复效", "复效"),
    ("健康告知要如实填写", "健康告知"),
    ("甲状腺结节能通过核保吗", "核保"),
    ("年金险可以趸交", "趸交"),
    ("交强险和商业险一起买", "交强险"),
])
def test_insurance_terms_stay_whole(sentence, term):
    assert term in words(sentence)


def test_shipped_dictionary_is_large_and_well_formed():
    entries = list(analysis.read_dictionary(analysis.USER_DICTIONARY))
    assert len(entries) >= 60
    assert all(freq and freq > 0 for _, freq in entries)
    assert len({word for word, _ in entries}) == len(entries)


def test_sub_words_are_indexed_so_parts_of_words_are_found():
    assert "疾险" in words("推荐重疾险给客户")
    assert "核保" in words("人工核保规则")
    assert "疾险" in analysis.query_terms("疾险")


def test_a_query_for_part_of_a_word_finds_the_entry(tmp_path):
    schema = fields.Schema(id=fields.ID(stored=True), body=fields.TEXT(analyzer=analysis.analyzer(), phrase=False))
    ix = index.create_in(str(tmp_path), schema)
    with ix.writer() as writer:
        writer.add_document(id="1", body="推荐重疾险给客户")
        writer.add_document(id="2", body="车险续保提醒")
    ix = index.open_dir(str(tmp_path))  # the schema, analyzer included, survives pickling
    with ix.searcher() as searcher:
        for text in ("疾险", "重疾险", "推荐的重疾险"):
            terms = query.Or([query.Term("body", term) for term in analysis.query_terms(text)])
            assert [hit["id"] for hit in searcher.search(terms)] == ["1"], text


def test_english_is_lower_cased_and_stemmed_gently():
    assert words("Claims") == words("claim") == ["claim"]
    assert words("useful") == ["use"]
    assert words("SMS iOS bus") == ["sms", "ios", "bus"]


@pytest.mark.parametrize("text, expected", [
    ("CRM系统", ["crm", "系统"]),
    ("App下载", ["app", "下载"]),
    ("用iPhone15投保", ["用", "iphone15", "投保"]),
])
def test_mixed_chinese_and_english(text, expected):
    assert words(text) == expected


def test_numbers_are_kept_and_punctuation_dropped():
    tokens = words("2023年保费3.5万！！")
    assert {"2023", "保费", "3.5"} <= set(tokens)
    assert not any("！" in token for token in tokens)
    assert words("ＣＲＭ２０２３") == ["crm2023"]  # full-width letters and digits
    assert words("，。！？…… ---") == []


def test_query_terms_drop_function_words_and_repeats():
    terms = analysis.query_terms("客户说保费太贵怎么办？")
    assert "保费" in terms and "客户" in terms
    assert not {"怎么办", "怎么", "么办", "贵怎"} & set(terms)
    assert analysis.query_terms("重疾险是什么") == ["重疾险", "重疾", "疾险"]
    assert analysis.query_terms("的了吗") == []
    assert analysis.query_terms("保费，保费") == ["保费"]


def test_stop_words_are_kept_for_highlighting():
    tokens = [(t.text, t.stopped) for t in analysis.analyzer()("重疾险是什么", removestops=False)]
    assert ("什么", True) in tokens


def test_character_offsets_point_at_the_token():
    text = "Claims：推荐重疾险给客户。"
    for token in analysis.analyzer()(text, chars=True, positions=True):
        if token.text != "claim":
            assert text[token.startchar:token.endchar] == token.text


def test_positions_never_go_back():
    positions = [token.pos for token in analysis.analyzer()("人工核保规则和重疾险的等待期", positions=True)]
    assert positions == sorted(positions)


def test_highlight_marks_a_sub_word_match():
    text = "推荐重疾险给客户"
    fragment = highlight(text, frozenset(["疾险"]), analysis.analyzer(), ContextFragmenter(), HtmlFormatter())
    assert '<strong class="match term0">疾险</strong>' in fragment


def test_analyzer_pickles_and_compares_equal():
    assert pickle.loads(pickle.dumps(analysis.analyzer())) == analysis.analyzer()


def test_extra_dictionary_extends_segmentation(extra_dictionary, monkeypatch):
    monkeypatch.setattr(analysis, "EXTRA_RECHECK_SECONDS", 0)  # workers look again every few seconds
    assert "安心福宝" not in words("安心福宝保障全面")
    extra_dictionary.write_text("# 产品名\n安心福宝 500 nz\n保险 x\nABC 3\n", encoding="utf-8")
    analysis.set_extra_dictionary(extra_dictionary)
    assert "安心福宝" in words("安心福宝保障全面")
    assert "重疾险" in words("推荐重疾险")  # the shipped words are still there

    extra_dictionary.write_text("安心福宝 0\n", encoding="utf-8")  # an admin's edit, seen without a restart
    assert "安心福宝" not in words("安心福宝保障全面")


def test_missing_extra_dictionary_is_ignored(extra_dictionary):
    assert not extra_dictionary.exists()
    assert "重疾险" in words("推荐重疾险")


def test_segmenter_is_built_once_and_shared_by_threads(monkeypatch):
    monkeypatch.setattr(analysis, "_base", None)
    monkeypatch.setattr(analysis, "_current", None)
    builds = []
    real_load = analysis._load
    monkeypatch.setattr(analysis, "_load", lambda *args: builds.append(args) or real_load(*args))
    texts = ["推荐重疾险给客户", "客户说保费太贵怎么办", "CRM系统里的保单贷款记录", "犹豫期内退保"] * 5
    results, barrier = [None] * 8, threading.Barrier(8)

    def work(slot):
        barrier.wait()
        results[slot] = [analysis.query_terms(text) for text in texts]

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert all(result == results[0] for result in results)
    assert results[0][0] == ["推荐", "荐重", "重疾险", "重疾", "疾险", "客户"]


@pytest.mark.skipif(analysis.rjieba is None, reason="rjieba (jieba-rs) is not installed")
def test_jieba_rs_segments_like_jieba():
    rust = analysis._load(analysis._RustSegmenter(), analysis.USER_DICTIONARY)
    python = analysis._load(analysis._JiebaSegmenter(), analysis.USER_DICTIONARY)
    for run in ["推荐重疾险给客户", "犹豫期内退保是不扣费用的", "确保费用额外考核保险代理人", "交交强险是法律规定的"]:
        assert rust.cut(run) == python.cut(run)
