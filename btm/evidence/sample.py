"""Sample evidence for a fictional bank, written as a PMO's quarterly CSV exports.

The demo, the tests and the docs need evidence that behaves like the real thing: one
portfolio exported quarter after quarter, business units that mature at different
speeds, and the quirks real exports carry (a byte-order mark, `;` delimiters, five
spellings of a boolean, quoted commas, quotes and newlines in names). Each unit's
portfolio is simulated through the cycles from one seed; a unit's maturity p(cycle)
decides how often the fields the scoring reads are filled and good. One file,
`BAD_SAMPLE`, breaks the evidence contract on purpose so the quarantine has work to do.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from btm.cycle import cycle_as_of, parse_cycle_id
from btm.errors import ConfigurationError
from btm.evidence.kinds import kind_named

DEMO_CYCLES: tuple[str, ...] = ("2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3")
BAD_SAMPLE: tuple[str, str] = ("2026-Q2", "projects-insurance.csv")

Row = dict[str, str]
Rng = np.random.Generator

FORMAL_BODIES = ("Business Technology Investment Board", "Enterprise PMO")
INFORMAL_BODY = "Project team"
STRATEGIC_OBJECTIVES = (
    "Grow digital customer share",
    "Reduce cost to serve",
    "Strengthen risk and compliance",
    "Modernise core platforms",
    "Improve customer experience",
    "Make decisions on trusted data",
)
VERBS = {
    "run": ("Upgrade", "Renew", "Stabilise", "Support"),
    "grow": ("Extend", "Launch", "Scale up", "Enhance"),
    "transform": ("Modernise", "Replace", "Rebuild", "Re-platform"),
}
WORKSTREAMS = (
    "discovery",
    "vendor selection",
    "build",
    "integration",
    "data migration",
    "testing",
    "pilot",
    "rollout",
    "decommissioning",
)
CODENAMES = ("Atlas", "Nova", "Harbour", "Beacon", "Keystone", "Orbit", "Summit")
NOTES = ("(pilot sites only)", "(carried over from last year's plan)", "(phase 2)")


@dataclass(frozen=True)
class ExportDialect:
    """How one unit's PMO tool writes its CSV files."""

    delimiter: str
    encoding: str
    lineterminator: str
    true: str
    false: str

    def boolean(self, flag: bool) -> str:
        return self.true if flag else self.false


@dataclass(frozen=True)
class SampleUnit:
    slug: str
    name: str
    code: str
    # Maturity p at evenly spaced points from the first cycle to the last.
    trajectory: tuple[float, ...]
    dialect: ExportDialect
    subjects: tuple[str, ...]
    sponsors: tuple[str, ...]


