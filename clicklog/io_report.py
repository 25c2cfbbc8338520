"""What a reader found in a file: a `FormatError` for bad input, a `ReadReport` for counted drops.

DESIGN.md section 2: bad input gets a clear error naming the file, the line and the problem;
where a log is known to be dirty (clicks on URLs not on the page, repeated clicks) the reader
keeps going and counts what it dropped or merged, so that nothing is dropped silently. Every
reader attaches its report to the Sessions it returns (`sessions.report`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


class FormatError(ValueError):
    """Malformed input. The message names the file, the 1-based line (or row) and the problem."""

    def __init__(self, path: object, line: int | None, problem: str, unit: str = "line") -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = self.path if line is None else f"{self.path}, {unit} {line}"
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class ReadReport:
    """Counters of one read. Clicks always add up:

    clicks_in_file = clicks_kept + duplicate_clicks + dropped_clicks_not_on_page
                     + dropped_clicks_without_query

    - duplicate_clicks: a repeated click on a result already clicked on the same page; the
      page keeps one click there (click models see one click per result).
    - clicks_on_repeated_doc: clicks naming a document shown at several ranks of one page
      (counted before merging repeats, not a drop); they go to the document's first rank.
    - dropped_clicks_not_on_page: clicks naming a document the page does not show.
    - dropped_clicks_without_query: Relevance Prediction Challenge log only, a click line with
      no earlier query line in its session.
    """

    path: str
    format: str
    lines: int = 0
    sessions: int = 0
    clicks_in_file: int = 0
    clicks_kept: int = 0
    duplicate_clicks: int = 0
    clicks_on_repeated_doc: int = 0
    dropped_clicks_not_on_page: int = 0
    dropped_clicks_without_query: int = 0
    # Long formats: the rank that counts as the first, "0 (detected)" or "1 (given)"; "" else.
    rank_base: str = ""

    @property
    def dropped_clicks(self) -> int:
        return self.dropped_clicks_not_on_page + self.dropped_clicks_without_query

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> ReadReport:
        """Inverse of `as_dict`; unknown keys (from a newer writer) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def counters(self) -> dict[str, int]:
        """The integer counters, without path and format."""
        return {k: v for k, v in self.as_dict().items() if isinstance(v, int)}
