"""Text analysis for the search index: Chinese segmented with jieba, English lower-cased and stemmed.

`analyzer()` is the Whoosh analyzer for indexed text fields (title, body, tags) and `query_terms()`
turns a typed question into the distinct tokens to OR together. Both run the same analysis:

- text is cut into runs of Chinese characters and runs of ASCII letters/digits; everything else
  (punctuation, symbols, spaces) only separates tokens. Full-width letters and digits count as ASCII.
- a Chinese run is segmented by a dedicated `jieba.Tokenizer` (never jieba's global one) that knows
  the insurance terms shipped in insurance_words.txt and, when set, an admin-editable dictionary
  (`set_extra_dictionary`), so 重疾险 or 现金价值 stay whole;
- sub-words are extra tokens at the same position as their word: every character bigram inside a
  word of three or more characters, and the bigram of two neighbouring one-character words. So
  疾险 is found inside 重疾险 and 核保 inside 人工核保, and a query of characters jieba cannot join
  (疾险 → 疾 / 险) still produces the bigram that was indexed. bench/search_quality.py measured
  this against jieba's search mode, bigrams over whole runs and no sub-words (bench/README.md);
- ASCII words are lower-cased; purely alphabetic words of four letters or more are stemmed with
  Porter2 (claims → claim, useful → use, never us); shorter words, numbers and Chinese are kept;
- very common function words (的, 了, 吗, 怎么, 什么 …) are dropped when indexing and querying,
  and kept, marked stopped, when Whoosh re-analyzes text for highlighting (removestops=False).

The segmenter is built lazily under a lock on first use (about a second: jieba's dictionary) and
is then shared read-only by every thread; the extra dictionary file is re-checked at most every
few seconds, so an admin's edit reaches every worker process without a restart. Words added later
only segment newly indexed text: rebuild the index after changing a dictionary.
"""
import functools
import importlib
import logging
import os
import re
import threading
import time
from pathlib import Path

from whoosh.analysis import Token, Tokenizer
from whoosh.lang.porter2 import stem as porter2_stem

try:  # optional: jieba-rs segments like jieba without its HMM, ~9x faster (bench/README.md)
    import rjieba
except ImportError:
    rjieba = None

log = logging.getLogger(__name__)

USER_DICTIONARY = Path(__file__).with_name("insurance_words.txt")
EXTRA_RECHECK_SECONDS = 5.0
MIN_STEM_LENGTH = 4  # "ios", "sms", "bus", "has" stay as typed
SUBWORD_MODES = ("bigrams", "inword", "search", "none")
DEFAULT_SUBWORDS = "bigrams"

# Function words and question words: they carry no topic, and in an OR query their long posting
# lists cost time. Negations (不, 没有, 未) and quantities stay: they change what a question asks.
STOP_WORDS = frozenset("""
的 地 得 了 着 过 吗 呢 吧 啊 呀 哦 嘛 么 啦 哈 哇 之 其 而 且 与 及 和 跟 或 或者 以及 并 并且 就 都 也 还 又
再 才 只 很 太 更 最 是 在 有 为 把 对 于 从 向 给 让 由 被 这 那 此 该 个 些 这个 那个 这些 那些 这样 那样
这种 那种 我 你 他 她 它 我们 你们 他们 她们 自己 您 咱们 怎么 怎样 怎么样 怎么办 如何 什么 为什么 为何
哪 哪些 哪个 哪里 哪儿 多少 几 是否 是不是 有没有 可以 可不可以 能 能否 能不能 会 会不会 要 想 请问 请
一下 一个 一些 一般 比较 应该 需要 还是 然后 但是 可是 因为 所以 如果 的话 就是 已经 现在 谢谢 你好 您好
a an and are as at be but by can do does for from how i if in is it its of on or that the this to
was what when where which who why will with you your
""".split())

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_PIECE = re.compile(rf"([{_CJK}]+)|([A-Za-z0-9]+(?:\.[0-9]+)*)")
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_CJK_ONLY = re.compile(rf"[{_CJK}]+")

_lock = threading.Lock()
_base = None  # jieba's dictionary + the shipped insurance words; never changed once built
_current = None  # _base, or a copy of it extended with the extra dictionary
_extra_path = None
_extra_stamp = None
_next_check = 0.0


def set_extra_dictionary(path):
    """Use the words in the file at `path` (if it exists; same format as insurance_words.txt) too."""
    global _extra_path, _next_check
    with _lock:
        _extra_path = Path(path) if path else None
        _next_check = 0.0


def warm_up():
    """Load the dictionaries now rather than on the first indexed or searched text."""
    _segmenter()


