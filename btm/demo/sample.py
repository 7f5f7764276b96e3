"""Sample evidence for a fictional bank, written as its tools' quarterly exports.

The demo, the tests and the docs need evidence that behaves like the real thing: one
portfolio exported quarter after quarter, business units that mature at different
speeds, and the quirks real exports carry (a byte-order mark, `;` delimiters, five
spellings of a boolean, quoted commas, quotes and newlines in names). Each unit's
portfolio is simulated through the cycles from one seed; a unit's maturity p(cycle)
decides how often the fields the scoring reads are filled and good. One file,
`BAD_SAMPLE`, breaks the evidence contract on purpose so the quarantine has work to do.
Beside the PMO's CSV files, each quarter has a decision log (JSON), a risk register
(XLSX) and a self-assessment survey (CSV), and one SQLite database holds the application
portfolio tool's quarterly snapshots under its own, non-canonical column names. Four more
tools export each quarter under their own headers and value spellings, which
`btm/data/demo-sources.yaml` maps onto the canonical kinds: the OKR tool's objectives
(JSON), the planning system's budget lines (an Anaplan-style CSV), the resource tool's
requests and capacity pools (XLSX) and procurement's supplier register (XLSX). Their
records carry over from quarter to quarter, with some churn, so their trends read as one
enterprise maturing.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import unicodedata
import zipfile
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter

from btm.catalog import load_catalog
from btm.errors import ConfigurationError
from btm.evidence.kinds import kind_named
from btm.fiscal import FiscalCalendar
from btm.survey.respondents import Respondent

JANUARY = FiscalCalendar()  # the sample's default: fiscal years are calendar years
DEMO_CYCLES: tuple[str, ...] = ("2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3")
SAMPLE_SEED = 2026  # every draw of the sample enterprise starts from it
BAD_SAMPLE: tuple[str, str] = ("2026-Q2", "projects-insurance.csv")

# One file of each of these per cycle folder, every unit's records in it.
DECISIONS_FILE = "decisions.json"
RISKS_FILE = "risks.xlsx"
SURVEY_FILE = "survey.csv"
RISK_SHEET = "Risk register"
RISK_HEADERS = (
    "Risk ID",
    "Business Unit",
    "Title",
    "Owner",
    "Severity",
    "Mitigation",
    "Review Date",
    "Status",
)
# The application portfolio tool's database: one snapshot of every unit per cycle, in
# `out_dir/APM_DATABASE`, under the tool's own column names.
APM_DATABASE = "apm.sqlite"
APM_TABLE = "app_inventory"
APM_COLUMNS: dict[str, str] = {
    "app_code": "application_id",
    "division": "business_unit",
    "app_name": "name",
    "app_owner": "owner",
    "lifecycle": "lifecycle_decision",
    "ea_compliant": "standards_compliant",
    "run_cost_eur": "annual_cost",
    "business_capability": "capability_served",
    "last_review": "last_reviewed",
}
APM_SNAPSHOT_COLUMN = "snapshot"
APM_LIFECYCLES: dict[str, str] = {
    "Invest": "invest",
    "Tolerate": "tolerate",
    "Migrate": "migrate",
    "Eliminate": "eliminate",
}

# The planning tools' exports: one file of each per cycle folder, every unit's records in
# it, under the tool's own headers (tool header -> canonical field) and value spellings.
OBJECTIVES_FILE = "okrs.json"  # the OKR tool's JSON export
BUDGETS_FILE = "budget-plan.csv"  # the planning system's (Anaplan-style) CSV export
RESOURCES_FILE = "resource-plan.xlsx"  # the resource tool's (Planview-style) workbook
VENDORS_FILE = "vendor-register.xlsx"  # procurement's supplier register
PLANNING_FILES = (OBJECTIVES_FILE, BUDGETS_FILE, RESOURCES_FILE, VENDORS_FILE)
OBJECTIVE_KEYS: dict[str, str] = {
    "id": "objective_id",
    "team.name": "business_unit",
    "title": "title",
    "owner.name": "owner",
    "timePeriod": "period",
    "state": "status",
    "alignment.capabilities": "capabilities",
    "progress": "progress",
}
OBJECTIVE_STATES: dict[str, str] = {
    "Draft": "draft",
    "On track": "active",
    "At risk": "active",
    "Behind": "active",
    "Achieved": "achieved",
    "Missed": "missed",
    "Discarded": "dropped",
}
BUDGET_COLUMNS: dict[str, str] = {
    "Line ID": "budget_line_id",
    "Cost Centre Division": "business_unit",
    "Version Period": "period",
    "Line Item": "line_name",
    "Investment Category": "category",
    "Plan Amount": "planned",
    "Approved Amount": "approved",
    "Actuals YTD": "actual",
    "Budget Holder": "owner",
    "Strategic Objective": "strategic_objective",
    "Data Source": "planning_system",
}
BUDGET_CATEGORIES: dict[str, str] = {
    "Run the Bank": "run",
    "Grow the Bank": "grow",
    "Transform the Bank": "transform",
}
PLANNING_SYSTEM = "Anaplan"
# The planning system's data source of a line loaded from a spreadsheet: no system at all.
SPREADSHEET_UPLOAD = "Excel upload"
RESOURCE_SHEET = "Resource plan"
RESOURCE_COLUMNS: dict[str, str] = {
    "ID": "resource_id",
    "Organisation": "business_unit",
    "Type": "record_type",
    "Role": "role",
    "Demand (FTE)": "demand",
    "Allocated (FTE)": "allocated",
    "Actual (FTE)": "actual",
    "Status": "status",
    "Owner": "owner",
    "Start": "start_date",
    "Finish": "end_date",
    "Managed In": "tool",
}
RESOURCE_TYPES: dict[str, str] = {"Resource Request": "request", "Capacity Pool": "pool"}
REQUEST_LABELS: dict[str, str] = {
    "requested": "Submitted",
    "planned": "Soft Booked",
    "allocated": "Hard Booked",
    "closed": "Completed",
    "rejected": "Declined",
}
POOL_LABELS: dict[str, str] = {"active": "Open", "closed": "Closed"}
RESOURCE_STATUSES: dict[str, str] = {
    label: status for labels in (REQUEST_LABELS, POOL_LABELS) for status, label in labels.items()
}
RESOURCE_TOOL = "Planview"
VENDOR_SHEET = "Supplier register"
VENDOR_COLUMNS: dict[str, str] = {
    "Supplier Number": "vendor_id",
    "Business Unit": "business_unit",
    "Supplier Name": "name",
    "Segment": "tier",
    "Relationship Manager": "relationship_owner",
    "Last Strategy Review": "last_strategy_review",
    "Scorecard (%)": "performance_score",
    "Contract End": "contract_end",
    "Contract in CLM": "in_register",
    "Supplier Status": "preference",
}
TIER_LABELS: dict[str, str] = {
    "strategic": "Tier 1 - Strategic",
    "tactical": "Tier 2 - Tactical",
    "commodity": "Tier 3 - Commodity",
}
VENDOR_TIERS: dict[str, str] = {label: tier for tier, label in TIER_LABELS.items()}
VENDOR_PREFERENCES: dict[str, str] = {"Preferred": "preferred", "Approved": "standard"}

Row = dict[str, str]
Record = dict[str, str | None]
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
    # The business capabilities its applications serve, as the APM tool names them.
    business_capabilities: tuple[str, ...]


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
        ("Customer onboarding", "Payments", "Cards", "Lending", "Deposits", "Fraud prevention"),
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
        (
            "Customer onboarding",
            "Lending",
            "Payments",
            "Trade finance",
            "Cash management",
            "Credit risk",
        ),
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
        (
            "Customer onboarding",
            "Investment advice",
            "Portfolio management",
            "Client reporting",
            "Custody",
        ),
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
        (
            "Underwriting",
            "Policy administration",
            "Claims",
            "Distribution",
            "Pricing",
            "Fraud prevention",
        ),
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
        (
            "Finance",
            "HR",
            "Procurement",
            "IT operations",
            "Data and analytics",
            "Regulatory reporting",
        ),
    ),
)
# The APM tool names a unit by its display name: the value mapping the demo needs.
UNIT_SLUGS: dict[str, str] = {unit.name: unit.slug for unit in SAMPLE_UNITS}
# The planning system names a unit by its cost-centre division: another value mapping.
PLAN_DIVISIONS: dict[str, str] = {f"{unit.code} - {unit.name}": unit.name for unit in SAMPLE_UNITS}


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


# -- decision log, risk register, survey, application portfolio ---------------------------

# Each new kind draws from its own stream per unit, so adding one never shifts the draws
# of the PMO exports above (and their bytes stay as they were).
_DECISIONS, _RISKS, _SURVEY, _APPLICATIONS = 1, 2, 3, 4
_OBJECTIVES, _BUDGETS, _RESOURCES, _VENDORS = 5, 6, 7, 8
_RESPONDENTS = 9

Cells = tuple[str | int | float | datetime | None, ...]
Document = dict[str, Any]  # a JSON record, nested as the tool writes it


def _kind_rng(seed: int, index: int, tag: int) -> Rng:
    return np.random.default_rng([seed, index, tag])


def _pick(u: float, options: Sequence[str], weights: Sequence[float]) -> str:
    """The option whose band of the cumulative weights holds the point u in [0, 1)."""
    edges = np.cumsum(weights) / float(sum(weights))
    return options[min(int(np.searchsorted(edges, u, side="right")), len(options) - 1)]


BODY_TYPES = ("participative", "centralized", "needs_based")
# Per body type: the body for investments, programmes and strategy; then the one for
# policy and architecture.
DECISION_BODIES: dict[str, tuple[str, str]] = {
    "participative": (FORMAL_BODIES[0], "Architecture Review Board"),
    "centralized": (FORMAL_BODIES[1], "CIO office"),
    "needs_based": (INFORMAL_BODY, "Working group"),
}
DECISION_OBJECTS = ("investment", "program", "policy", "strategy", "architecture")
DECISION_TITLES: dict[str, tuple[str, ...]] = {
    "investment": (
        "Approve funding for {subject}",
        "Defer the {subject} business case",
        "Release the next budget tranche for {subject}",
        "Reject the {subject} change request",
    ),
    "program": (
        "Re-baseline the {subject} programme",
        "Merge the {subject} workstreams",
        "Pause the {subject} programme",
    ),
    "policy": (
        "Adopt a cloud-first hosting policy for {subject}",
        "Set data retention rules for {subject}",
        "Require an architecture review for {subject} changes",
    ),
    "strategy": (
        "Make {subject} a priority for next year",
        "Endorse the target operating model for {subject}",
        "Outsource {subject} operations",
    ),
    "architecture": (
        "Approve the target architecture for {subject}",
        "Move {subject} onto the enterprise API gateway",
        "Retire the legacy {subject} platform",
    ),
}
RATIONALES = (
    'Ranked against the other proposals on benefit, risk and fit with "{objective}"',
    "Options compared on cost, risk and architecture fit; the business case holds",
    "Needed to {goal}; the delivery plan and its risks were accepted",
    "Cheaper to run over five years, and the supplier meets our standards",
)
_DECISION_LATENTS = ("body", "object", "rationale", "blank")


@dataclass
class _Simulated:
    """One unit's records of one kind, simulated quarter after quarter from its own
    random stream: each record draws its latent properties from the class's LATENTS,
    offset once per unit so that units differ."""

    LATENTS: ClassVar[tuple[str, ...]] = ()
    unit: SampleUnit
    rng: Rng
    count: int = field(default=0, kw_only=True)
    offsets: tuple[float, ...] = field(default=(), kw_only=True)

    def __post_init__(self) -> None:
        self.offsets = tuple(self.rng.random(len(self.LATENTS)).tolist())

    def latents(self) -> dict[str, float]:
        """The latent uniforms of the record numbered `count`."""
        return _uniforms(self.offsets, self.LATENTS, self.count)


@dataclass
class _DecisionLog(_Simulated):
    """One unit's governance decisions, a new batch each quarter."""

    LATENTS: ClassVar[tuple[str, ...]] = _DECISION_LATENTS

    def records(self, cycle: str, p: float, calendar: FiscalCalendar) -> list[Record]:
        start = calendar.start(cycle)
        span = (calendar.as_of(cycle) - start).days + 1
        count = int(self.rng.integers(15, 41))
        days = sorted(int(d) for d in self.rng.integers(0, span, count))
        return [self._decision(start + timedelta(days=d), p) for d in days]

    def _decision(self, day: date, p: float) -> Record:
        rng = self.rng
        self.count += 1
        u = self.latents()
        participative = _share(p, 0.05, 0.7)
        centralized = (1.0 - participative) * (0.3 + 0.4 * p)
        body_type = _pick(
            u["body"], BODY_TYPES, (participative, centralized, 1.0 - participative - centralized)
        )
        # Immature units bring mostly single investments to a decision.
        on_investment = min(max(0.85 - 0.6 * p, 0.2), 0.9)
        rest = 1.0 - on_investment
        weights = (on_investment, 0.3 * rest, 0.2 * rest, 0.2 * rest, 0.3 * rest)
        decision_object = _pick(u["object"], DECISION_OBJECTS, weights)
        subject = _lower_first(str(rng.choice(self.unit.subjects)))
        title = str(rng.choice(DECISION_TITLES[decision_object])).format(subject=subject)
        rationale: str | None = "" if u["blank"] < 0.5 else None
        if u["rationale"] < _share(p, 0.1, 0.8):
            objective = str(rng.choice(STRATEGIC_OBJECTIVES))
            goal = objective[0].lower() + objective[1:]
            rationale = str(rng.choice(RATIONALES)).format(objective=objective, goal=goal)
        by_policy = int(decision_object in ("policy", "architecture"))
        return {
            "decision_id": f"DEC-{self.unit.code}-{self.count:04d}",
            "business_unit": self.unit.name,
            "title": _with_quirk(rng, title),
            "decision_body": DECISION_BODIES[body_type][by_policy],
            "body_type": body_type,
            "decision_object": decision_object,
            "decision_date": _iso(day),
            "rationale": rationale,
        }


