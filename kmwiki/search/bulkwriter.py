"""Building a whole Whoosh index fast: postings gathered in memory, shares built in parallel processes.

Whoosh's SegmentWriter sorts postings through pickled runs on disk and, for every posting, reads
the document's field length back from the file it has just written. At 100,000 entries that made
a rebuild take 10-14 minutes, most of it in those two places (bench/README.md). BulkSegmentWriter
keeps each term's postings in compact arrays, in document order as documents arrive, so one sort of
the terms replaces the external merge, and reads the field lengths once per field.

`build` splits the documents into shares: the calling process writes one share with the index's
write lock held, forked processes write the others as segments of their own, and the commit makes
exactly those segments the index (the old ones are dropped), so readers see the old index until
the new one is complete. A failing or killed process cancels the whole build.
"""
import multiprocessing
import queue
import traceback
from array import array

from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield
from whoosh.util.numeric import byte_to_length
from whoosh.writing import SegmentWriter

RESULT_WAIT = 1.0  # seconds between checks that the processes still live


class MemoryPool:
    """Postings by (field, term bytes), each list in document order."""

    def __init__(self):
        self.terms = {}
        self.fieldnames = set()
        self._values = {}  # the few distinct value bytes (encoded frequencies), each stored once

    def add(self, item):
        """Take one (fieldname, term bytes, docnum, weight, value bytes) posting."""
        fieldname, tbytes, docnum, weight, vbytes = item
        postings = self.terms.get((fieldname, tbytes))
        if postings is None:
            postings = self.terms[fieldname, tbytes] = (array("l"), array("d"), [])
            self.fieldnames.add(fieldname)
        postings[0].append(docnum)
        postings[1].append(weight)
        postings[2].append(self._values.setdefault(vbytes, vbytes))

    def iter_postings(self):
        """Every posting, sorted by field, term and document, as Whoosh's field writer wants them."""
        for key in sorted(self.terms):
            fieldname, tbytes = key
            docnums, weights, values = self.terms[key]
            for docnum, weight, vbytes in zip(docnums, weights, values):
                yield fieldname, tbytes, docnum, weight, vbytes

    def cleanup(self):
        self.terms.clear()


class FieldLengths:
    """The per-document field lengths of a segment just written, read once per field."""

    def __init__(self, perdoc, schema):
        self._lengths = {name: field_lengths(perdoc, name) for name in schema.scorable_names()}

    def doc_field_length(self, docnum, fieldname, default=0):
        lengths = self._lengths.get(fieldname)
        return lengths[docnum] if lengths else default


def field_lengths(perdoc, name):
    """A field's length per document of a segment (Whoosh stores each as one byte), or None when
    no document has text in the field."""
    if not perdoc.has_column(_lenfield(name)):
        return None
    return [byte_to_length(b) for b in perdoc.column_reader(_lenfield(name), LENGTHS_COLUMN)]


class BulkSegmentWriter(SegmentWriter):
    """A SegmentWriter for many documents at once: same segment files, built without temporary runs."""

    def __init__(self, ix, **kwargs):
        super().__init__(ix, compound=False, **kwargs)  # see search/index.py writer()
        self.pool = MemoryPool()

    def _flush_segment(self):
        self.perdocwriter.close()
        perdoc = self.per_document_reader()
        try:
            lengths = FieldLengths(perdoc, self.schema)
        finally:
            perdoc.close()
        self.fieldwriter.add_postings(self.schema, lengths, self.pool.iter_postings())
        self.fieldwriter.close()


def build(ix, shares, fill, progress=None, timeout=60.0, after_fork=None):
    """Replace the index with documents written by fill(writer, share, progress) for each share.

    The first share is written here, the others in forked processes, which first call
    after_fork() (to drop database connections inherited from this process, say). Returns when
    the new index is committed; raises (leaving the old index as it was) when any share fails.
    """
    owner = BulkSegmentWriter(ix, timeout=timeout, delay=0.05)  # holds the write lock throughout
    context = multiprocessing.get_context("fork")
    messages = context.Queue()
    workers = [context.Process(target=_worker, args=(ix, share, fill, messages, after_fork), daemon=True)
               for share in shares[1:]]
    segments = []

    def report(count):  # this process's progress, and whatever the workers said meanwhile
        if progress:
            progress(count)
        _take_waiting(messages, segments, progress)

    try:
        for worker in workers:
            worker.start()
        fill(owner, shares[0], report)
        _collect(workers, messages, segments, progress)
    except BaseException:
        for worker in workers:
            worker.kill()
        owner.cancel()
        raise
    # The merge policy decides which existing segments the new index keeps: the workers' only.
    owner.commit(mergetype=lambda writer, existing: segments)


def _take(message, segments, progress):
    """Act on one worker message: progress, a finished segment, or a failure (raised)."""
    kind, value = message
    if kind == "progress":
        if progress:
            progress(value)
    elif kind == "segment":
        segments.append(value)
    else:
        raise RuntimeError(f"index build process failed:\n{value}")


def _take_waiting(messages, segments, progress):
    while True:
        try:
            message = messages.get_nowait()
        except queue.Empty:
            return
        _take(message, segments, progress)


def _collect(workers, messages, segments, progress):
    """Wait for every worker's segment, passing on progress; raise when one fails or dies."""
    while len(segments) < len(workers):
        try:
            message = messages.get(timeout=RESULT_WAIT)
        except queue.Empty:
            dead = [w for w in workers if w.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"index build process {dead[0].pid} died (exit code {dead[0].exitcode})")
            continue
        _take(message, segments, progress)
    for worker in workers:
        worker.join()


def _worker(ix, share, fill, messages, after_fork):
    """Write one share as a segment of its own; the parent holds the lock and commits."""
    try:
        if after_fork:
            after_fork()
        writer = BulkSegmentWriter(ix, _lk=False)
        fill(writer, share, lambda count: messages.put(("progress", count)))
        # Finished but not committed: the parent adds the segment to the index (as Whoosh's MpWriter does).
        messages.put(("segment", writer._finalize_segment()))  # noqa: SLF001
    except BaseException:
        messages.put(("error", traceback.format_exc()))
        raise
    finally:
        messages.close()
        messages.join_thread()  # everything put is sent before the process ends