def analyzer(subwords=DEFAULT_SUBWORDS, hmm=False):
    """Return the Whoosh analyzer for indexed text fields (title, body, tags)."""
    return ChineseEnglishTokenizer(subwords=subwords, hmm=hmm)


def query_terms(text):
    """Return the distinct content tokens of a typed question, in order, for an OR query."""
    return _DEFAULT.terms(text)


def word_terms(text):
    """Return the distinct content words of `text` without sub-word bigrams (for synonyms)."""
    return _WORDS.terms(text)


def read_dictionary(path):
    """Yield (word, frequency or None) for each usable line of a jieba user-dictionary file."""
    with open(path, encoding="utf-8-sig") as lines:
        for number, line in enumerate(lines, 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            word, freq = fields[0], fields[1] if len(fields) > 1 else None
            if not _CJK_ONLY.fullmatch(word) or (freq is not None and not freq.isdigit()):
                log.warning("%s:%d: ignored (need Chinese WORD [FREQUENCY] [TAG]): %r", path, number, line.strip())
                continue
            yield word, None if freq is None else int(freq)


class ChineseEnglishTokenizer(Tokenizer):
    """Whoosh tokenizer: jieba words plus sub-word bigrams for Chinese, stemmed words for English."""

    def __init__(self, subwords=DEFAULT_SUBWORDS, hmm=False):
        if subwords not in SUBWORD_MODES:
            raise ValueError(f"subwords must be one of {SUBWORD_MODES}")
        self.subwords = subwords
        self.hmm = hmm

    def terms(self, text):
        """Return the distinct non-stop tokens of `text`, in order of appearance."""
        return list(dict.fromkeys(item[0] for item in self.tokens(text)))

    def tokens(self, text, removestops=True):
        """Yield (text, position, startchar, endchar, stopped) for each token of `text`."""
        text = text.translate(_FULL_WIDTH)
        segmenter = _segmenter()
        subwords, hmm = self.subwords, self.hmm
        pos = -1
        for match in _PIECE.finditer(text):
            run, start = match.group(1), match.start()
            if run is None:
                pos += 1
                word = _english(match.group(2).lower())
                stopped = word in STOP_WORDS
                if not (stopped and removestops):
                    yield word, pos, start, match.end(), stopped
                continue
            words = segmenter.cut(run, hmm)
            if subwords == "bigrams":
                # A bigram touching a function word (的保, 贵怎) is noise: mark the characters of stop words.
                stopped_chars = [word in STOP_WORDS for word in words for _ in word]
            last = len(words) - 1
            for i, word in enumerate(words):
                pos += 1
                end = start + len(word)
                stopped = word in STOP_WORDS
                if not (stopped and removestops):
                    yield word, pos, start, end, stopped
                if subwords == "bigrams":
                    offset = start - match.start()
                    for k in range(offset, min(offset + len(word), len(run) - 1)):
                        if not (stopped_chars[k] or stopped_chars[k + 1]) and run[k:k + 2] != word:
                            yield run[k:k + 2], pos, start + k - offset, start + k - offset + 2, False
                elif stopped:
                    pass
                elif subwords == "inword":
                    if len(word) >= 3:
                        for k in range(len(word) - 1):
                            yield word[k:k + 2], pos, start + k, start + k + 2, False
                    elif len(word) == 1 and i < last and len(words[i + 1]) == 1 and words[i + 1] not in STOP_WORDS:
                        yield word + words[i + 1], pos, start, start + 2, False
                elif subwords == "search" and len(word) >= 3:
                    for n in (2, 3) if len(word) > 3 else (2,):
                        for k in range(len(word) - n + 1):
                            gram = word[k:k + n]
                            if segmenter.is_word(gram):
                                yield gram, pos, start + k, start + k + n, False
                start = end

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, tokenize=True, mode="", **kwargs):
        """Yield Whoosh tokens for `value` (one reused Token, as Whoosh's own tokenizers do)."""
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            token.original = token.text = value.translate(_FULL_WIDTH).lower()
            token.boost, token.stopped = 1.0, False
            if positions:
                token.pos = start_pos
            if chars:
                token.startchar, token.endchar = start_char, start_char + len(value)
            yield token
            return
        for text, pos, start, end, stopped in self.tokens(value, removestops):
            token.text = text
            token.boost, token.stopped = 1.0, stopped
            if keeporiginal:
                token.original = value[start:end]
            if positions:
                token.pos = start_pos + pos
            if chars:
                token.startchar, token.endchar = start_char + start, start_char + end
            yield token


_DEFAULT = ChineseEnglishTokenizer()
_WORDS = ChineseEnglishTokenizer(subwords="none")


