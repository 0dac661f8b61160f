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
import logging
import os
import re
import threading
import time
from pathlib import Path

import jieba
from whoosh.analysis import Token, Tokenizer
from whoosh.lang.porter2 import stem as porter2_stem

log = logging.getLogger(__name__)

USER_DICTIONARY = Path(__file__).with_name("insurance_words.txt")
EXTRA_RECHECK_SECONDS = 5.0
MIN_STEM_LENGTH = 4  # "ios", "sms", "bus", "has" stay as typed
SUBWORD_MODES = ("bigram", "search", "run", "none")
DEFAULT_SUBWORDS = "bigram"

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


def analyzer(subwords=DEFAULT_SUBWORDS, hmm=True):
    """Return the Whoosh analyzer for indexed text fields (title, body, tags)."""
    return ChineseEnglishTokenizer(subwords=subwords, hmm=hmm)


def query_terms(text):
    """Return the distinct content tokens of a typed question, in order, for an OR query."""
    return _DEFAULT.terms(text)


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

    def __init__(self, subwords=DEFAULT_SUBWORDS, hmm=True):
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
            last = len(words) - 1
            for i, word in enumerate(words):
                pos += 1
                end = start + len(word)
                stopped = word in STOP_WORDS
                if not (stopped and removestops):
                    yield word, pos, start, end, stopped
                if stopped:
                    pass
                elif subwords == "bigram":
                    if len(word) >= 3:
                        for k in range(len(word) - 1):
                            yield word[k:k + 2], pos, start + k, start + k + 2, False
                    elif len(word) == 1 and i < last and len(words[i + 1]) == 1 and words[i + 1] not in STOP_WORDS:
                        yield word + words[i + 1], pos, start, start + 2, False
                elif subwords == "run":
                    for k in range(start - match.start(), min(end - match.start(), len(run) - 1)):
                        pair = run[k:k + 2]
                        if pair != word and pair[0] not in STOP_WORDS and pair[1] not in STOP_WORDS:
                            yield pair, pos, match.start() + k, match.start() + k + 2, False
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


@functools.lru_cache(maxsize=65536)
def _english(word):
    """Stem a lower-cased ASCII word gently: alphabetic words of four letters or more only."""
    if len(word) >= MIN_STEM_LENGTH and word.isalpha():
        return porter2_stem(word)
    return word


class _Segmenter:
    """A jieba.Tokenizer that is fully built before it is shared, and only read afterwards."""

    def __init__(self, jieba_tokenizer):
        self.jieba = jieba_tokenizer
        self._freq = jieba_tokenizer.FREQ
        # The DAG cutters take a run of Chinese characters as is: jieba.Tokenizer.cut() would only
        # split it again by its own block regex, which a pure Chinese run always passes whole.
        self._cut_hmm = jieba_tokenizer._Tokenizer__cut_DAG
        self._cut_plain = jieba_tokenizer._Tokenizer__cut_DAG_NO_HMM

    def cut(self, run, hmm=True):
        """Return the words of a run of Chinese characters."""
        return list((self._cut_hmm if hmm else self._cut_plain)(run))

    def is_word(self, text):
        """Tell whether `text` is a word of the dictionary."""
        return bool(self._freq.get(text))


def _segmenter():
    """Return the current segmenter, building it on first use and after the extra file changed."""
    global _base, _current, _extra_stamp, _next_check
    current = _current
    if current is not None and time.monotonic() < _next_check:
        return current
    with _lock:
        if _base is None:
            _base = _Segmenter(_build_base())
        stamp = _stamp(_extra_path)
        if _current is None or stamp != _extra_stamp:
            _current = _extend(_base, _extra_path) if stamp[1] is not None else _base
            _extra_stamp = stamp
        _next_check = time.monotonic() + EXTRA_RECHECK_SECONDS
        return _current


def _build_base():
    """Load jieba's dictionary into a new jieba.Tokenizer and add the shipped insurance words."""
    if jieba.default_logger.level <= logging.DEBUG:
        jieba.setLogLevel(logging.INFO)  # jieba reports every dictionary load on stderr at DEBUG
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    _add_words(tokenizer, USER_DICTIONARY)
    return tokenizer


def _extend(base, path):
    """Return a segmenter with base's dictionary plus the words of the file at path."""
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ, tokenizer.total = dict(base.jieba.FREQ), base.jieba.total
    tokenizer.initialized = True
    try:
        _add_words(tokenizer, path)
    except (OSError, UnicodeDecodeError) as error:
        log.warning("search dictionary %s not loaded: %s", path, error)
        return base
    return _Segmenter(tokenizer)


def _add_words(tokenizer, path):
    """Add every word of a dictionary file to a jieba.Tokenizer (frequency 0 removes a word)."""
    for word, freq in read_dictionary(path):
        if freq == 0:
            tokenizer.FREQ[word] = 0  # jieba's del_word would also change its global HMM state
        else:
            tokenizer.add_word(word, max(freq, tokenizer.FREQ.get(word) or 0) if freq else None)


def _stamp(path):
    """Identify the extra dictionary's version: (path, mtime in ns or None, size)."""
    if path is None:
        return (None, None, None)
    try:
        status = os.stat(path)
    except OSError:
        return (str(path), None, None)
    return (str(path), status.st_mtime_ns, status.st_size)
