"""gunicorn settings (kmwiki/serving.py): a worker fills its caches before its first request."""
import gc
from types import SimpleNamespace

import pytest

from kmwiki import serving
from kmwiki.search import index, ranking
from kmwiki.services import ledger_sums
from kmwiki.services.periods import Period


@pytest.mark.search_index
def test_a_worker_warms_its_caches_before_serving(app, make_user, make_entry):
    alice = make_user("alice")
    make_entry(alice, title="预热的条目", status="adopted")
    ranking._segments.clear()  # noqa: SLF001 — as in a fresh process
    app.extensions.pop(ledger_sums.CACHE_KEY, None)
    try:
        serving.post_worker_init(SimpleNamespace(wsgi=app))
        assert gc.get_freeze_count() > 0  # what the warm-up made is left out of collections
    finally:
        gc.unfreeze()
    with app.app_context():
        segments = [leaf.reader().segment().segment_id() for leaf, _ in index.searcher().leaf_searchers()]
    assert segments and set(segments) <= set(ranking._segments)  # noqa: SLF001
    assert len(app.extensions[ledger_sums.CACHE_KEY]) == len(Period)