@functools.lru_cache(maxsize=65536)
def _english(word):
    """Stem a lower-cased ASCII word gently: alphabetic words of four letters or more only."""
    if len(word) >= MIN_STEM_LENGTH and word.isalpha():
        return porter2_stem(word)
    return word


class _JiebaSegmenter:
    """jieba's dictionary in a dedicated jieba.Tokenizer; words are added before it is shared."""

    def __init__(self, base=None):
        # Imported here, on first use: with jieba-rs installed (the usual case) the pure-Python
        # jieba and the pkg_resources it loads would only cost every worker ~20 MB.
        jieba = importlib.import_module("jieba")
        self.jieba = jieba.Tokenizer()
        if base is None:
            if jieba.default_logger.level <= logging.DEBUG:
                jieba.setLogLevel(logging.INFO)  # jieba reports every dictionary load on stderr
            self.jieba.initialize()
        else:  # a copy of base's dictionary costs ~30 ms, a fresh load ~700 ms
            self.jieba.FREQ, self.jieba.total = dict(base.jieba.FREQ), base.jieba.total
            self.jieba.initialized = True
        # The DAG cutters take a run of Chinese characters as is: jieba.Tokenizer.cut() would only
        # split it again with its own block regex, which a pure Chinese run passes whole.
        self._cut_hmm = self.jieba._Tokenizer__cut_DAG
        self._cut_plain = self.jieba._Tokenizer__cut_DAG_NO_HMM

    def add_word(self, word, freq):
        """Add or re-weigh a word (None: just frequent enough to stay whole; 0: never a word)."""
        if freq == 0:
            self.jieba.FREQ[word] = 0  # jieba's del_word would also change its global HMM state
        else:
            self.jieba.add_word(word, freq)

    def cut(self, run, hmm=False):
        """Return the words of a run of Chinese characters."""
        return list((self._cut_hmm if hmm else self._cut_plain)(run))

    def is_word(self, text):
        """Tell whether `text` is a word of the dictionary."""
        return bool(self.jieba.FREQ.get(text))

    @classmethod
    def base(cls):
        """A segmenter for the shipped dictionary."""
        return cls()


class _RustSegmenter:
    """The same segmentation by jieba-rs (package rjieba), about ten times faster."""

    def __init__(self, jieba=None):
        self.jieba = jieba or rjieba.Jieba()

    @classmethod
    def base(cls):
        """The segmenter on the dictionary rjieba loads when imported (its module functions), not
        a second copy of it: each costs a worker ~25 MB."""
        return cls(rjieba)

    def add_word(self, word, freq):
        """Add or re-weigh a word (None: just frequent enough to stay whole; 0: never a word)."""
        self.jieba.add_word(word, freq, None)

    def cut(self, run, hmm=False):
        """Return the words of a run of Chinese characters."""
        return self.jieba.cut(run, hmm)

    def is_word(self, text):
        """Tell whether `text` is a word of the dictionary."""
        return self.jieba.has_word(text)


BACKEND = _RustSegmenter if rjieba is not None else _JiebaSegmenter  # the class _segmenter() builds


def _segmenter():
    """Return the current segmenter, building it on first use and after the extra file changed."""
    global _base, _current, _extra_stamp, _next_check
    current = _current
    if current is not None and time.monotonic() < _next_check:
        return current
    with _lock:
        if _base is None:
            _base = _load(BACKEND.base(), USER_DICTIONARY)
        stamp = _stamp(_extra_path)
        if _current is None or stamp != _extra_stamp:
            _current = _base if stamp[1] is None else _load(_copy(_base), _extra_path)
            _extra_stamp = stamp
        _next_check = time.monotonic() + EXTRA_RECHECK_SECONDS
        return _current


def _copy(base):
    """Return a new segmenter holding base's dictionary, ready for more words."""
    if isinstance(base, _JiebaSegmenter):
        return _JiebaSegmenter(base)
    return _load(type(base)(), USER_DICTIONARY)


def _load(segmenter, path):
    """Add the words of a dictionary file to segmenter (a file that cannot be read is skipped)."""
    try:
        words = list(read_dictionary(path))
    except (OSError, UnicodeDecodeError) as error:
        log.warning("search dictionary %s not loaded: %s", path, error)
        words = []
    for word, freq in words:
        segmenter.add_word(word, freq)
    return segmenter


def _stamp(path):
    """Identify the extra dictionary's version: (path, mtime in ns or None, size)."""
    if path is None:
        return (None, None, None)
    try:
        status = os.stat(path)
    except OSError:
        return (str(path), None, None)
    return (str(path), status.st_mtime_ns, status.st_size)