SAMPLE_UNITS: tuple[SampleUnit, ...] = (
    SampleUnit(
        "retail",
        "Retail Banking",
        "RET",
        (0.35, 0.47, 0.58, 0.70),
        ExportDialect(",", "utf-8", "\n", "true", "false"),
        (
            "Mobile banking app",
            "Branch network",
            "Card issuing platform",
            "Customer onboarding",
            "ATM fleet",
            "Mortgage origination",
            "Contact centre",
            "Personal loans journey",
            "Fraud detection",
            "Savings products",
        ),
        ("Amelia Hart", "Daniel Osei", "Priya Raman", "Tom Becker", "Renée Dubois"),
    ),
    SampleUnit(
        "commercial",
        "Commercial Banking",
        "COM",
        (0.30, 0.58, 0.76, 0.85),
        ExportDialect(",", "utf-8", "\n", "TRUE", "FALSE"),
        (
            "Trade finance platform",
            "Cash management portal",
            "Credit decisioning",
            "Corporate KYC",
            "Treasury payments",
            "Lending workflow",
            "Relationship manager CRM",
            "Supply chain finance",
            "FX pricing engine",
            "Collateral management",
        ),
        ("Marcus Lindqvist", "Grace Okafor", "Henry Walsh", "Sofia Marques"),
    ),
    SampleUnit(
        "wealth",
        "Wealth Management",
        "WLT",
        (0.55, 0.57, 0.53, 0.56),
        ExportDialect(";", "utf-8-sig", "\r\n", "yes", "no"),
        (
            "Advisor workstation",
            "Portfolio rebalancing",
            "Client reporting",
            "Robo-advice",
            "Custody integration",
            "Suitability assessment",
            "Private banking CRM",
            "Fund research",
            "Client portal",
        ),
        ("Charlotte Reid", "Jürgen Weiß", "Aisha Rahman", "Oliver Grant"),
    ),
    SampleUnit(
        "insurance",
        "Insurance",
        "INS",
        (0.70, 0.58, 0.46, 0.35),
        ExportDialect(",", "utf-8", "\n", "Y", "N"),
        (
            "Claims handling",
            "Policy administration",
            "Underwriting rules engine",
            "Broker portal",
            "Actuarial data platform",
            "Fraud analytics",
            "IFRS 17 reporting",
            "Quote and buy",
            "Reinsurance ledger",
            "Telematics pricing",
        ),
        ("Fiona Campbell", "Raj Patel", "Lena Novak", "Samuel Adeyemi"),
    ),
    SampleUnit(
        "shared-services",
        "Shared Services",
        "SHS",
        (0.20, 0.26, 0.33, 0.40),
        ExportDialect(",", "utf-8", "\n", "1", "0"),
        (
            "HR platform",
            "General ledger",
            "Procurement",
            "Data centre exit",
            "Identity and access management",
            "Enterprise data warehouse",
            "Service desk",
            "Network refresh",
            "Cloud landing zone",
            "Document management",
        ),
        ("Helen Moore", "Kwame Asante", "Isabel Torres", "Peter Nowak"),
    ),
)


def _share(p: float, base: float = 0.25, slope: float = 0.7) -> float:
    """How often a maturity-driven property holds at maturity p."""
    return min(max(base + slope * p, 0.02), 0.98)


def _money(amount: float) -> str:
    return f"{amount:.2f}"


def _iso(day: date | None) -> str:
    return day.isoformat() if day is not None else ""


def _days(rng: Rng, low: int, high: int) -> timedelta:
    return timedelta(days=int(rng.integers(low, high)))


def _round_thousands(amount: float, minimum: float) -> float:
    return max(round(amount / 1000.0) * 1000.0, minimum)


def _lower_first(subject: str) -> str:
    # Keep acronyms such as "ATM fleet" or "FX pricing engine" in capitals.
    if len(subject) > 1 and subject[1].islower():
        return subject[0].lower() + subject[1:]
    return subject


def _with_quirk(rng: Rng, base: str, force: str | None = None) -> str:
    """Now and then dress a name the way people type them: commas, quotes, newlines."""
    quirk = force
    if quirk is None:
        draw = rng.random()
        odds = (("comma", 0.05), ("quote", 0.09), ("newline", 0.11))
        quirk = next((name for name, below in odds if draw < below), None)
    if quirk == "comma":
        return f"{base}, phase {int(rng.integers(2, 5))}"
    if quirk == "quote":
        return f'{base} ("{CODENAMES[int(rng.integers(len(CODENAMES)))]}")'
    if quirk == "comma+quote":
        return f'{base}, "{CODENAMES[int(rng.integers(len(CODENAMES)))]}" release'
    if quirk == "newline":
        return f"{base}\n{NOTES[int(rng.integers(len(NOTES)))]}"
    return base


@dataclass
class _Investment:
    id: str
    subject: str
    name: str
    category: str
    budget: float
    status: str
    approval_date: date | None
    duration_days: int
    expected_ratio: float
    objective: str
    sponsor: str
    # Per-record points in [0, 1) fixed at creation: a property holds while
    # u < share(p), so a record gains or loses it as its unit matures or regresses,
    # not at random each quarter.
    u: dict[str, float]
    final_spend: float | None = None
    exports_in_final_state: int = 0