SEVERITIES = ("low", "medium", "high", "critical")
RISK_STATUSES = ("open", "mitigating", "accepted", "closed")
# A risk and the mitigation that answers it.
RISKS: tuple[tuple[str, str], ...] = (
    ("Vendor lock-in on {subject}", "Qualify a second supplier before the contract renewal"),
    ("Key-person dependency in {subject}", "Train a deputy and write the runbooks down"),
    ("End-of-support software in {subject}", "Upgrade booked in the next release train"),
    (
        "Poor data quality in {subject}",
        "Data quality rules in the nightly load, each with an owner",
    ),
    ("Cyber attack on {subject}", "Quarterly penetration test; critical patches within 14 days"),
    ("Unplanned outage of {subject}", "Fail-over tested twice a year"),
    ("Late delivery of {subject} changes", "Weekly steering review of the plan and its buffer"),
    (
        "Regulatory findings on {subject}",
        "Remediation plan agreed with Compliance, tracked monthly",
    ),
)
_RISK_LATENTS = ("owner", "mitigation", "review", "accepted")


@dataclass
class _Risk:
    id: str
    title: str
    mitigation: str
    owner: str
    severity: str
    u: dict[str, float]
    reviewed: date | None = None
    closed: bool = False


@dataclass
class _RiskRegister(_Simulated):
    """One unit's technology risk register, carried from quarter to quarter."""

    LATENTS: ClassVar[tuple[str, ...]] = _RISK_LATENTS
    risks: list[_Risk] = field(default_factory=list)

    def advance(self, as_of: date, p: float) -> None:
        """Close some risks, raise new ones, and review those the unit keeps current."""
        rng = self.rng
        opening = self.count == 0
        # A closed risk shows in one export, then leaves the register.
        self.risks = [risk for risk in self.risks if not risk.closed]
        for risk in self.risks:
            risk.closed = rng.random() < 0.08 + 0.1 * p
        live = len(self.risks) - sum(risk.closed for risk in self.risks)
        added = int(rng.integers(24, 40)) if opening else int(rng.integers(2, 8))
        for _ in range(min(added, max(46 - live, 0))):
            self.risks.append(self._new_risk(as_of, opening=opening))
        for risk in self.risks:
            if not risk.closed and risk.u["review"] < _share(p, 0.1, 0.85):
                # Never on the quarter's last days, so last quarter's reviews are stale now.
                fresh = as_of - _days(rng, 3, 75)
                risk.reviewed = max(fresh, risk.reviewed) if risk.reviewed else fresh

    def _new_risk(self, as_of: date, *, opening: bool) -> _Risk:
        rng = self.rng
        self.count += 1
        title, mitigation = RISKS[int(rng.integers(len(RISKS)))]
        risk = _Risk(
            id=f"RSK-{self.unit.code}-{self.count:04d}",
            title=title.format(subject=_lower_first(str(rng.choice(self.unit.subjects)))),
            mitigation=mitigation,
            owner=str(rng.choice(self.unit.sponsors)),
            severity=str(rng.choice(SEVERITIES, p=[0.3, 0.4, 0.22, 0.08])),
            u=self.latents(),
        )
        if opening and rng.random() < 0.6:
            risk.reviewed = as_of - _days(rng, 120, 400)
        return risk

    def rows(self, p: float) -> list[Cells]:
        rows: list[Cells] = []
        for risk in self.risks:
            u = risk.u
            mitigated = u["mitigation"] < _share(p, 0.15, 0.75)
            status = "mitigating" if mitigated else "open"
            if u["accepted"] < 0.1 and risk.severity in ("low", "medium"):
                status = "accepted"
            reviewed = risk.reviewed
            rows.append(
                (
                    risk.id,
                    self.unit.name,
                    risk.title,
                    risk.owner if u["owner"] < _share(p, 0.2, 0.75) else None,
                    risk.severity,
                    risk.mitigation if mitigated else None,
                    datetime(reviewed.year, reviewed.month, reviewed.day) if reviewed else None,
                    "closed" if risk.closed else status,
                )
            )
        return rows


