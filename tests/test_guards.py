"""The guards (DESIGN §3): personal data (ID numbers with checksum, mobile numbers, Luhn-valid bank
cards) and the compliance lexicon, as units and as they block or flag adoption over HTTP."""
import pytest
from sqlalchemy import select, update

from conftest import PASSWORD
from kmwiki.extensions import db
from kmwiki.models import ComplianceRule, Entry, Review, Status, User
from kmwiki.services import guards, review

API = "/api/v1"
VERDICT = {"scores": {"accuracy": 4, "usefulness": 4, "clarity": 4, "originality": 4}, "compliance": True,
           "decision": "adopt", "comment": ""}
# Valid mainland ID numbers (GB 11643 checksum), one ending in X.
VALID_IDS = ["11010519491231002X", "440524188001010014", "110101199003074477"]
# This one's first 17 digits also pass the Luhn check, so a careless card scan reports it twice.
ID_WITH_LUHN_VALID_DIGITS = "11010519850207048X"
# Its 18 digits are Luhn-valid too.
ID_THAT_IS_LUHN_VALID = "110101199003070054"


def luhn_complete(prefix):
    """Append the Luhn check digit to a digit string (computed here, independently of the app)."""
    total = 0
    for position, char in enumerate(reversed(prefix)):
        digit = int(char)
        if position % 2 == 0:
            digit = digit * 2 - 9 if digit * 2 > 9 else digit * 2
        total += digit
    return prefix + str((10 - total % 10) % 10)


def kinds(text):
    return [f.kind for f in guards.personal_data(text)]


# --- ID numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("number", VALID_IDS + [ID_WITH_LUHN_VALID_DIGITS, ID_THAT_IS_LUHN_VALID])
def test_valid_id_numbers_pass_the_checksum(number):
    assert guards.valid_id_number(number)
    assert guards.valid_id_number(number.lower())
    assert kinds(f"客户身份证号{number}，已核实") == ["id_number"]


@pytest.mark.parametrize("number", ["110105194912310022", "110105194912310020", "440524188001010015",
                                    "11010519491231002Y", "110101199003077777"])
def test_id_numbers_with_a_wrong_check_digit_are_not_reported_as_ids(number):
    assert not guards.valid_id_number(number)
    assert "id_number" not in kinds(f"身份证{number}")


def test_id_number_inside_a_longer_run_of_digits_or_letters_is_not_an_id():
    assert "id_number" not in kinds("流水号A11010519491231002X")
    assert "id_number" not in kinds("编号9110105194912310021")
    assert "id_number" not in kinds("编号1101051949123100217")


# --- mobile numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["客户电话13812345678", "电话：+8613812345678", "+86 138 1234 5678",
                                  "138-1234-5678", "138 1234 5678", "拨打 19912345678 即可", "86-15912345678"])
def test_mobile_numbers_are_found_in_their_common_spellings(text):
    assert kinds(text) == ["mobile"]


@pytest.mark.parametrize("text", ["订单号1381234567890", "编号913812345678", "12812345678", "1381234567",
                                  "座机010-12345678", "保额 138000 元"])
def test_digits_that_are_not_a_mobile_number_are_ignored(text):
    assert "mobile" not in kinds(text)


# --- bank cards -----------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [16, 17, 18, 19])
def test_luhn_valid_card_numbers_of_16_to_19_digits_are_found(length):
    number = luhn_complete("6222" + "0212345678901234"[: length - 5])
    assert len(number) == length and guards.luhn_valid(number)
    assert kinds(f"卡号{number}") == ["bank_card"]
    grouped = " ".join(number[i:i + 4] for i in range(0, length, 4))
    assert kinds(f"卡号 {grouped} 请转账") == ["bank_card"]
    assert kinds(f"卡号 {grouped.replace(' ', '-')}") == ["bank_card"]


