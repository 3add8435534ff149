"""Word-level text -> ids with numpy, the same ids a dictionary lookup of ``str.split`` gives.

Reading a large corpus is bound by Python's per-token work (one string object and one
dictionary lookup per token). ``WordTable.encode`` instead finds the words of a piece of text
in its UTF-8 bytes with array operations and looks up the words of at most ``KEY_BYTES``
bytes, keyed by their bytes (two 64-bit integers, exact: no hashing of the key itself), in an
open-addressed table of numpy arrays. Only words the table does not hold (new ones, longer
ones, the rare ones whose slot another word took) go through the dictionary ``ids``, which
stays the one authority on which word has which id; the table is a cache of it.

Each line end is read as a one-byte word ``\n`` that the table maps to the id of ``<eos>``.
The words are exactly those of ``piece.replace("\\n", " <eos> ").split()``: a piece holding
one of the non-ASCII characters that ``str.split`` also splits on (``WIDE_SPACES``) is left to
the caller (``encode`` returns None), and on all other text ``str.split`` splits at the ASCII
whitespace bytes only, which never occur inside a multi-byte UTF-8 sequence.
"""

import numpy as np

from rnnlm.data.text import EOS

KEY_BYTES = 16  # longer words always take the dictionary (their key matches no slot)
# The characters above ASCII that ``str.isspace`` (so ``str.split``) counts as whitespace.
WIDE_SPACES = ("\x85", "\xa0", "\u1680", *map(chr, range(0x2000, 0x200B)), "\u2028", "\u2029",
               "\u202f", "\u205f", "\u3000")  # fmt: skip
# The ASCII whitespace of ``str.isspace``: two runs of byte values, [first, first + length)
SPACE_RUNS = ((9, 5), (28, 5))
_NEWLINE = 10
_LINE_END = b"\n"  # the key of the "<eos>" each line end gives (no word holds a newline)
_NEVER = np.uint64(2**64 - 1)  # k1 of a word longer than the key: 0xFF is never in UTF-8
# _MASKS[k]: the low k bytes of a little-endian 64-bit word
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(9)], np.uint64)
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))
MIN_BITS, MAX_BITS = 12, 21  # table sizes, in slots: 4,096 .. 2,097,152 (40 MiB)
LOAD = 4  # slots per word held, at least (few words then find their slot taken)


class WordTable:
    """A numpy cache of ``ids``, a dictionary that numbers words in order of first sight
    (``ids[word]`` gives a new word the id ``len(ids)``, as ``Provisional.ids``)."""

    def __init__(self, ids: dict[str, int]) -> None:
        self.ids = ids
        self.synced = 0  # words numbered below this were offered to the table
        self._alloc(MIN_BITS)
        self._grow()

    def _alloc(self, bits: int) -> None:
        self.bits, self.held = bits, 0
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
        buf = np.frombuffer(raw + bytes(KEY_BYTES), np.uint8)
        text = buf[: len(raw)]
        space, newline = _spaces(text), text == _NEWLINE
        first = ~space  # (the first byte of a word, or a newline)
        first[1:] &= space[:-1]
        first |= newline
        after = newline.copy()  # (the last byte of a word, or a newline)
        after[:-1] |= space[1:] & ~space[:-1]
        starts, ends = np.flatnonzero(first), np.flatnonzero(after) + 1
        k0, k1 = _keys(buf, starts, ends - starts)
        slot = self._slots(k0, k1)
        ids = self.id.take(slot)
        miss = np.flatnonzero((self.k0.take(slot) != k0) | (self.k1.take(slot) != k1))
        if miss.size:
            spans = zip(starts[miss].tolist(), ends[miss].tolist(), strict=True)
            words = [raw[a:b].decode("utf-8") for a, b in spans]
            ids[miss] = self._lookup([EOS if w == "\n" else w for w in words])
        return ids

    def _lookup(self, words: list[str]) -> np.ndarray:
        """Ids of ``words`` from the dictionary; the new ones are then held in the table."""
        found = np.fromiter(map(self.ids.__getitem__, words), np.uint32, count=len(words))
        if len(self.ids) > self.synced:  # (words numbered here, or by others since)
            new = np.flatnonzero(found >= self.synced)
            new = new[np.unique(found[new], return_index=True)[1]]  # (each word once)
            self._hold([words[i] for i in new.tolist()], found[new])
            self.synced = len(self.ids)
        return found

    def _hold(self, words: list[str], ids: np.ndarray) -> None:
        """Put ``words`` (with their ``ids``) in the free slots they hash to."""
        raw = [w.encode("utf-8") for w in words]
        keep = [i for i, r in enumerate(raw) if 0 < len(r) <= KEY_BYTES and b"\0" not in r]
        if EOS in words:
            raw.append(_LINE_END)
            keep.append(len(raw) - 1)
            ids = np.append(ids, ids[words.index(EOS)])
        if not keep:
            return
        if (self.held + len(keep)) * LOAD > 1 << self.bits and self.bits < MAX_BITS:
            self._grow()
        buf = np.frombuffer(b"".join(raw[i] for i in keep) + bytes(KEY_BYTES), np.uint8)
        lengths = np.array([len(raw[i]) for i in keep], np.int64)
        k0, k1 = _keys(buf, np.cumsum(lengths) - lengths, lengths)
        slot, first = np.unique(self._slots(k0, k1), return_index=True)
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
    """The key of each word: its first 16 bytes, zero-padded, as two little-endian uint64
    (n,) each; words longer than ``KEY_BYTES`` get a ``k1`` that no slot holds.

    ``buf``: uint8 with at least ``KEY_BYTES`` bytes after the last word.
    """
    words = np.ndarray((len(buf) - 7,), "<u8", buffer=buf.data, strides=(1,))  # (unaligned)
    k0 = words.take(starts) & _MASKS.take(np.minimum(lengths, 8))
    k1 = np.zeros(len(starts), np.uint64)
    at = np.flatnonzero(lengths > 8)  # (most words are shorter)
    rest = lengths[at] - 8
    k1[at] = words.take(starts[at] + 8) & _MASKS.take(np.minimum(rest, 8))
    k1[at[rest > 8]] = _NEVER
    return k0, k1