# Executives rate their unit a little above the people who run the work; the roles are the
# catalogue's (survey_roles).
ROLE_OPTIMISM = {"executive": 0.45, "business": 0.05, "technology": -0.1, "pmo": 0.0}
SURVEY_COMMENTS = (
    "Works for the big investments, less so for the small ones",
    'We follow the "{codename}" playbook, when there is time',
    "Reporting is still manual, in spreadsheets",
    "Roles are clear; decision rights, less so",
    'Depends on the "{codename}" programme, which is late',
    "Better than last quarter",
    "The tools exist, but few people use them",
)
_SURVEY_DIALECT = ExportDialect(",", "utf-8", "\n", "true", "false")


@dataclass
class _SurveyPanel:
    """One unit's self-assessment: a few respondents rate every capability and dimension."""

    unit: SampleUnit
    rng: Rng
    capabilities: tuple[str, ...]
    dimensions: tuple[str, ...]
    roles: tuple[str, ...]
    strengths: dict[tuple[str, str], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A unit is stronger at some capabilities than at others, quarter after quarter.
        by_capability = self.rng.normal(0.0, 0.35, len(self.capabilities)).tolist()
        by_dimension = self.rng.normal(0.0, 0.2, len(self.dimensions)).tolist()
        self.strengths = {
            (capability, dimension): a + b
            for capability, a in zip(self.capabilities, by_capability, strict=True)
            for dimension, b in zip(self.dimensions, by_dimension, strict=True)
        }

    def rows(self, cycle: str, p: float, calendar: FiscalCalendar) -> list[Row]:
        rng = self.rng
        picked = rng.choice(len(self.roles), int(rng.integers(2, 4)), replace=False)
        rows: list[Row] = []
        for role in (self.roles[int(i)] for i in sorted(picked)):
            answered = calendar.as_of(cycle) - _days(rng, 0, 30)
            for (capability, dimension), strength in self.strengths.items():
                level = 1.0 + 4.0 * p + ROLE_OPTIMISM[role] + strength + rng.normal(0.0, 0.45)
                comment = ""
                if rng.random() < 0.12:
                    codename = str(rng.choice(CODENAMES))
                    comment = str(rng.choice(SURVEY_COMMENTS)).format(codename=codename)
                rows.append(
                    {
                        "response_id": f"SRV-{cycle}-{self.unit.code}-{len(rows) + 1:03d}",
                        "respondent_role": role,
                        "business_unit": self.unit.name,
                        "capability": capability,
                        "dimension": dimension,
                        "score": str(min(max(round(float(level)), 1), 5)),
                        "comment": comment,
                        "answered_on": _iso(answered),
                    }
                )
        return rows


def sample_respondents(seed: int = SAMPLE_SEED) -> tuple[Respondent, ...]:
    """Who answers the sample enterprise's self-assessment campaign: two to four people
    per unit, each in another of the survey's roles, named after the unit's sponsors, with
    addresses at example.org. The same seed gives the same people."""
    roles = load_catalog().survey_roles
    respondents = []
    for index, unit in enumerate(SAMPLE_UNITS):
        rng = _kind_rng(seed, index, _RESPONDENTS)
        count = int(rng.integers(2, 5))
        picked = sorted(int(i) for i in rng.choice(len(roles), count, replace=False))
        names = [unit.sponsors[int(i)] for i in rng.permutation(len(unit.sponsors))[:count]]
        respondents += [
            Respondent(unit=unit.name, role=roles[i], name=name, email=_address(name))
            for i, name in zip(picked, names, strict=True)
        ]
    return tuple(respondents)


def _address(name: str) -> str:
    """first.last@example.org, in ASCII: "Jürgen Weiß" is jurgen.weiss@example.org."""
    folded = unicodedata.normalize("NFKD", name.replace("ß", "ss"))
    words = folded.encode("ascii", "ignore").decode("ascii").lower().split()
    return ".".join(words) + "@example.org"


LIFECYCLES = tuple(APM_LIFECYCLES)
APP_SUFFIXES = ("core", "portal", "engine", "hub", "gateway", "data mart", "reporting", "API")
_APPLICATION_LATENTS = ("owner", "decided", "compliant", "mapped", "review")


@dataclass
class _Application:
    code: str
    name: str
    owner: str
    lifecycle: str
    capability: str
    cost: float
    u: dict[str, float]
    reviewed: date | None = None


@dataclass
class _ApplicationPortfolio(_Simulated):
    """One unit's applications as the APM tool holds them, one snapshot per quarter."""

    LATENTS: ClassVar[tuple[str, ...]] = _APPLICATION_LATENTS
    applications: list[_Application] = field(default_factory=list)

    def advance(self, as_of: date, p: float) -> None:
        """Retire some applications marked for elimination, add new ones, review the rest."""
        rng = self.rng
        opening = self.count == 0
        kept: list[_Application] = []
        for app in self.applications:
            if app.lifecycle == "Eliminate" and rng.random() < 0.35:
                continue
            app.cost *= float(rng.uniform(0.97, 1.06))
            kept.append(app)
        self.applications = kept
        added = int(rng.integers(30, 48)) if opening else int(rng.integers(1, 4))
        for _ in range(min(added, max(58 - len(kept), 0))):
            self.applications.append(self._new_application(as_of, opening=opening))
        for app in self.applications:
            if app.u["review"] < _share(p, 0.1, 0.8):
                fresh = as_of - _days(rng, 3, 150)
                app.reviewed = max(fresh, app.reviewed) if app.reviewed else fresh

    def _new_application(self, as_of: date, *, opening: bool) -> _Application:
        rng = self.rng
        self.count += 1
        app = _Application(
            code=f"{self.unit.code}-APP-{self.count:03d}",
            name=f"{rng.choice(self.unit.subjects)} {rng.choice(APP_SUFFIXES)}",
            owner=str(rng.choice(self.unit.sponsors)),
            lifecycle=str(rng.choice(LIFECYCLES, p=[0.3, 0.35, 0.2, 0.15])),
            capability=str(rng.choice(self.unit.business_capabilities)),
            cost=float(120_000.0 * rng.lognormal(0.0, 0.8)),
            u=self.latents(),
        )
        if opening and rng.random() < 0.5:
            app.reviewed = as_of - _days(rng, 200, 700)
        return app

    def rows(self, cycle: str, p: float) -> list[Cells]:
        rows: list[Cells] = []
        for app in self.applications:
            u = app.u
            rows.append(
                (
                    app.code,
                    self.unit.name,
                    app.name,
                    app.owner if u["owner"] < _share(p, 0.2, 0.75) else None,
                    app.lifecycle if u["decided"] < _share(p, 0.05, 0.9) else None,
                    int(u["compliant"] < _share(p, 0.15, 0.75)),
                    round(app.cost, 2),
                    app.capability if u["mapped"] < _share(p, 0.1, 0.8) else None,
                    app.reviewed.isoformat() if app.reviewed else None,
                    cycle,
                )
            )
        return rows


# -- objectives, budget plan, resource plan, vendor register -------------------------------

# A unit's own objectives for a fiscal year, next to the enterprise's strategic ones.
OBJECTIVE_TITLES = (
    "Cut {subject} cycle time by a third",
    "Move {subject} onto the cloud platform",
    "Reach 90% straight-through processing in {subject}",
    "Retire the legacy {subject} stack",
    "Launch the new {subject} to every customer",
    "Halve the incidents in {subject}",
)
_OBJECTIVE_LATENTS = ("owner", "mapped", "ids", "scored", "pace", "achieve")
# The tool's label of each state but active, which it labels by the objective's pace.
_OBJECTIVE_LABELS = {
    status: label for label, status in OBJECTIVE_STATES.items() if status != "active"
}


@dataclass
class _Objective:
    id: str
    title: str
    owner: str
    period: str
    starts: date
    ends: date
    capability_ids: tuple[str, ...]  # the BTM capabilities it needs, by catalogue id
    business_capabilities: tuple[str, ...]  # ... or by the unit's own capability names
    u: dict[str, float]
    status: str
    strategic: bool = False


@dataclass
class _ObjectiveSet(_Simulated):
    """One unit's objectives in the OKR tool: the enterprise's strategic objectives,
    cascaded for the strategy's three years, and the unit's own for each fiscal year."""

    LATENTS: ClassVar[tuple[str, ...]] = _OBJECTIVE_LATENTS
    capability_ids: tuple[str, ...]
    calendar: FiscalCalendar
    objectives: list[_Objective] = field(default_factory=list)

    def active_ids(self) -> list[str]:
        return [o.id for o in self.objectives if o.status == "active"]

    def advance(self, cycle: str, p: float) -> None:
        """Close the objectives whose period ended, activate or drop some, set new ones."""
        rng, calendar = self.rng, self.calendar
        year, quarter = calendar.parse(cycle)
        as_of = calendar.as_of(cycle)
        if self.count == 0:
            starts, ends = calendar.start(f"{year}-Q1"), calendar.as_of(f"{year + 2}-Q4")
            for title in STRATEGIC_OBJECTIVES:
                period = f"FY{year}-FY{year + 2}"
                self._add(title, period, starts, ends, "active", strategic=True)
            for _ in range(int(rng.integers(2, 5))):
                self._add_own(year, "active")
            return
        # An objective in a final state shows in one export, then leaves the tool's view.
        self.objectives = [o for o in self.objectives if o.status in ("draft", "active")]
        for obj in self.objectives:
            if obj.ends < as_of:  # its period ended with the last quarter
                if obj.status == "draft":
                    obj.status = "dropped"
                else:
                    achieved = obj.u["achieve"] < _share(p, 0.1, 0.7)
                    obj.status = "achieved" if achieved else "missed"
            elif obj.status == "draft":
                if obj.starts <= as_of and rng.random() < 0.5 + 0.45 * p:
                    obj.status = "active"
            elif not obj.strategic and rng.random() < 0.03 + 0.07 * (1.0 - p):
                obj.status = "dropped"
        if quarter == 4:  # next year's objectives are drafted in the last quarter
            added, next_year = int(rng.integers(1, 4)), year + 1
        else:
            added, next_year = int(rng.integers(0, 3 if quarter == 1 else 2)), year
        for _ in range(min(added, max(12 - len(self.objectives), 0))):
            status = "draft" if next_year > year or rng.random() > 0.4 + 0.5 * p else "active"
            self._add_own(next_year, status)

    def _add_own(self, year: int, status: str) -> None:
        subject = _lower_first(str(self.rng.choice(self.unit.subjects)))
        title = str(self.rng.choice(OBJECTIVE_TITLES)).format(subject=subject)
        starts, ends = self.calendar.start(f"{year}-Q1"), self.calendar.as_of(f"{year}-Q4")
        self._add(title, f"FY{year}", starts, ends, status)

    def _add(
        self,
        title: str,
        period: str,
        starts: date,
        ends: date,
        status: str,
        *,
        strategic: bool = False,
    ) -> None:
        rng = self.rng
        self.count += 1
        ids = sorted(int(i) for i in rng.choice(len(self.capability_ids), 2, replace=False))
        names = self.unit.business_capabilities
        picked = sorted(
            int(i) for i in rng.choice(len(names), int(rng.integers(1, 3)), replace=False)
        )
        self.objectives.append(
            _Objective(
                id=f"OKR-{self.unit.code}-{self.count:03d}",
                title=title,
                owner=str(rng.choice(self.unit.sponsors)),
                period=period,
                starts=starts,
                ends=ends,
                capability_ids=tuple(self.capability_ids[i] for i in ids),
                business_capabilities=tuple(names[i] for i in picked),
                u=self.latents(),
                status=status,
                strategic=strategic,
            )
        )

    def records(self, cycle: str, p: float) -> list[Document]:
        as_of = self.calendar.as_of(cycle)
        records: list[Document] = []
        for obj in self.objectives:
            u = obj.u
            span = max((obj.ends - obj.starts).days, 1)
            elapsed = min(max((as_of - obj.starts).days / span, 0.0), 1.0)
            # Mature units deliver their key results at the pace they planned.
            pace = min(max(0.5 + 0.6 * p + 0.4 * (u["pace"] - 0.5), 0.1), 1.2)
            progress: float | None = None
            if obj.status == "achieved":
                progress = 100.0
            elif obj.status == "missed":
                progress = min(85.0 * pace, 90.0)
            elif obj.status in ("active", "dropped"):
                progress = min(100.0 * elapsed * pace, 99.0)
            if u["scored"] >= _share(p, 0.1, 0.8):
                progress = None
            state = _OBJECTIVE_LABELS.get(obj.status, "")
            if obj.status == "active":
                state = "On track" if pace >= 0.95 else "At risk" if pace >= 0.75 else "Behind"
            needs = obj.capability_ids if u["ids"] < 0.5 else obj.business_capabilities
            mapped = u["mapped"] < _share(p, 0.1, 0.8)
            records.append(
                {
                    "id": obj.id,
                    "title": obj.title,
                    "team": {"name": self.unit.name},
                    "owner": {"name": obj.owner} if u["owner"] < _share(p, 0.2, 0.75) else None,
                    "timePeriod": obj.period,
                    "state": state,
                    "progress": round(progress) if progress is not None else None,
                    "alignment": {"capabilities": ", ".join(needs) if mapped else None},
                }
            )
        return records


RUN_ITEMS = ("licences", "hosting", "support contract", "run team", "maintenance")
# What a spreadsheet line names instead of an objective: a theme no objective carries.
BUDGET_THEMES = ("Efficiency", "Growth", "Regulatory", "BAU")
_BUDGET_LATENTS = (
    "owner",
    "system",
    "approved",
    "actuals",
    "within",
    "spend",
    "objective",
    "which",
    "theme",
)
_PLANNING_DIALECT = ExportDialect(",", "utf-8", "\r\n", "TRUE", "FALSE")
_CATEGORY_LABELS = {category: label for label, category in BUDGET_CATEGORIES.items()}


@dataclass
class _BudgetLine:
    id: str
    name: str
    category: str
    planned: float
    approval: float  # the share of the plan approved, once it is
    owner: str
    u: dict[str, float]
    objective: str = ""
    new: bool = False  # added this quarter: not approved yet


@dataclass
class _BudgetPlan(_Simulated):
    """One unit's financial plan in the planning system, re-planned each fiscal year."""

    LATENTS: ClassVar[tuple[str, ...]] = _BUDGET_LATENTS
    lines: list[_BudgetLine] = field(default_factory=list)

    def advance(self, quarter: int, objective_ids: Sequence[str]) -> None:
        """Stop some lines, add new ones, re-plan at a new fiscal year, and link each line
        to one of the unit's objectives that is still active."""
        rng = self.rng
        opening = self.count == 0
        kept: list[_BudgetLine] = []
        for line in self.lines:
            line.new = False
            if rng.random() < 0.06:
                continue
            if quarter == 1:
                line.planned = _round_thousands(line.planned * rng.uniform(0.9, 1.12), 10_000)
            kept.append(line)
        self.lines = kept
        added = int(rng.integers(30, 46)) if opening else int(rng.integers(2, 6))
        for _ in range(min(added, max(58 - len(kept), 0))):
            self.lines.append(self._new_line(new=not opening))
        for line in self.lines:
            if line.objective not in objective_ids:
                pick = min(int(line.u["which"] * len(objective_ids)), len(objective_ids) - 1)
                line.objective = objective_ids[pick]

    def _new_line(self, *, new: bool) -> _BudgetLine:
        rng = self.rng
        self.count += 1
        category = str(rng.choice(["run", "grow", "transform"], p=[0.5, 0.3, 0.2]))
        subject = str(rng.choice(self.unit.subjects))
        if category == "run":
            base = f"{subject} {rng.choice(RUN_ITEMS)}"
        else:
            base = f"{rng.choice(VERBS[category])} {_lower_first(subject)}"
        median = {"run": 350_000.0, "grow": 900_000.0, "transform": 2_500_000.0}
        return _BudgetLine(
            id=f"BL-{self.unit.code}-{self.count:04d}",
            name=_with_quirk(rng, base),
            category=category,
            planned=_round_thousands(median[category] * rng.lognormal(0.0, 0.6), 20_000),
            approval=float(rng.uniform(0.85, 1.0)),
            owner=str(rng.choice(self.unit.sponsors)),
            u=self.latents(),
            new=new,
        )

    def rows(self, year: int, quarter: int, p: float) -> list[Row]:
        division = f"{self.unit.code} - {self.unit.name}"
        rows: list[Row] = []
        for line in self.lines:
            u = line.u
            approved: float | None = None
            if not line.new and u["approved"] < _share(p):
                approved = _round_thousands(line.planned * line.approval, 1000)
            actual = ""
            if u["actuals"] < _share(p, 0.3, 0.65):
                base = approved if approved is not None else line.planned
                if u["within"] < _share(p):
                    spent = base * quarter / 4 * (0.75 + 0.25 * u["spend"])
                else:  # committed beyond what was approved
                    spent = base * (1.02 + 0.25 * u["spend"])
                actual = _money(spent)
            objective = ""
            if u["objective"] < _share(p, 0.15, 0.75):
                objective = line.objective
            elif u["theme"] < 0.35:
                objective = BUDGET_THEMES[int(u["theme"] / 0.35 * len(BUDGET_THEMES))]
            in_system = u["system"] < _share(p, 0.1, 0.85)
            rows.append(
                {
                    "Line ID": line.id,
                    "Cost Centre Division": division,
                    "Version Period": f"FY{year}",
                    "Line Item": line.name,
                    "Investment Category": _CATEGORY_LABELS[line.category],
                    "Plan Amount": _money(line.planned),
                    "Approved Amount": _money(approved) if approved is not None else "",
                    "Actuals YTD": actual,
                    "Budget Holder": line.owner if u["owner"] < _share(p, 0.2, 0.75) else "",
                    "Strategic Objective": objective,
                    "Data Source": PLANNING_SYSTEM if in_system else SPREADSHEET_UPLOAD,
                }
            )
        return rows


ROLES = (
    "Business analyst",
    "Solution architect",
    "Java developer",
    "Data engineer",
    "Test analyst",
    "Project manager",
    "Scrum master",
    "UX designer",
    "Cloud engineer",
    "Security analyst",
)
REQUEST_FTE = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
_RESOURCE_LATENTS = ("role", "owner", "tool", "booked", "fit", "used", "match", "dated")


@dataclass
class _Resource:
    id: str
    record_type: str  # request or pool
    role: str
    owner: str
    demand: float
    starts: date
    ends: date | None
    fit: float  # allocated / demand when the allocation fits the demand
    short: float  # ... when it does not: a request short of people, a pool overbooked
    used: float  # actual / allocated when the two match
    off: float  # ... when they do not
    u: dict[str, float]
    status: str


@dataclass
class _ResourcePlan(_Simulated):
    """One unit's demand requests and capacity pools in the resource tool."""

    LATENTS: ClassVar[tuple[str, ...]] = _RESOURCE_LATENTS
    resources: list[_Resource] = field(default_factory=list)

    def advance(self, as_of: date, p: float) -> None:
        """Move requests on (planned, allocated, closed when done), take new ones."""
        rng = self.rng
        opening = self.count == 0
        if opening:
            for role in rng.choice(len(ROLES), int(rng.integers(3, 6)), replace=False):
                self.resources.append(self._new(as_of, ROLES[int(role)], p, pool=True))
        # A closed or rejected request shows in one export, then leaves the plan.
        self.resources = [r for r in self.resources if r.status not in ("closed", "rejected")]
        for res in self.resources:
            if res.record_type == "pool":
                res.demand = max(res.demand + float(rng.integers(-1, 2)), 2.0)
            elif res.ends is not None and res.ends < as_of:
                # done, or demand that lapsed before anyone was allocated to it
                res.status = "closed" if res.status == "allocated" else "rejected"
            elif res.status == "requested":
                draw = rng.random()
                if draw < 0.05:
                    res.status = "rejected"
                elif draw < 0.05 + 0.15 + 0.7 * p:
                    res.status = "planned"
            elif res.status == "planned" and rng.random() < 0.2 + 0.7 * p:
                res.status = "allocated"
        live = sum(r.status not in ("closed", "rejected") for r in self.resources)
        added = int(rng.integers(32, 50)) if opening else int(rng.integers(6, 14))
        added = min(max(added, 32 - live), max(78 - len(self.resources), 0))
        for _ in range(added):
            role = str(rng.choice(ROLES))
            self.resources.append(self._new(as_of, role, p, opening=opening))

    def _new(
        self, as_of: date, role: str, p: float, *, pool: bool = False, opening: bool = False
    ) -> _Resource:
        rng = self.rng
        self.count += 1
        code = self.unit.code
        status = "active" if pool else "requested"
        if opening and not pool:
            # The requests under way at the first export: further on in a mature unit.
            allocated = 0.15 + 0.55 * p
            weights = [(1.0 - allocated) * 0.55, (1.0 - allocated) * 0.45, allocated]
            status = str(rng.choice(["requested", "planned", "allocated"], p=weights))
        elif not pool and rng.random() < 0.7 * p - 0.1:
            status = "planned"  # a mature unit plans demand as it comes in
        if pool:
            starts, ends = as_of - _days(rng, 200, 900), None
        else:
            started = status == "allocated"
            starts = as_of - _days(rng, 10, 200) if started else as_of + _days(rng, -20, 150)
            ends = starts + _days(rng, 60, 400)
        demand = float(rng.integers(4, 21)) if pool else float(rng.choice(REQUEST_FTE))
        low, high = (1.1, 1.3) if pool else (0.4, 0.7)
        off = float(rng.uniform(0.5, 0.75) if rng.random() < 0.5 else rng.uniform(1.25, 1.5))
        return _Resource(
            id=f"POOL-{code}-{self.count:02d}" if pool else f"RR-{code}-{self.count:04d}",
            record_type="pool" if pool else "request",
            role=role,
            owner=str(rng.choice(self.unit.sponsors)),
            demand=demand,
            starts=starts,
            ends=ends,
            fit=float(rng.uniform(0.9, 1.0)),
            short=float(rng.uniform(low, high)),
            used=float(rng.uniform(0.92, 1.05)),
            off=off,
            u=self.latents(),
            status=status,
        )

    def rows(self, p: float) -> list[Cells]:
        rows: list[Cells] = []
        for res in self.resources:
            u = res.u
            pool = res.record_type == "pool"
            if pool:
                booked = u["booked"] < _share(p, 0.3, 0.65)
            else:  # a planned request shows its FTE once the unit books them
                booked = res.status in ("allocated", "closed") or (
                    res.status == "planned" and u["booked"] < _share(p, 0.0, 0.8)
                )
            allocated: float | None = None
            if booked:
                allocated = res.demand * (res.fit if u["fit"] < _share(p) else res.short)
            actual: float | None = None
            running = pool or res.status in ("allocated", "closed")
            if allocated is not None and running and u["used"] < _share(p, 0.2, 0.7):
                actual = allocated * (res.used if u["match"] < _share(p) else res.off)
            dated = pool or u["dated"] < _share(p, 0.4, 0.6)
            labels = POOL_LABELS if pool else REQUEST_LABELS
            rows.append(
                (
                    res.id,
                    self.unit.name,
                    "Capacity Pool" if pool else "Resource Request",
                    res.role if pool or u["role"] < _share(p, 0.25, 0.7) else None,
                    res.demand,
                    round(allocated, 1) if allocated is not None else None,
                    round(actual, 1) if actual is not None else None,
                    labels[res.status],
                    res.owner if u["owner"] < _share(p, 0.2, 0.75) else None,
                    _cell_date(res.starts) if dated else None,
                    _cell_date(res.ends) if dated else None,
                    RESOURCE_TOOL if u["tool"] < _share(p, 0.1, 0.85) else None,
                )
            )
        return rows


def _cell_date(day: date | None) -> datetime | None:
    """A date as a workbook writes a date cell."""
    return datetime(day.year, day.month, day.day) if day is not None else None


VENDOR_NAMES = (
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Tailspin",
    "Litware",
    "Proseware",
    "Woodgrove",
    "Lucerne",
    "Adatum",
    "Wingtip",
    "Relecloud",
    "Coho",
)
VENDOR_TRADES = (
    "Consulting",
    "Software",
    "Cloud Services",
    "Data Systems",
    "Networks",
    "Facilities",
    "Print",
    "Security",
    "Analytics",
    "Telecom",
)
LEGAL_FORMS = (" Ltd", " GmbH", ", Inc.", " S.A.", " plc", " B.V.")
TIERS = tuple(TIER_LABELS)
_VENDOR_LATENTS = (
    "owner",
    "review",
    "scored",
    "level",
    "register",
    "assessed",
    "preferred",
    "dated",
)


@dataclass
class _Vendor:
    id: str
    name: str
    tier: str
    owner: str
    contract_end: date
    noise: float  # the vendor's own deviation from what the unit's maturity implies
    u: dict[str, float]
    reviewed: date | None = None


@dataclass
class _VendorRegister(_Simulated):
    """One unit's suppliers in procurement's register, carried from quarter to quarter."""

    LATENTS: ClassVar[tuple[str, ...]] = _VENDOR_LATENTS
    vendors: list[_Vendor] = field(default_factory=list)

    def advance(self, as_of: date, p: float) -> None:
        """Off-board some suppliers, renew expired contracts, on-board new suppliers, and
        review those the unit keeps current against its strategy."""
        rng = self.rng
        opening = self.count == 0
        kept: list[_Vendor] = []
        for vendor in self.vendors:
            if vendor.tier != "strategic" and rng.random() < 0.05:
                continue
            if vendor.contract_end < as_of:
                vendor.contract_end += timedelta(days=365 * int(rng.integers(1, 4)))
            kept.append(vendor)
        self.vendors = kept
        added = int(rng.integers(18, 34)) if opening else int(rng.integers(0, 3))
        for _ in range(min(max(added, 15 - len(kept)), max(40 - len(kept), 0))):
            self.vendors.append(self._new_vendor(as_of, opening=opening))
        for vendor in self.vendors:
            share = _share(p, 0.1, 0.8)
            if vendor.u["review"] < (share if vendor.tier == "strategic" else 0.4 * share):
                fresh = as_of - _days(rng, 3, 150)
                vendor.reviewed = max(fresh, vendor.reviewed) if vendor.reviewed else fresh

    def _new_vendor(self, as_of: date, *, opening: bool) -> _Vendor:
        rng = self.rng
        self.count += 1
        # Every unit depends on a few strategic suppliers from the start.
        tier = "strategic" if self.count <= 2 else str(rng.choice(TIERS, p=[0.08, 0.37, 0.55]))
        # A strategic supplier runs software, platforms or data the unit depends on.
        trades = VENDOR_TRADES[:4] if tier == "strategic" else VENDOR_TRADES
        name = f"{rng.choice(VENDOR_NAMES)} {rng.choice(trades)}{rng.choice(LEGAL_FORMS)}"
        vendor = _Vendor(
            id=f"SUP-{self.unit.code}-{self.count:04d}",
            name=name,
            tier=tier,
            owner=str(rng.choice(self.unit.sponsors)),
            contract_end=as_of + _days(rng, 30, 1100),
            noise=float(rng.normal(0.0, 3.0)),
            u=self.latents(),
        )
        if opening and rng.random() < 0.5:
            vendor.reviewed = as_of - _days(rng, 200, 700)
        return vendor

    def rows(self, p: float) -> list[Cells]:
        rows: list[Cells] = []
        for vendor in self.vendors:
            u = vendor.u
            strategic = vendor.tier == "strategic"
            in_register = u["register"] < _share(p, 0.15, 0.8)
            score: float | None = None
            if u["scored"] < _share(p, 0.1, 0.8):
                level = 45.0 + 40.0 * p + 30.0 * (u["level"] - 0.5) + vendor.noise
                score = round(min(max(level, 0.0), 100.0), 1)
            preference: str | None = None
            if u["assessed"] < _share(p, 0.1, 0.8):
                preference = "Preferred" if strategic or u["preferred"] < 0.3 else "Approved"
            owned = u["owner"] < _share(p, 0.35 if strategic else 0.2, 0.75)
            dated = in_register or u["dated"] < 0.5
            rows.append(
                (
                    vendor.id,
                    self.unit.name,
                    vendor.name,
                    TIER_LABELS[vendor.tier],
                    vendor.owner if owned else None,
                    _cell_date(vendor.reviewed),
                    score,
                    _cell_date(vendor.contract_end) if dated else None,
                    "Yes" if in_register else "No",
                    preference,
                )
            )
        return rows


# -- writers -----------------------------------------------------------------------------

# Fixed stamps keep the workbook byte-identical from run to run: the pipeline hashes
# files to skip those it has read before.
_WORKBOOK_STAMP = datetime(2026, 1, 1)
_ZIP_STAMP = (2026, 1, 1, 0, 0, 0)
_APM_SCHEMA_COLUMNS = (*APM_COLUMNS, APM_SNAPSHOT_COLUMN)
_APM_SCHEMA = f"""
CREATE TABLE {APM_TABLE} (
    app_code TEXT NOT NULL,
    division TEXT NOT NULL,
    app_name TEXT NOT NULL,
    app_owner TEXT,
    lifecycle TEXT,
    ea_compliant INTEGER NOT NULL,
    run_cost_eur REAL NOT NULL,
    business_capability TEXT,
    last_review TEXT,
    {APM_SNAPSHOT_COLUMN} TEXT NOT NULL,
    PRIMARY KEY ({APM_SNAPSHOT_COLUMN}, app_code)
)
"""


def _write_decisions(path: Path, records: list[Record]) -> None:
    ordered = sorted(records, key=lambda r: (r["decision_date"] or "", r["decision_id"] or ""))
    text = json.dumps(ordered, ensure_ascii=False, indent=2) + "\n"
    path.write_text(text, encoding="utf-8", newline="\n")


def _pinned_zip(raw: bytes) -> bytes:
    """The archive rewritten with one fixed timestamp and origin on every entry."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(raw)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for entry in source.infolist():
            info = zipfile.ZipInfo(entry.filename, date_time=_ZIP_STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            target.writestr(info, source.read(entry))
    return out.getvalue()


def _write_sheet(
    path: Path, title: str, headers: Sequence[str], rows: list[Cells], *, dates: Sequence[str]
) -> None:
    """One worksheet: the headers, then the rows; the `dates` columns show as dates."""
    workbook = Workbook()
    sheet = workbook.worksheets[0]
    sheet.title = title
    sheet.append(tuple(headers))
    for row in rows:
        sheet.append(row)
    for header in dates:
        column = list(headers).index(header) + 1
        for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
            cell.number_format = "yyyy-mm-dd"
    workbook.properties.created = _WORKBOOK_STAMP
    workbook.properties.modified = _WORKBOOK_STAMP
    buffer = io.BytesIO()
    # ExcelWriter rather than Workbook.save, which stamps the time of saving as modified.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).save()
    path.write_bytes(_pinned_zip(buffer.getvalue()))


def _write_okrs(path: Path, records: list[Document], as_of: date) -> None:
    document = {"exportedAt": as_of.isoformat(), "objectives": records}
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    path.write_text(text, encoding="utf-8", newline="\n")


def _write_apm_database(path: Path, rows: list[Cells]) -> None:
    # Recreated from scratch, so what it holds depends on the seed alone.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    columns = ", ".join(_APM_SCHEMA_COLUMNS)
    marks = ", ".join("?" * len(_APM_SCHEMA_COLUMNS))
    insert = f"INSERT INTO {APM_TABLE} ({columns}) VALUES ({marks})"
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute(_APM_SCHEMA)
        connection.executemany(insert, rows)


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


# unit slug -> maturity p at each cycle, in cycle order
Maturity = dict[str, list[float]]


def _write_pmo_exports(
    out_dir: Path, cycles: Sequence[str], seed: int, calendar: FiscalCalendar
) -> tuple[list[Path], Maturity]:
    """Every unit's investments and projects CSV files, and the maturity behind them."""
    investment_columns = kind_named("investments").field_names
    project_columns = kind_named("projects").field_names
    written: list[Path] = []
    maturity: Maturity = {}
    for index, unit in enumerate(SAMPLE_UNITS):
        rng = np.random.default_rng([seed, index])
        portfolio = _Portfolio(unit, rng)
        previous: date | None = None
        maturity[unit.slug] = []
        for position, cycle in enumerate(cycles):
            as_of = calendar.as_of(cycle)
            p = _maturity(unit, position, len(cycles), rng)
            maturity[unit.slug].append(p)
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
    return written, maturity


def _write_governance_exports(
    out_dir: Path, cycles: Sequence[str], seed: int, maturity: Maturity, calendar: FiscalCalendar
) -> list[Path]:
    """Each cycle's decision log, risk register and survey, every unit in one file."""
    catalog = load_catalog()
    units = list(enumerate(SAMPLE_UNITS))
    logs = [_DecisionLog(unit, _kind_rng(seed, i, _DECISIONS)) for i, unit in units]
    registers = [_RiskRegister(unit, _kind_rng(seed, i, _RISKS)) for i, unit in units]
    capabilities, dimensions = tuple(catalog.capability_ids), tuple(catalog.dimension_ids)
    panels = [
        _SurveyPanel(
            unit, _kind_rng(seed, i, _SURVEY), capabilities, dimensions, catalog.survey_roles
        )
        for i, unit in units
    ]
    # The survey tool exports answers by role, not by person: `respondent` is only for
    # the answers of a campaign's returned questionnaires.
    survey_columns = [f for f in kind_named("survey").field_names if f != "respondent"]
    written: list[Path] = []
    for position, cycle in enumerate(cycles):
        decisions: list[Record] = []
        risks: list[Cells] = []
        survey: list[Row] = []
        for log, register, panel in zip(logs, registers, panels, strict=True):
            p = maturity[log.unit.slug][position]
            decisions += log.records(cycle, p, calendar)
            register.advance(calendar.as_of(cycle), p)
            risks += register.rows(p)
            survey += panel.rows(cycle, p, calendar)
        folder = out_dir / cycle
        folder.mkdir(parents=True, exist_ok=True)
        _write_decisions(folder / DECISIONS_FILE, decisions)
        _write_sheet(folder / RISKS_FILE, RISK_SHEET, RISK_HEADERS, risks, dates=("Review Date",))
        _write(folder / SURVEY_FILE, survey_columns, survey, _SURVEY_DIALECT)
        written += [folder / DECISIONS_FILE, folder / RISKS_FILE, folder / SURVEY_FILE]
    return written


def _apm_rows(
    cycles: Sequence[str], seed: int, maturity: Maturity, calendar: FiscalCalendar
) -> list[Cells]:
    """One snapshot of every unit's applications per cycle."""
    portfolios = [
        _ApplicationPortfolio(unit, _kind_rng(seed, i, _APPLICATIONS))
        for i, unit in enumerate(SAMPLE_UNITS)
    ]
    rows: list[Cells] = []
    for position, cycle in enumerate(cycles):
        for portfolio in portfolios:
            p = maturity[portfolio.unit.slug][position]
            portfolio.advance(calendar.as_of(cycle), p)
            rows += portfolio.rows(cycle, p)
    return rows


def _write_planning_exports(
    out_dir: Path, cycles: Sequence[str], seed: int, maturity: Maturity, calendar: FiscalCalendar
) -> list[Path]:
    """Each cycle's OKR export, budget plan, resource plan and supplier register, every
    unit in one file; budget lines link to the objectives of the same export."""
    capability_ids = tuple(load_catalog().capability_ids)
    units = list(enumerate(SAMPLE_UNITS))
    okrs = [
        _ObjectiveSet(unit, _kind_rng(seed, i, _OBJECTIVES), capability_ids, calendar)
        for i, unit in units
    ]
    plans = [_BudgetPlan(unit, _kind_rng(seed, i, _BUDGETS)) for i, unit in units]
    demand = [_ResourcePlan(unit, _kind_rng(seed, i, _RESOURCES)) for i, unit in units]
    suppliers = [_VendorRegister(unit, _kind_rng(seed, i, _VENDORS)) for i, unit in units]
    written: list[Path] = []
    for position, cycle in enumerate(cycles):
        as_of = calendar.as_of(cycle)
        year, quarter = calendar.parse(cycle)
        objectives: list[Document] = []
        budgets: list[Row] = []
        resources: list[Cells] = []
        vendors: list[Cells] = []
        for objective_set, plan, requests, register in zip(
            okrs, plans, demand, suppliers, strict=True
        ):
            p = maturity[objective_set.unit.slug][position]
            objective_set.advance(cycle, p)
            objectives += objective_set.records(cycle, p)
            plan.advance(quarter, objective_set.active_ids())
            budgets += plan.rows(year, quarter, p)
            requests.advance(as_of, p)
            resources += requests.rows(p)
            register.advance(as_of, p)
            vendors += register.rows(p)
        folder = out_dir / cycle
        folder.mkdir(parents=True, exist_ok=True)
        _write_okrs(folder / OBJECTIVES_FILE, objectives, as_of)
        _write(folder / BUDGETS_FILE, list(BUDGET_COLUMNS), budgets, _PLANNING_DIALECT)
        resource_dates = ("Start", "Finish")
        _write_sheet(
            folder / RESOURCES_FILE,
            RESOURCE_SHEET,
            list(RESOURCE_COLUMNS),
            resources,
            dates=resource_dates,
        )
        vendor_dates = ("Last Strategy Review", "Contract End")
        _write_sheet(
            folder / VENDORS_FILE, VENDOR_SHEET, list(VENDOR_COLUMNS), vendors, dates=vendor_dates
        )
        written += [folder / name for name in PLANNING_FILES]
    return written


def generate_sample_evidence(
    out_dir: Path,
    *,
    cycles: Sequence[str] = DEMO_CYCLES,
    seed: int = SAMPLE_SEED,
    calendar: FiscalCalendar = JANUARY,
) -> list[Path]:
    """Write the sample enterprise's evidence for each cycle under out_dir.

    Each cycle's folder `out_dir/<cycle>/` gets every unit's `investments-<unit>.csv` and
    `projects-<unit>.csv`, and one `decisions.json`, `risks.xlsx`, `survey.csv`,
    `okrs.json`, `budget-plan.csv`, `resource-plan.xlsx` and `vendor-register.xlsx` for
    all units; `out_dir/apm.sqlite` holds one application portfolio snapshot per cycle.
    The same seed gives byte-identical files; the quarters' dates follow `calendar`.
    Returns the paths written, sorted.
    """
    ordered = sorted(cycles, key=calendar.parse)
    if len(set(ordered)) != len(ordered):
        raise ConfigurationError(f"cycles {list(cycles)} name a cycle twice; list each once")
    written, maturity = _write_pmo_exports(out_dir, ordered, seed, calendar)
    written += _write_governance_exports(out_dir, ordered, seed, maturity, calendar)
    written += _write_planning_exports(out_dir, ordered, seed, maturity, calendar)
    _write_apm_database(out_dir / APM_DATABASE, _apm_rows(ordered, seed, maturity, calendar))
    written.append(out_dir / APM_DATABASE)
    return sorted(written)
