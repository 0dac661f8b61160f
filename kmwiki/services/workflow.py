"""The entry lifecycle as one table (DESIGN §3); every status change goes through `move`."""
from flask_babel import lazy_gettext as _l

from ..errors import Conflict
from ..labels import status_label
from ..models import Status

TRANSITIONS = {
    Status.DRAFT: {Status.PENDING},
    Status.PENDING: {Status.ADOPTED, Status.RETURNED, Status.REJECTED},
    Status.RETURNED: {Status.PENDING},
    # Submitting an edit of adopted knowledge puts it back under review; readers keep the adopted text.
    Status.ADOPTED: {Status.PENDING, Status.RETRACTED},
    Status.REJECTED: set(),
    Status.RETRACTED: set(),
}


class IllegalTransition(Conflict):
    """A status change the lifecycle does not allow."""

    code = "illegal_transition"


def move(entry, target):
    """Change the entry's status, or raise IllegalTransition."""
    if Status(target) not in TRANSITIONS[Status(entry.status)]:
        raise IllegalTransition(_l("An entry that is “%(current)s” cannot become “%(target)s”.",
                                   current=status_label(entry.status), target=status_label(target)),
                                current_status=str(entry.status))
    entry.status = Status(target)
