"""Display names of status values and point reasons, shared by templates, exports and service messages."""
from flask_babel import lazy_gettext as _l

from .models import Reason, Status

STATUS_LABELS = {
    Status.DRAFT: _l("Draft"),
    Status.PENDING: _l("Pending review"),
    Status.RETURNED: _l("Returned for revision"),
    Status.ADOPTED: _l("Adopted"),
    Status.REJECTED: _l("Rejected"),
    Status.RETRACTED: _l("Retracted"),
}

REASON_LABELS = {
    Reason.ENTRY_ADOPTED: _l("Entry adopted"),
    Reason.EDIT_ADOPTED: _l("Edit adopted"),
    Reason.REVIEW: _l("Review completed"),
    Reason.HELPFUL: _l("Marked helpful"),
    Reason.RETRACTION: _l("Adoption retracted"),
}


def status_label(status):
    """The translated name of an entry status."""
    return STATUS_LABELS.get(status, status)