def test_luhn_invalid_numbers_and_wrong_lengths_are_ignored():
    assert kinds("卡号4111111111111112") == []
    assert kinds("卡号4111 1111 1111 1112") == []
    valid = luhn_complete("622202123456789012")
    wrong = valid[:-1] + str((int(valid[-1]) + 1) % 10)
    assert not guards.luhn_valid(wrong) and kinds(f"卡号{wrong}") == []
    assert kinds("流水" + luhn_complete("1" * 14)) == []  # 15 digits
    assert kinds("流水" + luhn_complete("6" * 19)) == []  # 20 digits


def test_an_id_number_is_not_also_reported_as_a_bank_card():
    assert guards.luhn_valid(ID_THAT_IS_LUHN_VALID)
    assert kinds(f"身份证{ID_THAT_IS_LUHN_VALID}") == ["id_number"]
    assert guards.luhn_valid(ID_WITH_LUHN_VALID_DIGITS[:17])
    assert kinds(f"身份证{ID_WITH_LUHN_VALID_DIGITS}") == ["id_number"]


def test_every_kind_is_found_once_in_a_mixed_text():
    text = "客户王女士，身份证11010519491231002X，手机138-1234-5678，工资卡4111 1111 1111 1111。"
    assert sorted(kinds(text)) == ["bank_card", "id_number", "mobile"]


# --- masking --------------------------------------------------------------------------------------


def test_mask_keeps_only_the_first_three_and_last_two_characters():
    assert guards.mask("11010519491231002X") == "110" + "*" * 13 + "2X"
    assert guards.mask("13812345678") == "138******78"
    assert guards.mask("12345") == "123*45"


def test_findings_never_hold_the_full_number():
    text = "身份证11010519491231002X 手机 +86 138 1234 5678 卡号 4111-1111-1111-1111"
    findings = guards.personal_data(text)
    assert sorted((f.kind, f.value) for f in findings) == [
        ("bank_card", "411***********11"), ("id_number", "110*************2X"), ("mobile", "138******78")]
    for secret in ("11010519491231002X", "13812345678", "4111111111111111", "12345678"):
        assert all(secret not in f.value for f in findings)


# --- the compliance lexicon -----------------------------------------------------------------------


def test_lexicon_hits_carry_their_action_and_reason(app):
    with app.app_context():
        found = guards.inspect("年金险讲解", "这款产品保本，而且高收益，比存款划算。")
    assert found["personal_data"] == []
    assert sorted((r["kind"], r["value"]) for r in found["rules"]) == [
        ("block", "保本"), ("block", "比存款划算"), ("flag", "高收益")]
    assert all(r["reason"] for r in found["rules"])
    assert sorted(r["value"] for r in guards.blocking(found)) == ["保本", "比存款划算"]


def test_seeded_mis_selling_phrases_block(app):
    with app.app_context():
        for phrase in ("保本", "稳赚", "保证收益", "零风险", "比存款划算", "返佣"):
            found = guards.inspect("标题", f"话术里有{phrase}这种说法")
            assert [(r["kind"], r["value"]) for r in guards.blocking(found)] == [("block", phrase)], phrase


def test_the_lexicon_is_data(app):
    with app.app_context():
        db.session.add(ComplianceRule(phrase="包赔", action="block", reason="理赔以合同为准"))
        db.session.execute(update(ComplianceRule).where(ComplianceRule.phrase == "保本").values(active=False))
        db.session.execute(update(ComplianceRule).where(ComplianceRule.phrase == "高收益").values(action="block"))
        db.session.commit()
        found = guards.inspect("标题", "保本 高收益 包赔")
    assert sorted((r["kind"], r["value"]) for r in found["rules"]) == [("block", "包赔"), ("block", "高收益")]


def test_clean_text_has_no_findings(app):
    with app.app_context():
        assert guards.inspect("重疾险的等待期", "等待期一般为90天，出险前请如实健康告知。") == {
            "personal_data": [], "rules": []}


# --- over HTTP ------------------------------------------------------------------------------------