@dataclass
class _Project:
    id: str
    investment_id: str | None
    name: str
    budget: float
    planned_start: date
    planned_end: date
    slip_days: int
    early_days: int
    u: dict[str, float]
    status: str = "not_started"
    # Settled the quarter the project falls due: on time or late, for good.
    late: bool | None = None
    actual_end: date | None = None
    ended_on: date | None = None
    percent: float = 0.0
    final_cost: float | None = None
    exports_in_final_state: int = 0


_INVESTMENT_LATENTS = (
    "case",
    "expected",
    "realized",
    "ratio",
    "objective",
    "sponsor",
    "body",
    "budget",
    "spend",
)
_PROJECT_LATENTS = ("link", "on_time", "cost", "health", "filled", "fresh", "fc", "arch")
_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23)


def _uniforms(offsets: Sequence[float], names: Sequence[str], index: int) -> dict[str, float]:
    """The index-th point of a Kronecker sequence, one coordinate per name.

    Evenly spread points rather than independent draws keep a unit's shares close to
    what its maturity implies, so the trends read the same whatever the seed.
    """
    return {
        name: (offset + index * (prime**0.5 % 1.0)) % 1.0
        for name, offset, prime in zip(names, offsets, _PRIMES, strict=False)
    }


@dataclass
class _Portfolio:
    """One unit's portfolio, advanced one quarter at a time."""

    unit: SampleUnit
    rng: Rng
    investments: list[_Investment] = field(default_factory=list)
    projects: list[_Project] = field(default_factory=list)
    investment_count: int = 0
    project_count: int = 0
    names_forced: int = 0
    investment_offsets: tuple[float, ...] = ()
    project_offsets: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        self.investment_offsets = tuple(self.rng.random(len(_INVESTMENT_LATENTS)).tolist())
        self.project_offsets = tuple(self.rng.random(len(_PROJECT_LATENTS)).tolist())

    # -- creation -----------------------------------------------------------------

    def _new_investment(self, status: str, approval_date: date | None) -> _Investment:
        rng = self.rng
        self.investment_count += 1
        category = str(rng.choice(["run", "grow", "transform"], p=[0.45, 0.3, 0.25]))
        median = {"run": 600_000.0, "grow": 1_500_000.0, "transform": 4_000_000.0}
        budget = _round_thousands(median[category] * rng.lognormal(0.0, 0.6), 50_000)
        subject = str(rng.choice(self.unit.subjects))
        verb = str(rng.choice(VERBS[category]))
        # The first two names of every unit carry the hardest quirks, so each unit's
        # first export is sure to exercise the reader's quoting.
        force = ("comma+quote", "newline")[self.names_forced] if self.names_forced < 2 else None
        self.names_forced += 1
        return _Investment(
            id=f"INV-{self.unit.code}-{self.investment_count:04d}",
            subject=subject,
            name=_with_quirk(rng, f"{verb} {_lower_first(subject)}", force),
            category=category,
            budget=budget,
            status=status,
            approval_date=approval_date,
            duration_days=int(rng.integers(365, 1100)),
            expected_ratio=float(rng.uniform(1.1, 2.8)),
            objective=str(rng.choice(STRATEGIC_OBJECTIVES)),
            sponsor=str(rng.choice(self.unit.sponsors)),
            u=_uniforms(self.investment_offsets, _INVESTMENT_LATENTS, self.investment_count),
        )

    def _new_project(
        self, investment: _Investment | None, planned_end: date, duration: int
    ) -> _Project:
        rng = self.rng
        self.project_count += 1
        if investment is not None:
            subject = investment.subject
            budget = _round_thousands(investment.budget * rng.uniform(0.15, 0.6), 20_000)
        else:
            subject = str(rng.choice(self.unit.subjects))
            budget = _round_thousands(300_000.0 * rng.lognormal(0.0, 0.7), 20_000)
        base = f"{subject}: {rng.choice(WORKSTREAMS)}"
        return _Project(
            id=f"PRJ-{self.unit.code}-{self.project_count:04d}",
            investment_id=investment.id if investment is not None else None,
            name=_with_quirk(rng, base),
            budget=budget,
            planned_start=planned_end - timedelta(days=duration),
            planned_end=planned_end,
            slip_days=int(rng.integers(15, 100)),
            early_days=int(rng.integers(0, 15)),
            u=_uniforms(self.project_offsets, _PROJECT_LATENTS, self.project_count),
        )

    def _add_projects(
        self, investment: _Investment | None, as_of: date, count: int, *, opening: bool
    ) -> None:
        """Projects already under way at the first export, or new ones planned now."""
        rng = self.rng
        for _ in range(count):
            duration = int(rng.integers(90, 540))
            if not opening:
                end = as_of + _days(rng, -45, 90) + timedelta(days=duration)
            elif investment is not None and investment.status == "closed":
                end = as_of - _days(rng, 20, 250)
            else:
                end = as_of + _days(rng, -250, 450)
            self.projects.append(self._new_project(investment, end, duration))

    def open(self, as_of: date, p: float) -> None:
        """The portfolio as it stands at the first export."""
        rng = self.rng
        statuses = ["proposed", "approved", "active", "closed", "rejected"]
        weights = [0.15, 0.12, 0.48, 0.18, 0.07]
        ago = {"approved": (0, 120), "active": (60, 700), "closed": (400, 1200)}
        for _ in range(int(rng.integers(38, 52))):
            status = str(rng.choice(statuses, p=weights))
            approval = None
            if status in ago:
                approval = as_of - _days(rng, *ago[status])
            self.investments.append(self._new_investment(status, approval))
        for investment in self.investments:
            if investment.status == "closed":
                investment.final_spend = self._spend(investment, as_of, p)
            if investment.status in ("approved", "active", "closed"):
                count = int(rng.integers(1, 3))
                self._add_projects(investment, as_of, count, opening=True)
        self._add_projects(None, as_of, int(rng.integers(16, 26)), opening=True)
        quarter_start = as_of - timedelta(days=91)
        exported: list[_Project] = []
        while True:
            self._advance_projects(as_of, quarter_start, p, opening=True)
            # Projects finished before the quarter would not be in its export.
            exported += [
                prj
                for prj in self.projects
                if prj.actual_end is None or prj.actual_end > quarter_start
            ]
            if len(exported) >= 45:
                break
            self.projects = []
            self._add_projects(None, as_of, 45 - len(exported), opening=True)
        self.projects = exported

    # -- one quarter ----------------------------------------------------------------

    def advance(self, as_of: date, previous: date, p: float) -> None:
        rng = self.rng
        in_quarter = (1, (as_of - previous).days + 1)
        kept: list[_Investment] = []
        for investment in self.investments:
            if investment.status in ("closed", "rejected"):
                investment.exports_in_final_state += 1
                if investment.exports_in_final_state >= 2:
                    continue
            elif investment.status == "proposed":
                draw = rng.random()
                if draw < 0.45:
                    investment.status = "approved"
                    investment.approval_date = previous + _days(rng, *in_quarter)
                    count = int(rng.integers(1, 3))
                    self._add_projects(investment, as_of, count, opening=False)
                elif draw < 0.55:
                    investment.status = "rejected"
            elif investment.status == "approved":
                if rng.random() < 0.65:
                    investment.status = "active"
            elif investment.status == "active":
                mature = self._progress(investment, as_of) >= 0.9
                if rng.random() < (0.5 if mature else 0.05):
                    investment.status = "closed"
                    investment.final_spend = self._spend(investment, as_of, p)
                elif rng.random() < 0.12:
                    self._add_projects(investment, as_of, 1, opening=False)
            kept.append(investment)
        self.investments = kept

        new = int(rng.integers(4, 10))
        new = min(max(new, 34 - len(kept)), max(56 - len(kept), 0))
        for _ in range(new):
            if rng.random() < 0.6:
                self.investments.append(self._new_investment("proposed", None))
            else:
                approval = previous + _days(rng, *in_quarter)
                investment = self._new_investment("approved", approval)
                self.investments.append(investment)
                self._add_projects(investment, as_of, 1, opening=False)
        count = int(rng.integers(1, 4)) if len(self.projects) < 72 else 0
        self._add_projects(None, as_of, count, opening=False)
        self._advance_projects(as_of, previous, p)

    def _advance_projects(
        self, as_of: date, previous: date, p: float, *, opening: bool = False
    ) -> None:
        rng = self.rng
        kept: list[_Project] = []
        for prj in self.projects:
            if prj.status in ("completed", "cancelled"):
                prj.exports_in_final_state += 1
                if prj.exports_in_final_state >= 2:
                    continue
                kept.append(prj)
                continue
            if prj.status == "not_started":
                if prj.planned_start <= as_of and (opening or rng.random() < 0.9):
                    prj.status = "active"
            elif prj.status == "on_hold":
                draw = rng.random()
                prj.status = "active" if draw < 0.5 else "on_hold"
                if 0.5 <= draw < 0.65:
                    prj.status = "cancelled"
                    prj.ended_on = previous + _days(rng, 1, (as_of - previous).days + 1)
            elif prj.status == "active":
                draw = rng.random()
                if draw < 0.02 + 0.03 * (1.0 - p):
                    prj.status = "cancelled"
                    prj.ended_on = previous + _days(rng, 1, (as_of - previous).days + 1)
                elif draw < 0.08:
                    prj.status = "on_hold"
            if prj.status == "active":
                due = prj.planned_end - timedelta(days=prj.early_days)
                if prj.late is None and due <= as_of:
                    # A project that fell due while on hold or not started is late.
                    in_time = opening or due > previous
                    prj.late = not (in_time and prj.u["on_time"] < _share(p))
                forecast = self._forecast(prj, p)
                if forecast <= as_of:
                    prj.status = "completed"
                    earliest = forecast if opening else previous + timedelta(days=1)
                    prj.actual_end = max(forecast, earliest)
                    prj.percent = 100.0
                    prj.final_cost = self._cost(prj, p)
                else:
                    span = max((forecast - prj.planned_start).days, 1)
                    elapsed = (as_of - prj.planned_start).days
                    prj.percent = min(max(100.0 * elapsed / span, 1.0), 99.0)
            kept.append(prj)
        self.projects = kept

    # -- maturity-driven values --------------------------------------------------------

    def _progress(self, investment: _Investment, as_of: date) -> float:
        if investment.approval_date is None:
            return 0.0
        elapsed = (as_of - investment.approval_date).days
        return min(max(elapsed / investment.duration_days, 0.05), 0.95)

    def _spend(self, investment: _Investment, as_of: date, p: float) -> float:
        if investment.final_spend is not None:
            return investment.final_spend
        u = investment.u
        within = u["budget"] < _share(p)
        if investment.status in ("proposed", "rejected"):
            return 0.0
        if investment.status == "approved":
            return investment.budget * 0.05 * u["spend"]
        if investment.status == "closed":
            factor = 0.85 + 0.15 * u["spend"] if within else 1.03 + 0.37 * u["spend"]
            return investment.budget * factor
        progress = self._progress(investment, as_of)
        if within:
            return investment.budget * progress * (0.85 + 0.15 * u["spend"])
        # Overruns surface in the second half of a delivery.
        return investment.budget * (0.5 + progress) * (1.0 + 0.25 * u["spend"])

    def _forecast(self, prj: _Project, p: float) -> date:
        """The end date the project's manager would forecast today."""
        on_time = prj.u["on_time"] < _share(p) if prj.late is None else not prj.late
        if on_time:
            return prj.planned_end - timedelta(days=prj.early_days)
        return prj.planned_end + timedelta(days=prj.slip_days)

    def _cost(self, prj: _Project, p: float) -> float:
        if prj.final_cost is not None:
            return prj.final_cost
        u = prj.u["cost"]
        within = u < _share(p)
        if prj.status == "completed":
            factor = 0.85 + 0.15 * u if within else 1.05 + 0.35 * (u - _share(p))
            return prj.budget * factor
        done = prj.percent / 100.0
        if within:
            return prj.budget * done * (0.8 + 0.2 * u)
        return prj.budget * (0.4 + done) * (1.0 + 0.2 * u)

    # -- export rows -------------------------------------------------------------------

    def investment_rows(self, as_of: date, p: float) -> list[Row]:
        dialect = self.unit.dialect
        rows: list[Row] = []
        for inv in self.investments:
            u = inv.u
            decided = inv.status in ("approved", "active", "closed")
            case_share = {"proposed": 0.5 * _share(p), "rejected": 0.2}
            has_case = u["case"] < case_share.get(inv.status, _share(p))
            expected = inv.budget * inv.expected_ratio
            has_expected = has_case or u["expected"] < 0.25
            realized = ""
            reports = inv.status in ("active", "closed") and has_expected
            if reports and u["realized"] < _share(p):
                ratio = min(max(0.45 + 0.55 * p + 0.24 * (u["ratio"] - 0.5), 0.05), 1.3)
                if inv.status == "active":
                    ratio *= self._progress(inv, as_of)
                realized = _money(expected * ratio)
            body = ""
            if decided or inv.status == "rejected":
                formal = FORMAL_BODIES[0 if inv.category == "transform" else 1]
                if u["body"] < _share(p):
                    body = formal
                elif u["body"] < _share(p) + 0.5 * (1.0 - _share(p)):
                    body = INFORMAL_BODY
            rows.append(
                {
                    "investment_id": inv.id,
                    "business_unit": self.unit.name,
                    "name": inv.name,
                    "category": inv.category,
                    "status": inv.status,
                    "approval_date": _iso(inv.approval_date) if decided else "",
                    "budget": _money(inv.budget),
                    "actual_spend": _money(self._spend(inv, as_of, p)),
                    "business_case": dialect.boolean(has_case),
                    "expected_benefit": _money(expected) if has_expected else "",
                    "realized_benefit": realized,
                    "strategic_objective": inv.objective
                    if u["objective"] < _share(p, 0.3, 0.7)
                    else "",
                    "sponsor": inv.sponsor if u["sponsor"] < _share(p, 0.4, 0.6) else "",
                    "decision_body": body,
                }
            )
        return rows

    def project_rows(self, as_of: date, p: float, investment_ids: set[str]) -> list[Row]:
        rng = self.rng
        dialect = self.unit.dialect
        rows: list[Row] = []
        for prj in self.projects:
            u = prj.u
            forecast = self._forecast(prj, p)
            health = ""
            update: date | None = None
            forecast_end: date | None = None
            if prj.status == "active":
                late = forecast > prj.planned_end
                if u["filled"] < _share(p, 0.35, 0.65):
                    if late:
                        health = "red" if u["health"] > 0.6 else "amber"
                    elif u["health"] < 0.4 + 0.55 * p:
                        health = "green"
                    else:
                        health = "red" if u["health"] > 0.95 else "amber"
                if u["fresh"] < _share(p):
                    update = as_of - _days(rng, 0, 30)
                elif rng.random() < 0.65:
                    update = as_of - _days(rng, 45, 121)
                forecast_end = forecast if u["fc"] < _share(p) else None
            elif prj.status == "not_started":
                if u["fresh"] < _share(p, 0.5, 0.5):
                    update = as_of - _days(rng, 5, 60)
                forecast_end = prj.planned_end if rng.random() < 0.5 else None
            elif prj.status == "on_hold":
                health = str(rng.choice(["amber", "red", ""]))
                update = as_of - _days(rng, 20, 150)
                forecast_end = forecast if u["fc"] < _share(p) else None
            elif prj.status == "completed" and prj.actual_end is not None:
                health = "green" if rng.random() < 0.4 else ""
                update = min(prj.actual_end + _days(rng, 0, 15), as_of)
                forecast_end = prj.actual_end if u["fc"] < _share(p) else None
            elif prj.status == "cancelled":
                update = prj.ended_on
            linked = prj.investment_id in investment_ids and u["link"] < _share(p)
            rows.append(
                {
                    "project_id": prj.id,
                    "investment_id": (prj.investment_id or "") if linked else "",
                    "business_unit": self.unit.name,
                    "name": prj.name,
                    "status": prj.status,
                    "health": health,
                    "planned_start": _iso(prj.planned_start),
                    "planned_end": _iso(prj.planned_end),
                    "forecast_end": _iso(forecast_end),
                    "actual_end": _iso(prj.actual_end),
                    "budget": _money(prj.budget),
                    "actual_cost": _money(self._cost(prj, p)),
                    "percent_complete": f"{prj.percent:.0f}",
                    "last_status_update": _iso(update),
                    "architecture_reviewed": dialect.boolean(u["arch"] < _share(p)),
                }
            )
        return rows


