"""Flask-WTF forms: the shape of page input. Services check its meaning."""
import functools
import re

from babel import support
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (BooleanField, HiddenField, IntegerField, PasswordField, RadioField, SelectField,
                     SelectMultipleField, StringField, TextAreaField)
from wtforms.fields.choices import SelectChoice
from wtforms.i18n import messages_path
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from .models.base import MAX_ID
from .services.entries import EntryInput
from .services.review import ReviewInput

# Explicit messages: WTForms' built-in ones are not in kmwiki's catalog.
REQUIRED = _l("This field is required.")
UNSTORABLE = _l("Contains a character that cannot be saved (a NUL byte or a broken character). Remove it and "
                "send again.")
NO_SUCH_REVISION = _l("This revision number does not exist.")
# PostgreSQL text holds no NUL, and a lone surrogate (legal in a JSON escape) is no UTF-8 at all.
UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")


def unstorable(value):
    """True when a submitted value, or any string inside it, holds a character no database column can take."""
    if isinstance(value, str):
        return UNSTORABLE_RE.search(value) is not None
    if isinstance(value, dict):
        return any(unstorable(k) or unstorable(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(unstorable(v) for v in value)
    return False


class KmwikiForm(FlaskForm):
    """A FlaskForm whose WTForms messages come from a catalog read once per language: Flask-WTF
    reads it from disk again on every request (1-2 ms of each page with a form)."""

    class Meta:
        def get_translations(self, form):
            return wtforms_translations(str(get_locale()))

    def validate(self, extra_validators=None):
        """The fields' own validators, and for every field: nothing a database cannot store."""
        valid = super().validate(extra_validators)
        for field in self:
            if unstorable(field.data):
                field.errors = [*field.errors, UNSTORABLE]
                valid = False
        return valid


@functools.lru_cache(maxsize=8)
def wtforms_translations(locale):
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


def whole_number(text):
    """A query-string or form integer no larger than any id, for `args.get(name, default, type=whole_number)`:
    anything else (ValueError) gives the default, as a word would."""
    number = int(text)
    if abs(number) > MAX_ID:
        raise ValueError(f"{text!r} is out of range")
    return number


def revision_number(form, field):
    """A base revision no larger than any id; a word instead of a number has WTForms' own message."""
    if field.data is not None and not 0 <= field.data <= MAX_ID:
        raise ValidationError(NO_SUCH_REVISION)


def as_choices(pairs):
    """(value, label) pairs as WTForms choice objects (bare tuples are deprecated)."""
    return [SelectChoice(value, label) for value, label in pairs]


def max_length(n):
    return Length(max=n, message=_l("At most %(n)s characters.", n=n))


class LoginForm(KmwikiForm):
    username = StringField(_l("Username"), validators=[DataRequired(REQUIRED), max_length(40)])
    password = PasswordField(_l("Password"), validators=[DataRequired(REQUIRED), max_length(200)])
    remember = BooleanField(_l("Keep me signed in on this device"))
    next = HiddenField()


class PasswordForm(KmwikiForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(REQUIRED)])
    new_password = PasswordField(_l("New password"), validators=[
        DataRequired(REQUIRED), Length(min=8, max=200, message=_l("Use 8 to 200 characters."))])
    confirm = PasswordField(_l("Repeat new password"),
                            validators=[DataRequired(REQUIRED), EqualTo("new_password", _l("The passwords differ."))])


class LanguageForm(KmwikiForm):
    lang = HiddenField(validators=[DataRequired(REQUIRED)])
    next = HiddenField()


class CheckboxListField(SelectMultipleField):
    """A multiple choice shown as a list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EntryForm(KmwikiForm):
    """Create or edit an entry. Field names match the JSON API."""

    title = StringField(_l("Title"), validators=[DataRequired(REQUIRED), max_length(200)])
    # Choices are checked by the entries service, which knows the category data and says why.
    kind = SelectField(_l("Kind"), validators=[DataRequired(REQUIRED)], validate_choice=False)
    products = CheckboxListField(_l("Product lines"), validators=[Optional()], validate_choice=False)
    segments = CheckboxListField(_l("Customer segments"), validators=[Optional()], validate_choice=False)
    tags = StringField(_l("Tags"), validators=[max_length(500)],
                       description=_l("Separate tags with commas, e.g. 保费, 健康告知"))
    body = TextAreaField(_l("Body (Markdown)"), validators=[DataRequired(REQUIRED)])
    note = StringField(_l("Change note"), validators=[max_length(200)],
                       description=_l("Optional: what you changed and why"))
    base_revision = IntegerField(validators=[Optional(), revision_number])

    def set_choices(self, kinds, products, segments, locale):
        """Fill the pickers from the category data."""
        # An explicit prompt: a silently preselected first kind would misfile entries.
        self.kind.choices = as_choices([("", _l("Choose a kind…"))] + [(c.slug, c.name(locale)) for c in kinds])
        self.products.choices = as_choices((c.slug, c.name(locale)) for c in products)
        self.segments.choices = as_choices((c.slug, c.name(locale)) for c in segments)

    def fill_from(self, revision):
        """Start an edit from a revision's content."""
        self.title.data, self.body.data, self.kind.data = revision.title, revision.body, revision.kind_slug
        self.products.data, self.segments.data = list(revision.products), list(revision.segments)
        self.tags.data = ", ".join(revision.tags)
        self.base_revision.data = revision.number

    def rebase(self, number):
        """Make the next save build on `number` (after the editor has seen a conflicting change)."""
        self.base_revision.data = number
        self.base_revision.raw_data = [str(number)]  # the rendered field prefers what was posted

    def to_input(self):
        """The typed input the entries service takes."""
        return EntryInput(title=self.title.data or "", body=self.body.data or "", kind=self.kind.data or "",
                          products=self.products.data or [], segments=self.segments.data or [],
                          tags=self.tags.data or "", note=self.note.data or "")

    def add_errors(self, fields):
        """Show a service's field errors next to the fields."""
        for name, messages in fields.items():
            target = getattr(self, name, None)
            if target is not None:
                target.errors = list(target.errors) + [str(m) for m in messages]


class ConfirmForm(KmwikiForm):
    """A button-only form (revert, logout): carries the CSRF token and the base revision."""

    base_revision = IntegerField(validators=[Optional(), revision_number])


ROLE_LABELS = {
    "agent": _l("Agent"),
    "reviewer": _l("Reviewer"),
    "leader": _l("Leader"),
    "admin": _l("Administrator"),
}
NO_TEAM = 0


class UserForm(KmwikiForm):
    """An administrator edits a user's name, roles, team and active flag."""

    display_name = StringField(_l("Display name"), validators=[DataRequired(REQUIRED), max_length(80)])
    roles = CheckboxListField(_l("Roles"), choices=as_choices(ROLE_LABELS.items()))
    team = SelectField(_l("Team"), coerce=int)
    active = BooleanField(_l("Active: may sign in"))

    def set_teams(self, teams):
        self.team.choices = as_choices([(NO_TEAM, _l("No team"))] + [(t.id, f"{t.branch.name} · {t.name}") for t in teams])


class NewUserForm(UserForm):
    """An administrator creates an account."""

    username = StringField(_l("Username"), validators=[DataRequired(REQUIRED), max_length(40)],
                           description=_l("Lower-case letters, digits, _ . - (e.g. the staff ID or pinyin)"))
    password = PasswordField(_l("Initial password"), validators=[DataRequired(REQUIRED), max_length(200)])


class ResetPasswordForm(KmwikiForm):
    new_password = PasswordField(_l("New password"), validators=[DataRequired(REQUIRED), max_length(200)])


class TeamForm(KmwikiForm):
    branch = StringField(_l("Branch"), validators=[DataRequired(REQUIRED), max_length(80)])
    name = StringField(_l("Team"), validators=[DataRequired(REQUIRED), max_length(80)])


SCORE_CHOICES = [(str(n), str(n)) for n in range(1, 6)]


class ReviewForm(KmwikiForm):
    """The reviewer's verdict. One `score_<criterion>` radio group per rubric criterion is added by
    `review_form`, because the rubric is data."""

    compliance = SelectField(_l("Compliance check"), validate_choice=False,
                             choices=as_choices([("pass", _l("Passed")), ("fail", _l("Failed"))]))
    comment = TextAreaField(_l("Comment for the author"), validators=[max_length(2000)])
    decision = HiddenField()

    def to_input(self, rubric):
        """The typed input the review service takes."""
        scores = {c.slug: as_score(getattr(self, f"score_{c.slug}").data) for c in rubric}
        compliance = {"pass": True, "fail": False}.get(self.compliance.data)  # anything else: the service says so
        return ReviewInput(scores=scores, compliance=compliance, decision=self.decision.data or "",
                           comment=self.comment.data or "")


def as_score(value):
    """A posted score as an int; 0 (refused by the service) when it is not a whole number."""
    return int(value) if str(value or "").isdigit() else 0


def review_form(rubric, locale, formdata=None):
    """A ReviewForm with a radio group per active criterion."""
    fields = {f"score_{c.slug}": RadioField(c.name(locale), choices=as_choices(SCORE_CHOICES),
                                            description=c.description(locale), validate_choice=False)
              for c in rubric}
    form_class = type("RubricReviewForm", (ReviewForm,), fields)
    return form_class(formdata=formdata) if formdata is not None else form_class()


class CommentForm(KmwikiForm):
    """A comment on an entry; the reading service says when it is empty or too long."""

    body = TextAreaField(_l("Add a comment"))


class RetractForm(KmwikiForm):
    reason = TextAreaField(_l("Reason for retracting"), validators=[DataRequired(REQUIRED), max_length(500)])


class RuleValueForm(KmwikiForm):
    value = IntegerField(_l("Value"), validators=[InputRequired(REQUIRED), NumberRange(0, 10_000)])


class ComplianceRuleForm(KmwikiForm):
    phrase = StringField(_l("Phrase"), validators=[DataRequired(REQUIRED), max_length(80)])
    action = SelectField(_l("Action"),
                         choices=as_choices([("block", _l("Block adoption")), ("flag", _l("Flag for the reviewer"))]))
    reason = StringField(_l("Why"), validators=[max_length(200)])
    active = BooleanField(_l("Active"), default=True)


class CriterionForm(KmwikiForm):
    slug = StringField(_l("Key"), validators=[DataRequired(REQUIRED), max_length(40)])
    name_zh = StringField(_l("Chinese name"), validators=[DataRequired(REQUIRED), max_length(80)])
    name_en = StringField(_l("English name"), validators=[DataRequired(REQUIRED), max_length(80)])
    description_zh = StringField(_l("Chinese description"), validators=[max_length(200)])
    description_en = StringField(_l("English description"), validators=[max_length(200)])
    active = BooleanField(_l("Active"), default=True)


class SynonymGroupForm(KmwikiForm):
    """An administrator adds or changes a synonym group; the synonyms service checks the words."""

    words = StringField(_l("Words that mean the same"), validators=[DataRequired(REQUIRED), max_length(400)],
                        description=_l("Separate the words with commas, e.g. 保单贷款, 保单借款, 质押贷款. At least two "
                                       "words, each at most 40 characters."))