@pytest.fixture
def api(client):
    cache = {}

    def headers(username):
        if username not in cache:
            response = client.post(f"{API}/tokens", json={"username": username, "password": PASSWORD})
            cache[username] = {"Authorization": "Bearer " + response.get_json()["token"]}
        return cache[username]

    return headers


@pytest.fixture
def people(make_user):
    return {"alice": make_user("alice"), "rita": make_user("rita", roles=["reviewer", "agent"])}


@pytest.fixture
def pending(app, make_entry):
    """A client case by alice with this body, submitted for review."""

    def factory(author_id, body, title="王女士的重疾险案例"):
        entry_id = make_entry(author_id, title=title, body=body, kind="client_case")
        with app.app_context():
            review.submit(entry_id, db.session.get(User, author_id))
        return entry_id

    return factory


def status_of(app, entry_id):
    with app.app_context():
        return db.session.get(Entry, entry_id).status


def stored_reviews(app, entry_id):
    with app.app_context():
        return [(r.decision, r.findings) for r in db.session.scalars(
            select(Review).where(Review.entry_id == entry_id).order_by(Review.id))]


def test_personal_data_blocks_adoption_until_removed(app, people, pending, client, api, make_client):
    entry_id = pending(people["alice"], "客户王女士，身份证11010519491231002X，已投保重疾险。")
    masked = "110*************2X"

    # The author sees the finding on the entry page; the reviewer on the review page.
    alice = make_client()
    alice.login("alice")
    assert masked in alice.get(f"/entries/{entry_id}").get_data(as_text=True)
    rita = make_client()
    rita.login("rita")
    assert masked in rita.get(f"/review/{entry_id}").get_data(as_text=True)

    blocked = client.post(f"{API}/entries/{entry_id}/reviews", json=VERDICT, headers=api("rita"))
    assert blocked.status_code == 409
    error = blocked.get_json()["error"]
    assert error["code"] == "adoption_blocked" and masked in error["message"]
    assert [f["kind"] for f in error["findings"]["personal_data"]] == ["id_number"]
    page = rita.form_post(f"/review/{entry_id}", {"score_accuracy": "4", "score_usefulness": "4",
                                                   "score_clarity": "4", "score_originality": "4",
                                                   "compliance": "pass", "decision": "adopt", "comment": ""})
    assert page.status_code == 409 and masked in page.get_data(as_text=True)
    assert status_of(app, entry_id) == Status.PENDING and stored_reviews(app, entry_id) == []

    # Returned with the finding recorded on the review ...
    returned = client.post(f"{API}/entries/{entry_id}/reviews", headers=api("rita"),
                           json=dict(VERDICT, decision="revise", comment="请删除身份证号"))
    assert returned.status_code == 201
    assert returned.get_json()["review"]["findings"]["personal_data"] == [
        {"kind": "id_number", "value": masked, "reason": ""}]
    assert stored_reviews(app, entry_id) == [("revise", {"personal_data": [{"kind": "id_number", "value": masked,
                                                                              "reason": ""}], "rules": []})]
    # ... then redacted, resubmitted and adopted.
    client.put(f"{API}/entries/{entry_id}", headers=api("alice"),
               json={"title": "王女士的重疾险案例", "body": "客户王女士（证件号已隐去），已投保重疾险。",
                     "kind": "client_case", "base_revision": 1})
    assert client.post(f"{API}/entries/{entry_id}/submit", headers=api("alice")).status_code == 200
    adopted = client.post(f"{API}/entries/{entry_id}/reviews", json=VERDICT, headers=api("rita"))
    assert adopted.status_code == 201 and adopted.get_json()["status"] == "adopted"
    assert stored_reviews(app, entry_id)[-1] == ("adopt", {"personal_data": [], "rules": []})
    assert status_of(app, entry_id) == Status.ADOPTED