def _maturity(unit: SampleUnit, position: int, count: int, rng: Rng) -> float:
    t = position / (count - 1) if count > 1 else 0.0
    anchors = np.linspace(0.0, 1.0, len(unit.trajectory))
    p = float(np.interp(t, anchors, unit.trajectory)) + float(rng.normal(0.0, 0.02))
    return min(max(p, 0.0), 1.0)


def _break_contract(rows: list[Row], rng: Rng) -> None:
    """One negative budget and one duplicated id, nothing else."""
    negative, duplicate, original = (int(i) for i in rng.choice(len(rows), 3, replace=False))
    rows[negative]["budget"] = "-" + rows[negative]["budget"]
    rows[duplicate]["project_id"] = rows[original]["project_id"]


def _write(path: Path, columns: Sequence[str], rows: list[Row], dialect: ExportDialect) -> None:
    with path.open("w", encoding=dialect.encoding, newline="") as handle:
        writer = csv.writer(
            handle, delimiter=dialect.delimiter, lineterminator=dialect.lineterminator
        )
        writer.writerow(columns)
        writer.writerows([row[column] for column in columns] for row in rows)


def generate_sample_evidence(
    out_dir: Path, *, cycles: Sequence[str] = DEMO_CYCLES, seed: int = 2026
) -> list[Path]:
    """Write every unit's investments and projects exports for each cycle under out_dir.

    Files land in `out_dir/<cycle>/investments-<unit>.csv` and `projects-<unit>.csv`;
    the same seed gives byte-identical files. Returns the paths written, sorted.
    """
    ordered = sorted(cycles, key=parse_cycle_id)
    if len(set(ordered)) != len(ordered):
        raise ConfigurationError(f"cycles {list(cycles)} name a cycle twice; list each once")
    investment_columns = kind_named("investments").field_names
    project_columns = kind_named("projects").field_names
    written: list[Path] = []
    for index, unit in enumerate(SAMPLE_UNITS):
        rng = np.random.default_rng([seed, index])
        portfolio = _Portfolio(unit, rng)
        previous: date | None = None
        for position, cycle in enumerate(ordered):
            as_of = cycle_as_of(cycle)
            p = _maturity(unit, position, len(ordered), rng)
            if previous is None:
                portfolio.open(as_of, p)
            else:
                portfolio.advance(as_of, previous, p)
            previous = as_of
            investments = portfolio.investment_rows(as_of, p)
            ids = {row["investment_id"] for row in investments}
            projects = portfolio.project_rows(as_of, p, ids)
            folder = out_dir / cycle
            folder.mkdir(parents=True, exist_ok=True)
            projects_path = folder / f"projects-{unit.slug}.csv"
            if (cycle, projects_path.name) == BAD_SAMPLE:
                _break_contract(projects, np.random.default_rng([seed, len(SAMPLE_UNITS)]))
            investments_path = folder / f"investments-{unit.slug}.csv"
            _write(investments_path, investment_columns, investments, unit.dialect)
            _write(projects_path, project_columns, projects, unit.dialect)
            written += [investments_path, projects_path]
    return sorted(written)
