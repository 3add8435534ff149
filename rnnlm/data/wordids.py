"""Word-level text -> ids with numpy, the same ids a dictionary lookup of ``str.split`` gives.

Reading a large corpus is bound by Python's per-token work (one string object and one
dictionary lookup per token). ``WordTable.encode`` instead finds the words of a piece of text
in its UTF-8 bytes with array operations and looks up the words of at most ``KEY_BYTES``
bytes, keyed by their bytes (two 64-bit integers, exact: no hashing of the key itself), in an
open-addressed table of numpy arrays. Only words the table does not hold (new ones, longer
ones, the rare ones whose slot another word took) go through the dictionary ``ids``, which
stays the one authority on which word has which id; the table is a cache of it.

The words are exactly those of ``piece.replace("\\n", " <eos> ").split()``: a piece holding
one of the non-ASCII characters that ``str.split`` also splits on (``WIDE_SPACES``) is left to
the caller (``encode`` returns None), and on all other text ``str.split`` splits at the ASCII
whitespace bytes only, which never occur inside a multi-byte UTF-8 sequence.
"""

import numpy as np

from rnnlm.data.text import EOS

KEY_BYTES = 16  # longer words always take the dictionary
# The characters above ASCII that ``str.isspace`` (so ``str.split``) counts as whitespace.
WIDE_SPACES = ("\x85", "\xa0", "\u1680", *map(chr, range(0x2000, 0x200B)), "\u2028", "\u2029",
               "\u202f", "\u205f", "\u3000")  # fmt: skip
# The ASCII whitespace of ``str.isspace``: two runs of byte values, [first, first + length)
SPACE_RUNS = ((9, 5), (28, 5))
_NEWLINE = 10
# _MASKS[k]: the low k bytes of a little-endian 64-bit word
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(9)], np.uint64)
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))
MIN_BITS, MAX_BITS = 12, 21  # table sizes, in slots: 4,096 .. 2,097,152 (40 MiB)
LOAD = 8  # slots per word held, at least (few words then find their slot taken)


