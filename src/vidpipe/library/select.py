"""Choosing catalog items: ``--shortest N``, ``--longest N``, ``--min-duration S``,
``--max-duration S``, ``--language L`` and ``--ids 1,5-9`` of the library commands.

An *item* is a media row of the catalog (the ``id`` column of ``vidpipe report``).
Items are kept in **input order**: by the position of the first source line that
produced them (``vidpipe run links.txt`` order), then items recorded without a
source (``vidpipe summarize FILE``) by id. The filters apply in this order:

1. ``--ids``, ``--language`` (the stored transcript's language), ``--min-duration``
   and ``--max-duration`` (the probed duration, seconds) keep the items that match;
2. ``--shortest N`` / ``--longest N`` then keep the ``N`` shortest / longest of those
   (ties broken by input order);

and the result is listed in input order again (never re-sorted by duration).
Items without a duration (not probed yet) are left out by every duration filter;
:attr:`Selected.no_duration` lists them so the caller can say so.

Example::

    sel = Selection(shortest=10, language="en")
    with Catalog() as cat:
        chosen = select_items(cat, sel)
        print([m.id for m in chosen.items], chosen.no_duration)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from vidpipe.errors import InputError, UsageError
from vidpipe.library.catalog import Catalog
from vidpipe.library.models import Media, Source

__all__ = [
    "Selected",
    "Selection",
    "catalog_order",
    "parse_ids",
    "select_items",
    "select_sources",
]

_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")


def parse_ids(spec: str) -> tuple[int, ...]:
    """Item ids from ``"1,5-9"``: comma-separated ids and inclusive ranges.

    Returns:
        The ids, ascending, without duplicates (``"3,1-3"`` → ``(1, 2, 3)``).

    Raises:
        UsageError: empty, not a number, zero or negative, or a reversed range (``9-5``).
    """
    ids: set[int] = set()
    parts = [p.strip() for p in spec.split(",")]
    if not any(parts):
        raise UsageError("--ids is empty", "give item ids like 1,5-9 (see vidpipe report)")
    for part in parts:
        if not part:
            continue
        m = _RANGE.match(part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > hi:
                raise UsageError(f"--ids: range {part!r} runs backwards", f"write it as {hi}-{lo}")
        elif part.isdigit():
            lo = hi = int(part)
        else:
            raise UsageError(
                f"--ids: {part!r} is not an item id or a range",
                "give item ids like 1,5-9 (see vidpipe report)",
            )
        if lo < 1:
            raise UsageError(f"--ids: {part!r}: item ids start at 1", "see vidpipe report")
        ids.update(range(lo, hi + 1))
    return tuple(sorted(ids))


@dataclass(frozen=True)
class Selection:
    """Which catalog items a library command works on. ``None`` fields do not filter.

    Attributes:
        shortest: keep the N items with the shortest probed duration (N ≥ 1).
        longest: keep the N items with the longest probed duration (N ≥ 1).
        min_duration: keep items at least this long (seconds, ≥ 0).
        max_duration: keep items at most this long (seconds, ≥ 0).
        language: keep items whose transcript language is this ISO 639-1 code
            (compared case-insensitively on the primary subtag: ``en`` matches ``en-US``).
        ids: keep items with these ids (see :func:`parse_ids`).

    Raises:
        UsageError: ``shortest`` with ``longest``, N below 1, negative durations,
            ``min_duration`` above ``max_duration``, or an empty language.
    """

    shortest: int | None = None
    longest: int | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    language: str | None = None
    ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.shortest is not None and self.longest is not None:
            raise UsageError("--shortest and --longest cannot be combined", "use one of them")
        for name in ("shortest", "longest"):
            n = getattr(self, name)
            if n is not None and n < 1:
                raise UsageError(f"--{name} must be at least 1, got {n}")
        for name in ("min_duration", "max_duration"):
            s = getattr(self, name)
            if s is not None and s < 0:
                raise UsageError(f"--{name.replace('_', '-')} must be 0 or more seconds, got {s}")
        if (
            self.min_duration is not None
            and self.max_duration is not None
            and self.min_duration > self.max_duration
        ):
            raise UsageError(
                f"--min-duration {self.min_duration:g} is above --max-duration "
                f"{self.max_duration:g}",
                "swap them",
            )
        if self.language is not None and not self.language.strip():
            raise UsageError("--language is empty", "give an ISO 639-1 code such as en")

    @property
    def active(self) -> bool:
        """True when at least one filter is set."""
        return any(
            v is not None
            for v in (
                self.shortest,
                self.longest,
                self.min_duration,
                self.max_duration,
                self.language,
                self.ids,
            )
        )

    @property
    def uses_duration(self) -> bool:
        """True when a filter needs the probed duration."""
        return any(
            v is not None
            for v in (self.shortest, self.longest, self.min_duration, self.max_duration)
        )

    def describe(self) -> str:
        """The filters as command-line options, e.g. ``--shortest 10 --language en``."""
        parts = []
        for name in ("shortest", "longest", "min_duration", "max_duration", "language"):
            v = getattr(self, name)
            if v is not None:
                parts.append(f"--{name.replace('_', '-')} {v}")
        if self.ids is not None:
            parts.append(f"--ids {','.join(map(str, self.ids))}")
        return " ".join(parts)


@dataclass
class Selected:
    """What :func:`select_items` chose.

    Attributes:
        items: the chosen media rows, in input order.
        no_duration: ids of candidate items left out because they have no probed
            duration (only when a duration filter was given), in input order.
    """

    items: list[Media] = field(default_factory=list)
    no_duration: list[int] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        """Ids of :attr:`items`, in input order."""
        return [m.id for m in self.items]


def catalog_order(cat: Catalog) -> list[Media]:
    """Every media row in input order: by the position of its first source line, then
    media without a source (recorded by ``summarize``/``describe FILE``) by id."""
    first: dict[int, int] = {}
    for src in cat.sources():  # already in position order
        if src.media_id is not None:
            first.setdefault(src.media_id, src.position)
    media = cat.all_media()  # by id
    big = 1 + max(first.values(), default=0)
    return sorted(media, key=lambda m: (first.get(m.id, big), m.id))


def _lang_key(code: str | None) -> str | None:
    if not code:
        return None
    return code.strip().lower().replace("_", "-").split("-")[0]


def select_items(
    cat: Catalog, selection: Selection, candidates: Iterable[int] | None = None
) -> Selected:
    """Filter catalog items by ``selection`` (see the module doc for the order).

    Args:
        cat: an open catalog.
        selection: the filters.
        candidates: media ids to choose from (default: every item); the result keeps
            input order whatever the order given here.

    Returns:
        :class:`Selected`: the items in input order and the ids left out for want
        of a duration.

    Raises:
        InputError: an id of ``--ids`` is not in the catalog (exit code 3).
    """
    order = catalog_order(cat)
    if candidates is not None:
        allowed = set(candidates)
        order = [m for m in order if m.id in allowed]
    if selection.ids is not None:
        known = {m.id for m in cat.all_media()}
        missing = [i for i in selection.ids if i not in known]
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
            raise InputError(f"no item with id {shown} in the catalog", "see vidpipe report")
        wanted = set(selection.ids)
        order = [m for m in order if m.id in wanted]
    if selection.language is not None:
        langs = cat.languages()
        want = _lang_key(selection.language)
        order = [m for m in order if _lang_key(langs.get(m.id)) == want]
    out = Selected()
    if selection.uses_duration:
        out.no_duration = [m.id for m in order if m.duration is None]
        order = [m for m in order if m.duration is not None]
    if selection.min_duration is not None:
        order = [m for m in order if m.duration >= selection.min_duration]
    if selection.max_duration is not None:
        order = [m for m in order if m.duration <= selection.max_duration]
    n = selection.shortest or selection.longest
    if n is not None:
        sign = 1.0 if selection.shortest is not None else -1.0
        ranked = sorted(range(len(order)), key=lambda i: (sign * order[i].duration, i))
        keep = set(ranked[:n])
        order = [m for i, m in enumerate(order) if i in keep]
    out.items = order
    return out


def select_sources(
    cat: Catalog, sources: Sequence[Source], selection: Selection
) -> tuple[list[Source], Selected]:
    """The ``sources`` whose item is chosen by ``selection`` (for ``vidpipe run``).

    Sources not yet ingested have no item (no duration, language or id) and are left
    out whenever a filter is set. Returns ``(sources in their order, selected items)``.
    """
    media_ids = {s.media_id for s in sources if s.media_id is not None}
    chosen = select_items(cat, selection, media_ids)
    keep = set(chosen.ids)
    return [s for s in sources if s.media_id in keep], chosen


def select_noted(
    cat: Catalog,
    selection: Selection,
    candidates: Sequence[int] | None = None,
    report: Callable[[str], None] | None = None,
) -> Selected:
    """The items ``selection`` chooses (:func:`select_items`); says through ``report``
    (one line) which items were left out for want of a probed duration.

    Raises:
        UsageError: a bad selection.
    """
    chosen = select_items(cat, selection, candidates)
    if chosen.no_duration and report is not None:
        n = len(chosen.no_duration)
        report(
            f"note: {n} item{'s' if n != 1 else ''} without a probed duration left out "
            f"({', '.join(map(str, chosen.no_duration[:10]))}"
            f"{' ...' if n > 10 else ''}; run: vidpipe run --steps probe)"
        )
    return chosen
