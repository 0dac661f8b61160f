"""Display names of status values, shared by templates and by messages that services raise."""
from flask_babel import lazy_gettext as _l

from .models import Status

STATUS_LABELS = {
    Status.DRAFT: _l("Draft"),
    Status.PENDING: _l("Pending review"),
    Status.RETURNED: _l("Returned for revision"),
    Status.ADOPTED: _l("Adopted"),
    Status.REJECTED: _l("Rejected"),
    Status.RETRACTED: _l("Retracted"),
}


def status_label(status):
    """The translated name of an entry status."""
    return STATUS_LABELS.get(status, status)
