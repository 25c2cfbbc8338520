"""Shared machinery of the text readers: reading, tokenising and checking, vectorised.

Text is split into Arrow string arrays and processed with pyarrow.compute kernels, so that no
reader loops over lines or sessions in Python. Every check keeps the 1-based line number of
each token, so that the first bad token can be reported as `FormatError(path, line, ...)`.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clicklog.io_report import FormatError
from clicklog.vocabulary import normalise_ids

# A decimal integer written the way str(int) writes it, and small enough for int64.
CANONICAL_INT = r"^(0|-?[1-9][0-9]{0,17})$"
ANY_INT = r"^-?[0-9]{1,18}$"


def _gunzip(path: Path, size: int) -> bytes:
    """Up to `size` bytes (-1: all) of a gzip file; FormatError for a file that is not gzip or
    whose stream is cut short or corrupt, rather than gzip's EOFError/BadGzipFile."""
    try:
        with gzip.open(path) as f:
            return f.read(size)
    except EOFError:
        problem = "the gzip stream ends early: the file is truncated"
    except (gzip.BadGzipFile, zlib.error) as err:
        problem = f"not a valid gzip file ({err})"
    raise FormatError(path, None, problem) from None


def read_bytes(path: str | os.PathLike, size: int = -1) -> bytes:
    """The file's bytes, or its first `size` bytes, gunzipped when the name ends in .gz."""
    path = Path(path)
    if path.suffix == ".gz":
        return _gunzip(path, size)
    with open(path, "rb") as f:
        return f.read(size)


def read_text(path: str | os.PathLike) -> str:
    """The whole file as text (UTF-8, a byte-order mark dropped; gzip-compressed when the name
    ends in .gz). A NUL byte is an error: numpy's str arrays, which hold the ids, would drop a
    trailing one and silently merge "a\\0" with "a"."""
    raw = read_bytes(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise FormatError(path, line, f"not UTF-8 text ({err.reason})") from None
    nul = text.find("\0")
    if nul >= 0:
        raise FormatError(path, text.count("\n", 0, nul) + 1, "a NUL byte (binary data?)")
    return text


def check_some(path: str | os.PathLike, n: int, what: str) -> None:
    """An empty log is an error, not zero sessions (which no fit or metric can use)."""
    if n == 0:
        raise FormatError(path, None, f"no sessions: {what}")


def split_lines(text: str) -> pa.Array:
    """Lines without their end-of-line characters (\\n or \\r\\n); index i is line i + 1."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return pc.utf8_rtrim(pa.array(lines, pa.string()), characters="\r")


def count_lines(text: str) -> int:
    """Lines of a text, a last line without its line break included."""
    return text.count("\n") + int(bool(text) and not text.endswith("\n"))


def trim(tokens: pa.Array) -> pa.Array:
    return pc.utf8_trim_whitespace(tokens)


def nonempty(tokens: pa.Array) -> np.ndarray:
    """bool per token: not the empty string."""
    return to_numpy(pc.greater(pc.utf8_length(tokens), 0)).astype(bool)


def to_numpy(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return arr.to_numpy(zero_copy_only=False)


def fail_first(
    path: str | os.PathLike,
    bad: np.ndarray,
    lines: np.ndarray,
    problem: Callable[[int], str],
) -> None:
    """Raise FormatError for the bad item on the earliest line; `problem(i)` describes item i."""
    if bad.any():
        items = np.flatnonzero(bad)
        i = int(items[np.argmin(lines[items])])
        raise FormatError(path, int(lines[i]), problem(i))


def check_pattern(
    path: str | os.PathLike,
    tokens: pa.Array,
    lines: np.ndarray,
    pattern: str,
    expectation: str,
) -> None:
    """FormatError "<expectation>, got '<token>'" unless every token matches regex `pattern`."""
    ok = to_numpy(pc.match_substring_regex(tokens, pattern)).astype(bool)
    fail_first(path, ~ok, lines, lambda i: f"{expectation}, got {tokens[i].as_py()!r}")


def parse_ints(
    path: str | os.PathLike, tokens: pa.Array, lines: np.ndarray, what: str
) -> np.ndarray:
    """int64 values of integer tokens; FormatError at the first token that is not one."""
    check_pattern(path, tokens, lines, ANY_INT, f"{what} must be an integer")
    return to_numpy(pc.cast(tokens, pa.int64()))


def float32_weights(path: str | os.PathLike, weight: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Weights as Sessions holds them (float32); FormatError at the first one that is not
    finite and positive there, although it may be in float64 (1e39 overflows, 1e-50
    underflows to 0)."""
    with np.errstate(over="ignore", under="ignore"):
        single = np.asarray(weight, np.float64).astype(np.float32)
    bad = ~(np.isfinite(single) & (single > 0))
    fail_first(
        path,
        bad,
        lines,
        lambda i: f"weight {float(weight[i])!r} is not a positive finite float32 "
        f"(from {np.finfo(np.float32).smallest_subnormal:.1e} to {np.finfo(np.float32).max:.1e})",
    )
    return single


def check_nonempty(path: str | os.PathLike, tokens: pa.Array, lines: np.ndarray, what: str) -> None:
    fail_first(path, ~nonempty(tokens), lines, lambda i: f"empty {what}")


def ids_from_tokens(tokens: pa.Array) -> np.ndarray:
    """Original ids from text tokens: int64 where every token is a canonical decimal integer
    (str(id) then gives the token back), numpy str otherwise."""
    if len(tokens) and pc.all(pc.match_substring_regex(tokens, CANONICAL_INT)).as_py():
        return to_numpy(pc.cast(tokens, pa.int64()))
    return normalise_ids(to_numpy(tokens).astype(str))


def index_tokens(tokens: pa.Array, add: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Vocabulary indices of text tokens; `add` (e.g. Vocabulary.doc_index) sees each distinct
    token once, in first-seen order."""
    encoded = pc.dictionary_encode(tokens)
    return add(ids_from_tokens(encoded.dictionary))[to_numpy(encoded.indices)]


def list_ranks(lists: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(row, position) of every element of a list array, in flattened order."""
    sizes = to_numpy(pc.list_value_length(lists)).astype(np.int64)
    row = np.repeat(np.arange(sizes.size), sizes)
    starts = np.cumsum(sizes) - sizes
    return row, np.arange(row.size) - starts[row]