class WordTable:
    """A numpy cache of ``ids``, a dictionary that numbers words in order of first sight
    (``ids[word]`` gives a new word the id ``len(ids)``, as ``Provisional.ids``)."""

    def __init__(self, ids: dict[str, int]) -> None:
        self.ids = ids
        self.synced = 0  # words numbered below this were offered to the table
        self._alloc(MIN_BITS)
        self._grow()

    def _alloc(self, bits: int) -> None:
        self.bits = bits
        self.k0 = np.zeros(1 << bits, np.uint64)  # 0: an empty slot (no word has a NUL)
        self.k1 = np.zeros(1 << bits, np.uint64)
        self.id = np.zeros(1 << bits, np.uint32)

    def encode(self, piece: str) -> np.ndarray | None:
        """The ids (n,) uint32 of ``piece``'s words, ``<eos>`` after every line (the last one
        too); None if the piece holds a wide space (``WIDE_SPACES``) or a NUL: split it as a
        string."""
        if "\0" in piece or (not piece.isascii() and any(s in piece for s in WIDE_SPACES)):
            return None  # (zero bytes pad the keys: words with a NUL would not be told apart)
        raw = piece.encode("utf-8")
        if not raw.endswith(b"\n"):
            raw += b"\n"
        n = len(raw)
        raw += EOS.encode()  # (where each line end's "<eos>" is read from)
        buf = np.frombuffer(raw + bytes(KEY_BYTES), np.uint8)
        space = _spaces(buf[:n])
        newline = buf[:n] == _NEWLINE
        word = ~space
        first = word.copy()
        first[1:] &= space[:-1]
        last = word[:-1] & space[1:]  # (the last byte is a newline: every word ends)
        starts = np.flatnonzero(first | newline)
        ends = np.empty_like(starts)
        is_eos = newline[starts]
        ends[~is_eos] = np.flatnonzero(last) + 1
        starts[is_eos], ends[is_eos] = n, n + len(EOS)  # (the "<eos>" after the text)
        k0, k1 = _keys(buf, starts, ends - starts)
        slot = self._slots(k0, k1)
        ids = self.id[slot]
        miss = (self.k0[slot] != k0) | (self.k1[slot] != k1) | (ends - starts > KEY_BYTES)
        if miss.any():
            at = np.flatnonzero(miss)
            spans = zip(starts[at].tolist(), ends[at].tolist(), strict=True)
            words = [raw[a:b].decode("utf-8") for a, b in spans]
            ids[at] = self._lookup(words)
        return ids

    def _lookup(self, words: list[str]) -> np.ndarray:
        """Ids of ``words`` from the dictionary; the new ones are then held in the table."""
        found = np.fromiter(map(self.ids.__getitem__, words), np.uint32, count=len(words))
        if len(self.ids) > self.synced:  # (words numbered here, or by others since)
            new = np.flatnonzero(found >= self.synced)
            self._hold([words[i] for i in new.tolist()], found[new])
            self.synced = len(self.ids)
        return found

    def _hold(self, words: list[str], ids: np.ndarray) -> None:
        """Put ``words`` (with their ``ids``) in the free slots they hash to."""
        raw = [w.encode("utf-8") for w in words]
        keep = [i for i, r in enumerate(raw) if 0 < len(r) <= KEY_BYTES and b"\0" not in r]
        if not keep:
            return
        if (self.held + len(keep)) * LOAD > 1 << self.bits and self.bits < MAX_BITS:
            self._grow()
        buf = np.frombuffer(b"".join(raw[i] for i in keep) + bytes(KEY_BYTES), np.uint8)
        lengths = np.array([len(raw[i]) for i in keep], np.int64)
        starts = np.cumsum(lengths) - lengths
        k0, k1 = _keys(buf, starts, lengths)
        slot = self._slots(k0, k1)
        slot, first = np.unique(slot, return_index=True)
        free = self.k0[slot] == 0
        slot, first = slot[free], first[free]
        self.k0[slot], self.k1[slot] = k0[first], k1[first]
        self.id[slot] = ids[np.asarray(keep)[first]]
        self.held += len(slot)

    def _grow(self) -> None:
        """A table large enough for every word of ``ids``, holding them."""
        bits = self.bits
        while len(self.ids) * LOAD > 1 << bits and bits < MAX_BITS:
            bits += 1
        self._alloc(bits)
        self.held = 0
        items = list(self.ids.items())
        self._hold([w for w, _ in items], np.array([i for _, i in items], np.uint32))
        self.synced = len(items)

    def _slots(self, k0: np.ndarray, k1: np.ndarray) -> np.ndarray:
        h = (k0 * _MIX[0]) ^ (k1 * _MIX[1])
        return (h >> np.uint64(64 - self.bits)).astype(np.intp)


def _spaces(buf: np.ndarray) -> np.ndarray:
    """Whether each byte of ``buf`` (uint8) is ASCII whitespace, as ``str.isspace``."""
    (a, m), (b, k) = SPACE_RUNS
    return ((buf - np.uint8(a)) < m) | ((buf - np.uint8(b)) < k)  # (uint8 wraps below 0)


def _keys(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, ...]:
    """The first 16 bytes of each word, zero-padded, as two little-endian uint64 (n,) each.

    ``buf``: uint8 with at least ``KEY_BYTES`` bytes after the last word.
    """
    words = np.ndarray((len(buf) - 7,), "<u8", buffer=buf.data, strides=(1,))  # (unaligned)
    lengths = np.minimum(lengths, KEY_BYTES)
    k0 = words[starts] & _MASKS[np.minimum(lengths, 8)]
    k1 = words[starts + 8] & _MASKS[np.maximum(lengths - 8, 0)]
    return k0, k1
