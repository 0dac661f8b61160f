"""Guards run on every save and at review: personal data, and the compliance lexicon (DESIGN §3)."""
import re
from dataclasses import asdict, dataclass

from sqlalchemy import select

from ..extensions import db
from ..models import ComplianceRule, RuleAction
from . import activity

# Seed lexicon: explicit mis-selling promises and rebates block adoption; pressure tactics are flagged.
DEFAULT_RULES = [
    ("保本", RuleAction.BLOCK, "不得承诺保本"),
    ("稳赚", RuleAction.BLOCK, "不得承诺收益"),
    ("保证收益", RuleAction.BLOCK, "不得承诺收益（分红、万能结算利率均不保证）"),
    ("零风险", RuleAction.BLOCK, "不得宣称无风险"),
    ("无风险", RuleAction.BLOCK, "不得宣称无风险"),
    ("比存款划算", RuleAction.BLOCK, "不得与储蓄存款作误导性比较"),
    ("返佣", RuleAction.BLOCK, "返佣、退佣属违规给予保险合同以外的利益"),
    ("退佣", RuleAction.BLOCK, "返佣、退佣属违规给予保险合同以外的利益"),
    ("返现", RuleAction.BLOCK, "不得给予保险合同以外的利益"),
    ("高收益", RuleAction.FLAG, "收益表述须有依据并提示不确定性"),
    ("收益翻倍", RuleAction.BLOCK, "不得夸大收益"),
    ("代签名", RuleAction.BLOCK, "投保材料必须由本人签名"),
    ("保证理赔", RuleAction.BLOCK, "理赔以合同条款和核定结果为准"),
    ("100%理赔", RuleAction.BLOCK, "理赔以合同条款和核定结果为准"),
    ("马上停售", RuleAction.FLAG, "以停售制造紧迫感须有官方依据"),
    ("最后一天", RuleAction.FLAG, "避免制造虚假紧迫感"),
    ("不用健康告知", RuleAction.FLAG, "健康告知须如实进行"),
]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"
ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx])(?![0-9A-Za-z])")
# Mainland mobile numbers, optionally +86 and written in 3-4-4 groups.
MOBILE_RE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
# 16–19 digits, optionally in groups separated by spaces or dashes.
CARD_RE = re.compile(r"(?<![\dXx])(\d(?:[\s-]?\d){15,18})(?![\dXx])")  # never the digits of an ID ending in X


@dataclass
class Finding:
    """One thing a guard found; `value` is masked so the finding itself leaks nothing."""

    kind: str  # id_number, mobile, bank_card, or the rule action: block / flag
    value: str
    reason: str = ""


def valid_id_number(number):
    """Mainland resident ID (GB 11643): 17 digits, then a checksum digit or X."""
    total = sum(int(d) * w for d, w in zip(number[:17], ID_WEIGHTS))
    return ID_CHECK[total % 11] == number[17].upper()


def luhn_valid(digits):
    """The Luhn checksum bank cards carry."""
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(digits)):
        if position % 2:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return total % 10 == 0


def mask(value):
    """Keep the first 3 and last 2 characters: enough to find it, not enough to use it."""
    return value[:3] + "*" * max(len(value) - 5, 1) + value[-2:]


def personal_data(text):
    """ID numbers, mobile numbers and bank card numbers in a text."""
    findings, ids = [], set()
    for match in ID_RE.finditer(text):
        if valid_id_number(match.group(1)):
            ids.add(match.group(1))
            findings.append(Finding("id_number", mask(match.group(1))))
    for match in MOBILE_RE.finditer(text):
        findings.append(Finding("mobile", mask("".join(match.groups()))))
    for match in CARD_RE.finditer(text):
        digits = re.sub(r"\D", "", match.group(1))
        if digits not in ids and luhn_valid(digits) and not MOBILE_RE.fullmatch(match.group(1)):
            findings.append(Finding("bank_card", mask(digits)))
    return findings


def ensure_default_rules():
    """Insert the seed phrases that are missing; returns how many were added."""
    existing = set(db.session.scalars(select(ComplianceRule.phrase)))
    added = [ComplianceRule(phrase=p, action=a, reason=r) for p, a, r in DEFAULT_RULES if p not in existing]
    db.session.add_all(added)
    db.session.commit()
    return len(added)


def lexicon_hits(text):
    """The active compliance rules whose phrase appears in the text."""
    rules = db.session.scalars(select(ComplianceRule).where(ComplianceRule.active.is_(True))).all()
    return [Finding(rule.action, rule.phrase, rule.reason) for rule in rules if rule.phrase in text]


def inspect(title, body):
    """Everything the guards find in an entry's text, as plain data to store and show."""
    text = f"{title}\n{body}"
    return {"personal_data": [asdict(f) for f in personal_data(text)],
            "rules": [asdict(f) for f in lexicon_hits(text)]}


def blocking(findings):
    """The findings that make adoption impossible: any personal data, and block-level phrases."""
    return findings["personal_data"] + [r for r in findings["rules"] if r["kind"] == RuleAction.BLOCK]


def all_rules():
    """Every compliance rule, block-level first."""
    return db.session.scalars(select(ComplianceRule).order_by(ComplianceRule.action, ComplianceRule.phrase)).all()


def save_rule(phrase, action, reason, active, actor):
    """Add a phrase or change an existing one (matched by phrase); audited."""
    phrase = phrase.strip()
    rule = db.session.scalar(select(ComplianceRule).where(ComplianceRule.phrase == phrase))
    if rule is None:
        rule = ComplianceRule(phrase=phrase)
        db.session.add(rule)
    rule.action, rule.reason, rule.active = RuleAction(action), reason.strip(), active
    activity.audit(actor, "compliance_rule_saved", phrase=phrase, rule_action=action, active=active)
    db.session.commit()
    return rule
