"""Decision 766/QĐ-TTg indicators: five groups of ratios, each with numerator and denominator, and points.

Points: a group earns `weight × mean(value of its scored ratios that have a value)`; a ratio without a value
(nothing to count in the period, or data the service does not hold) is left out of the mean rather than
counted as 0 or 1, and a group with no such ratio has no points (null). Weights come from
DVC_INDICATOR_WEIGHTS (default 18,20,22,22,18). Averages (processing days, rating) and "overdue still open"
(lower is better) are shown but not scored.

The formulas (DOMAIN.md "Decision 766"):
- progress: finished on time = (finished on or before the ORIGINAL due date + open and still within it) /
  (finished + open). "Finished" is counted on the day the result was issued or processing stopped; "open"
  is the dossiers whose clock ran at the end of the period, as `dvc worker` counted them minutes after that
  midnight (`open_counted_at`), or as they were at that midnight, rebuilt from their history, for a day the
  worker did not count; for the current period, those open now and received before the end of the period.
  A dossier whose supplement was requested more than once counts as late
  when DVC_INDICATOR_MULTI_SUPPLEMENT_LATE (default true). Waiting for a supplement is not counted.
- transparency, procedures published on time: versions announced to take effect in the period, published on time
  and complete, over those published or past their day (app.reporting.announcements).
- satisfaction: complaints and feedback (phản ánh, kiến nghị, app.complaints, both kinds) handled on time =
  those answered by their due time / those that fell due in the period (counted on their due day); satisfaction
  with complaint handling = answers rated satisfied / answers rated in the period.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.csvexport import csv_lines
from app.core.settings import get_settings
from app.reporting import announcements, figures
from app.reporting.announcements import AnnouncedFigures
from app.reporting.figures import CatalogueFigures, CounterFigures, OpenFigures, ReportQuery
from app.reporting.models import COUNTER_COLUMNS
from app.reporting.schemas import Group, IndicatorReport, IndicatorRow, Ratio

GROUPS = ("transparency", "progress", "online_service", "digitisation", "satisfaction")


def weights() -> dict[str, float]:
    values = [float(w) for w in get_settings().indicator_weights.split(",")]
    return dict(zip(GROUPS, values, strict=True))


def ratio(name: str, numerator: float, denominator: int, note: str | None = None, *, scored: bool = True,
          average: bool = False) -> Ratio:
    value = None if denominator == 0 else round(numerator / denominator, 4 if not average else 2)
    return Ratio(name=name, numerator=numerator, denominator=denominator, value=value, available=True,
                 scored=scored, note=note)


def unavailable(name: str, note: str) -> Ratio:
    return Ratio(name=name, numerator=None, denominator=None, value=None, available=False, scored=True, note=note)


@dataclass(frozen=True)
class Inputs:
    sums: dict[str, int]
    open: OpenFigures
    published: int
    online: int
    online_used: int
    announced: AnnouncedFigures = field(default_factory=AnnouncedFigures)


def _late(i: Inputs) -> tuple[int, int]:
    """Dossiers handled late (finished late, or open past the original due date) and dossiers handled (finished
    and open): the progress group's on-time share and the satisfaction group's overdue rate."""
    s, o = i.sums, i.open
    multi = get_settings().indicator_multi_supplement_late
    return s["finished_late"] + (s["finished_multi_supplement"] if multi else 0) + o.late, s["finished"] + o.total


def _procedure_satisfaction(i: Inputs) -> Ratio:
    """Decision 766: satisfaction with procedures = 100% − (overdue rate + rate of dossiers with complaints or
    dissatisfied ratings). A dossier late and rated badly (or complained about) counts twice, as the published
    formula adds the rates."""
    late, handled = _late(i)
    dissatisfied = i.sums["rating_count"] - i.sums["rating_satisfied"]
    complained = i.sums["dossiers_with_complaints"]
    return ratio("procedure_satisfaction", max(handled - late - dissatisfied - complained, 0), handled,
                 "100% − (overdue rate + rate of dossiers with complaints or dissatisfied ratings), over the dossiers "
                 "handled (finished and open); a dossier counts as complained about once, on the day of its first "
                 "complaint or feedback, and a rating on its day")


def _complaints(s: dict[str, int]) -> list[Ratio]:
    """Complaints and feedback (both kinds) handled on time, and satisfaction with their handling."""
    return [
        ratio("complaints_handled_on_time", s["complaints_answered_on_time"], s["complaints_due"],
              "complaints and feedback answered by the end of their due day (DVC_COMPLAINT_ANSWER_WORKING_DAYS "
              "working days after filing), over those whose due day is in the period; one not answered yet counts "
              "as not on time, even before its due day"),
        ratio("complaint_handling_satisfaction", s["complaint_ratings_satisfied"], s["complaint_ratings"],
              "answers rated satisfied by the complainant, over the answers rated in the period"),
    ]


def _progress(i: Inputs) -> list[Ratio]:
    s, o = i.sums, i.open
    multi = get_settings().indicator_multi_supplement_late
    late, handled = _late(i)
    on_time = handled - late
    note = ("finished on or before the original due date, plus open dossiers still within it"
            + ("; more than one supplement request counts as late" if multi else ""))
    return [
        ratio("finished_on_time", on_time, handled, note),
        ratio("overdue_open", o.overdue, o.total, "open dossiers past their original due date (lower is better)",
              scored=False),
        ratio("average_processing_days", s["processing_working_days"], s["processing_counted"],
              "working days from reception to result (or stop), supplement waits left out", scored=False,
              average=True),
    ]


def _published_on_time(a: AnnouncedFigures) -> Ratio:
    """Procedure versions announced to take effect in the period, published on time and complete
    (app.reporting.announcements)."""
    name = "procedures_published_on_time"
    if not a.announced:
        return unavailable(name, "No procedure version records an announcement taking effect in the period; "
                                 "not computed.")
    allowance = get_settings().indicator_publication_allowance_days
    return ratio(name, a.good, a.counted, (
        "procedure versions whose announced legal act takes effect in the period, published by the end of the day "
        f"{allowance} working day(s) after it (DVC_INDICATOR_PUBLICATION_ALLOWANCE_DAYS) and complete (document "
        "parts, fee items or no_fee, legal basis; agency, field and processing days are always recorded), over "
        "those published or past that day; versions without announcement data are left out"))


def groups_for(i: Inputs, w: dict[str, float]) -> list[Group]:
    s = i.sums
    ratios: dict[str, list[Ratio]] = {
        "transparency": [
            _published_on_time(i.announced),
            ratio("dossiers_synced", s["synced"], s["submitted"], "dossiers synced to the national portal"),
        ],
        "progress": _progress(i),
        "online_service": [
            ratio("procedures_online", i.online, i.published,
                  "published procedures offered fully or partly online (catalogue now)"),
            ratio("online_procedures_used", i.online_used, i.online,
                  "online procedures that received an online dossier in the period"),
            ratio("dossiers_online", s["submitted_online"], s["submitted"], "dossiers filed online"),
            ratio("fees_paid_online", s["paid_online"], s["fee_bearing"], "fee-bearing dossiers paid online"),
        ],
        "digitisation": [
            ratio("electronic_results", s["electronic_results"], s["results_issued"],
                  "results issued as digitally signed files"),
            ratio("dossiers_digitised", s["digitised"], s["submitted"], "dossiers whose documents are files"),
            ratio("digitised_data_reused", s["digitised_reused"], s["submitted"],
                  "dossiers filed with at least one of the applicant's earlier files reused, not uploaded again"),
        ],
        "satisfaction": [
            *_complaints(s),
            _procedure_satisfaction(i),
            ratio("ratings_satisfied", s["rating_satisfied"], s["rating_count"],
                  f"ratings of {get_settings().rating_satisfied_min_score} or more (not a Decision 766 figure: "
                  "shown, not scored)", scored=False),
            ratio("average_rating", s["rating_sum"], s["rating_count"], "mean score, 1 to 5", scored=False,
                  average=True),
        ],
    }
    out = []
    for name in GROUPS:
        values = [min(max(r.value, 0.0), 1.0) for r in ratios[name] if r.scored and r.value is not None]
        points = round(w[name] * sum(values) / len(values), 2) if values else None
        out.append(Group(name=name, weight=w[name], points=points, ratios=ratios[name]))
    return out


def _row(key: str, group_by: str | None, inputs: Inputs, w: dict[str, float]) -> IndicatorRow:
    groups = groups_for(inputs, w)
    scored = [g for g in groups if g.points is not None]
    return IndicatorRow(agency_code=key if group_by == "agency" else None,
                        procedure_code=key if group_by == "procedure" else None,
                        month=key if group_by == "month" else None,
                        points=round(sum(g.points or 0 for g in scored), 2) if scored else None,
                        max_points=sum(g.weight for g in scored), groups=groups)


def _inputs(key: str, group_by: str | None, figs: Figures) -> Inputs:
    cat_key = "" if group_by == "month" else key
    return Inputs(sums=figs.counters.sums.get(key, dict.fromkeys(COUNTER_COLUMNS, 0)),
                  open=figs.opened.get(key, OpenFigures()), published=figs.catalogue.published.get(cat_key, 0),
                  online=figs.catalogue.online.get(cat_key, 0),
                  online_used=len(figs.counters.used.get(key, set()) & figs.catalogue.online_codes),
                  announced=figs.announced.get(key, AnnouncedFigures()))


@dataclass(frozen=True)
class Figures:
    counters: CounterFigures
    opened: dict[str, OpenFigures]
    catalogue: CatalogueFigures
    announced: dict[str, AnnouncedFigures]

    def total(self, group_by: str | None) -> Inputs:
        """The whole scope from the per-key figures (a procedure counts once in the catalogue totals)."""
        total = dict.fromkeys(COUNTER_COLUMNS, 0)
        for values in self.counters.sums.values():
            for name, value in values.items():
                total[name] += value
        opened = self.opened.values()
        o = OpenFigures(sum(f.total for f in opened), sum(f.overdue for f in opened), sum(f.late for f in opened))
        cat = self.catalogue
        if group_by == "month":  # the same catalogue every month
            published, online = cat.published.get("", 0), cat.online.get("", 0)
        else:
            published, online = sum(cat.published.values()), sum(cat.online.values())
        used = set().union(*self.counters.used.values()) & cat.online_codes
        return Inputs(sums=total, open=o, published=published, online=online, online_used=len(used),
                      announced=sum(self.announced.values(), AnnouncedFigures()))


async def report(session: AsyncSession, *, start: date, end: date, agencies: frozenset[str] | None,
                 procedure: str | None, agency: str | None, group_by: str | None) -> IndicatorReport:
    w = weights()
    query = ReportQuery(start, end, agencies, procedure, group_by)
    now = clock.now()
    opened = await figures.open_figures(session, query, now)
    figs = Figures(await figures.counter_sums(session, query), opened.figures,
                   await figures.catalogue_figures(session, query),
                   await announcements.announced_figures(session, query, now))
    rows = []
    if group_by:
        keys = set(figs.counters.sums) | set(figs.opened) | set(figs.announced)
        if group_by != "month":
            keys |= set(figs.catalogue.published)
        rows = [_row(k, group_by, _inputs(k, group_by, figs), w) for k in sorted(keys)]
    return IndicatorReport(period_from=start, period_to=end, agency=agency, procedure=procedure, group_by=group_by,
                           generated_at=now, open_counted_at=opened.counted_at, weights=w,
                           total=_row("", None, figs.total(group_by), w),
                           rows=rows)


CSV_HEADER = ("agency_code", "procedure_code", "month", "group", "weight", "group_points", "ratio", "numerator",
              "denominator", "value", "available", "note")


def _csv_lines(row: IndicatorRow) -> Iterable[list[object]]:
    for group in row.groups:
        for r in group.ratios:
            yield [row.agency_code or "", row.procedure_code or "", row.month or "", group.name, group.weight,
                   "" if group.points is None else group.points, r.name,
                   "" if r.numerator is None else r.numerator, "" if r.denominator is None else r.denominator,
                   "" if r.value is None else r.value, "true" if r.available else "false", r.note or ""]


def to_csv(report_: IndicatorReport) -> str:
    """One line per ratio: the total first (empty key columns), then each group_by row."""
    return csv_lines([CSV_HEADER, *(line for row in [report_.total, *report_.rows] for line in _csv_lines(row))])