@pytest.mark.parametrize("body", ["客户手机 +86 138 1234 5678，晚上联系", "理赔款打到卡号 4111 1111 1111 1111"])
def test_mobile_and_card_numbers_block_adoption_too(app, people, pending, client, api, body):
    entry_id = pending(people["alice"], body)
    response = client.post(f"{API}/entries/{entry_id}/reviews", json=VERDICT, headers=api("rita"))
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "adoption_blocked"
    assert status_of(app, entry_id) == Status.PENDING


def test_block_phrases_prevent_adoption_through_the_api_and_the_page(app, people, pending, client, api,
                                                                       make_client):
    rita = make_client()
    rita.login("rita")
    for phrase in ("保本", "稳赚", "保证收益", "零风险", "比存款划算", "返佣"):
        entry_id = pending(people["alice"], f"跟客户说：这款产品{phrase}。", title=f"话术{phrase}")
        response = client.post(f"{API}/entries/{entry_id}/reviews", json=VERDICT, headers=api("rita"))
        assert response.status_code == 409, phrase
        error = response.get_json()["error"]
        assert error["code"] == "adoption_blocked" and phrase in error["message"], phrase
        page = rita.form_post(f"/review/{entry_id}", {"score_accuracy": "4", "score_usefulness": "4",
                                                       "score_clarity": "4", "score_originality": "4",
                                                       "compliance": "pass", "decision": "adopt"})
        assert page.status_code == 409 and phrase in page.get_data(as_text=True), phrase
        assert status_of(app, entry_id) == Status.PENDING and stored_reviews(app, entry_id) == []


def test_a_flagged_phrase_is_shown_but_can_be_adopted_and_is_recorded(app, people, pending, client, api,
                                                                       make_client):
    entry_id = pending(people["alice"], "这款分红险历史上属于高收益产品，但分红不保证。")
    alice = make_client()
    alice.login("alice")
    assert "高收益" in alice.get(f"/entries/{entry_id}").get_data(as_text=True)
    rita = make_client()
    rita.login("rita")
    review_page = rita.get(f"/review/{entry_id}").get_data(as_text=True)
    assert "收益表述须有依据并提示不确定性" in review_page  # the rule's reason, shown beside the text
    response = client.post(f"{API}/entries/{entry_id}/reviews", json=VERDICT, headers=api("rita"))
    assert response.status_code == 201 and response.get_json()["status"] == "adopted"
    [(decision, findings)] = stored_reviews(app, entry_id)
    assert decision == "adopt"
    assert findings["rules"] == [{"kind": "flag", "value": "高收益", "reason": "收益表述须有依据并提示不确定性"}]


def test_failed_compliance_check_cannot_adopt(app, people, pending, client, api, make_client):
    entry_id = pending(people["alice"], "一段干净的经验。")
    response = client.post(f"{API}/entries/{entry_id}/reviews", json=dict(VERDICT, compliance=False),
                           headers=api("rita"))
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "adoption_blocked"
    rita = make_client()
    rita.login("rita")
    page = rita.form_post(f"/review/{entry_id}", {"score_accuracy": "4", "score_usefulness": "4",
                                                   "score_clarity": "4", "score_originality": "4",
                                                   "compliance": "fail", "decision": "adopt"})
    assert page.status_code == 409
    assert status_of(app, entry_id) == Status.PENDING and stored_reviews(app, entry_id) == []
    # A failed check may still return the entry, and says so on the review.
    returned = client.post(f"{API}/entries/{entry_id}/reviews", headers=api("rita"),
                           json=dict(VERDICT, compliance=False, decision="revise", comment="话术不合规"))
    assert returned.status_code == 201 and returned.get_json()["review"]["compliance"] is False
    assert status_of(app, entry_id) == Status.RETURNED


def test_guards_run_on_save_and_the_author_is_warned(app, people, client, api, make_client):
    alice = make_client()
    alice.login("alice")
    response = alice.form_post("/entries/new", {"title": "加保案例", "kind": "client_case",
                                                "body": "客户手机13812345678，我说这款产品稳赚。"}, follow_redirects=True)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "138******78" in page and "稳赚" in page and "不得承诺收益" in page
