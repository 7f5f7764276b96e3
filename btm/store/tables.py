"""The SQLModel tables, and one plain table per evidence kind.

Small tables (cycles, batches, scores, deliveries, phases, initiatives) are SQLModel
classes. Evidence rows go in and out in bulk, never as ORM objects: each accepted batch's
typed rows are one Parquet document in `evidence_rows` (written and read by
`btm.store.rows`). The plain per-kind tables, built from the kind definitions the reader
uses, held the rows before revision 0009 moved them there; they stay in the schema as
each kind's typed columns, and as what a downgrade moves the rows back into.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

from btm.evidence.kinds import EvidenceKind, load_kinds


def utcnow() -> datetime:
    return datetime.now(UTC)


class Cycle(SQLModel, table=True):
    id: str = Field(primary_key=True, description="e.g. 2026-Q1")
    as_of: date
    started_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = None
    rubric_version: str | None = Field(
        default=None,
        description="the rubric of the cycle's original scoring; a rescore under another "
        "version keeps it",
    )
    evidence_key: str | None = Field(
        default=None,
        description="digest of the batches and rubric the original scores were computed on",
    )
    target_state: str | None = Field(
        default=None, description="the target state the original scores' gaps are measured to"
    )


class EvidenceBatch(SQLModel, table=True):
    """One payload of one source, kept once per content: an unchanged payload fetched
    again is the same batch. `cycle_id` is the cycle that first gathered it."""

    __tablename__ = "evidence_batch"
    __table_args__ = (
        sa.UniqueConstraint(
            "source", "part", "sha256", name="uq_evidence_batch_source_part_sha256"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(foreign_key="cycle.id", index=True)
    source: str
    part: str = Field(description="file name within the source, or the source's one payload")
    connector: str = "files"
    kind: str
    file_name: str
    sha256: str = Field(index=True)
    archive_path: str
    rows: int = 0
    status: str = Field(description="accepted or quarantined")
    problems: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    validation: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON), description="the structured validation result"
    )
    fetched_at: datetime = Field(default_factory=utcnow)


class EvidenceRows(SQLModel, table=True):
    """One accepted batch's typed rows as a Parquet document: a million rows store in a
    fraction of a second and some 20 MB, where one SQL row per evidence row cost seconds.
    Read back whole, or by column (`btm.store.rows`)."""

    __tablename__ = "evidence_rows"

    batch_id: int = Field(foreign_key="evidence_batch.id", primary_key=True)
    kind: str = Field(index=True)
    rows: int = Field(description="how many evidence rows the document holds")
    data: bytes = Field(
        sa_column=Column(sa.LargeBinary, nullable=False),
        description="the rows as Parquet: row_number, then the kind's fields",
    )


class SourceFetch(SQLModel, table=True):
    """One attempt to fetch one source in a cycle: the payload it brought (one row per
    payload), or the error that stopped it (one row with no batch). A fetched row says how
    the fetch went: full or incremental, from which moment, and the watermark it leaves,
    which the source's next incremental fetch in the cycle asks from once its batch is
    accepted (btm.evidence.incremental)."""

    __tablename__ = "source_fetch"

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(foreign_key="cycle.id", index=True)
    source: str = Field(index=True)
    attempt: str = Field(description="groups the rows of one fetch of the source")
    connector: str
    part: str | None = None
    batch_id: int | None = Field(default=None, foreign_key="evidence_batch.id")
    ok: bool
    error: str | None = None
    rows: int = 0
    latency_ms: float = 0.0
    fetched_at: datetime = Field(default_factory=utcnow)
    mode: str | None = Field(
        default=None, description="full or incremental (FetchMode); None for a failed fetch"
    )
    since: datetime | None = Field(
        default=None, description="incremental: the records updated from this moment on"
    )
    watermark: datetime | None = Field(
        default=None,
        description="where the next incremental fetch asks from: this fetch's start less "
        "the source's overlap; None for a source that always fetches in full",
    )
    settings_sha256: str | None = Field(
        default=None, description="digest of the source's settings the fetch ran on"
    )
    delta_sha256: str | None = Field(
        default=None, description="incremental: the archived delta merged onto the snapshot"
    )


class Score(SQLModel, table=True):
    """One unit x capability x dimension of a cycle, under one rubric version: a cycle keeps
    its original set and every set it was rescored into."""

    __table_args__ = (
        sa.UniqueConstraint(
            "cycle_id",
            "rubric_version",
            "unit",
            "capability",
            "dimension",
            name="uq_score_cycle_id_rubric_version_unit_capability_dimension",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(foreign_key="cycle.id", index=True)
    unit: str
    capability: str
    dimension: str
    level: int | None = None
    target_level: int | None = Field(default=None, description="the level the target state asks")
    gap: int | None = Field(default=None, description="target_level - level; None when unknown")
    basis: str | None = Field(
        default=None,
        description="system, blended, survey, not_applicable or unknown; None on a score "
        "stored before rubric 2027.1 (read from its trace)",
    )
    confidence: float | None = Field(
        default=None, description="0-1, from the coverage, sample and age of its evidence"
    )
    says: int | None = Field(default=None, description="the level the unit's survey says")
    stale: bool = Field(default=False, description="a rule behind it judged stale evidence")
    rubric_version: str
    trace: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    evidence_hashes: list[str] = Field(default_factory=list, sa_column=Column(JSON))


class DeliveryState(StrEnum):
    """Where one recipient's email stands. `sending` is written before the SMTP
    conversation (or the outbox write) and replaced by its outcome after: a row still
    `sending` means the run stopped in between, and nobody knows whether it arrived."""

    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # the server refused it, or could not be reached: nothing delivered


class Delivery(SQLModel, table=True):
    """The ledger: one row per cycle x audience x recipient, holding the latest attempt.
    A resend after an unknown outcome reuses `message_id`, so mail clients collapse the
    duplicate."""

    __table_args__ = (sa.UniqueConstraint("cycle_id", "audience", "recipient"),)

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(foreign_key="cycle.id", index=True)
    audience: str
    recipient: str
    channel: str = Field(description="outbox or smtp")
    location: str | None = None
    state: str = Field(
        default=DeliveryState.SENT,
        sa_column_kwargs={"server_default": DeliveryState.SENT.value},
        description="sending, sent or failed (DeliveryState)",
    )
    message_id: str | None = Field(
        default=None, description="the Message-ID of the attempt, kept for a resend"
    )
    attempted_at: datetime | None = Field(
        default_factory=utcnow, description="when the latest attempt began"
    )
    delivered_at: datetime | None = Field(
        default_factory=utcnow, description="when it was sent; None until then"
    )
    error: str | None = Field(default=None, description="why the latest attempt failed")


class RunFailure(SQLModel, table=True):
    """A flow run that failed or crashed, and where its ops alert went: appended by the
    flows' failure hook, the latest shown by `btm status`."""

    __tablename__ = "run_failure"

    id: int | None = Field(default=None, primary_key=True)
    flow_name: str
    run_name: str
    state: str = Field(description="Failed or Crashed")
    detail: str = Field(description="the run's state message: why it failed")
    link: str = Field(description="the run in the Prefect UI, or its id")
    alert_path: str | None = Field(
        default=None, description="the alert kept in the outbox; None without BTM_OPS_EMAIL"
    )
    alert_emailed: bool = Field(
        default=False, description="whether the alert also went out by SMTP"
    )
    alert_error: str | None = Field(
        default=None, description="why the alert could not be emailed or kept"
    )
    failed_at: datetime = Field(default_factory=utcnow, index=True)


class PhaseChange(SQLModel, table=True):
    """One step of a cycle through assess, design, execute, improve and closed: who moved
    it, when and why. Appended, never updated: the cycle's phase is its latest row."""

    __tablename__ = "phase_change"

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(foreign_key="cycle.id", index=True)
    phase: str
    entered_at: datetime = Field(default_factory=utcnow)
    actor: str = Field(description="a person, or the flow run that moved it")
    reason: str


class Initiative(SQLModel, table=True):
    """An improvement initiative of a cycle's backlog: lift one capability x dimension of
    the enterprise to a target level by a due cycle."""

    id: str = Field(primary_key=True, description="<cycle>-<capability>-<dimension>")
    cycle_id: str = Field(foreign_key="cycle.id", index=True)
    rank: int
    priority: float
    capability: str
    dimension: str
    level: int | None = Field(
        default=None, description="the lowest unit level of the cell when proposed"
    )
    target_level: int
    gap: float = Field(description="the mean of the units' gaps to target when proposed")
    owner: str
    due_cycle: str
    linked_projects: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    status: str = Field(
        default="proposed",
        description="proposed, approved, deferred, dropped, done or overdue (InitiativeStatus)",
    )
    title: str
    guidance: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    approver: str | None = Field(default=None, description="who approves it (its sponsor)")
    cost_estimate: float | None = Field(default=None, description="estimated cost, in currency")
    effort_days: float | None = Field(default=None, description="estimated effort, person-days")
    expected_gain: float | None = Field(
        default=None, description="the levels it is expected to lift the cell by"
    )
    priority_basis: str = Field(default="", description="the priority's terms, in words")
    approved_in: str | None = Field(default=None, description="the backlog it was approved in")
    judged_in: str | None = Field(default=None, description="the scoring that last judged it")
    carried_into: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON),
        description="the later cycles' backlogs it was carried into, oldest first",
    )
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    def in_backlog_of(self, cycle_id: str) -> bool:
        return self.cycle_id == cycle_id or cycle_id in self.carried_into


class InitiativeDecision(SQLModel, table=True):
    """One decision on an initiative, in the backlog of `cycle_id`: the PMO's approve,
    defer or drop, the gate's approval, a carry-over into a later backlog, or the review's
    judgement (done, overdue); who and why."""

    __tablename__ = "initiative_decision"

    id: int | None = Field(default=None, primary_key=True)
    initiative_id: str = Field(foreign_key="initiative.id", index=True)
    cycle_id: str = Field(foreign_key="cycle.id", index=True)
    decision: str = Field(description="approved, deferred, dropped, carried, done or overdue")
    actor: str
    reason: str
    decided_at: datetime = Field(default_factory=utcnow)


class InitiativePulse(SQLModel, table=True):
    """One monthly reading of an initiative from its linked projects' evidence."""

    __tablename__ = "initiative_pulse"

    id: int | None = Field(default=None, primary_key=True)
    initiative_id: str = Field(foreign_key="initiative.id", index=True)
    as_of: date
    state: str = Field(description="on track, at risk, off track, done or no evidence")
    progress: float | None = Field(default=None, description="0-100, from percent complete")
    findings: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    projects: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    cell: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSON),
        description="the targeted cell recomputed from the latest accepted evidence",
    )
    pulsed_at: datetime = Field(default_factory=utcnow)


class CycleReview(SQLModel, table=True):
    """The improve phase's comparison of a cycle with the next cycle's levels."""

    __tablename__ = "cycle_review"

    cycle_id: str = Field(foreign_key="cycle.id", primary_key=True)
    compared_with: str = Field(foreign_key="cycle.id")
    review: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    reviewed_at: datetime = Field(default_factory=utcnow)


class SurveyCampaign(SQLModel, table=True):
    """A cycle's self-assessment campaign: one per cycle, open until `closes_on`. Its id
    is written into every questionnaire, so that a returned workbook is traced back."""

    __tablename__ = "survey_campaign"

    id: str = Field(primary_key=True)
    cycle_id: str = Field(foreign_key="cycle.id", unique=True)
    opened_at: datetime = Field(default_factory=utcnow)
    closes_on: date = Field(description="the last day answers are taken")
    bank_version: str = Field(description="the question bank the questionnaires were built from")


class SurveyInvitee(SQLModel, table=True):
    """A respondent invited to a campaign, as invited (unit, role, name and email then),
    and where their questionnaire is kept. The emails are in the delivery ledger."""

    __tablename__ = "survey_invitee"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "respondent_id"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(foreign_key="survey_campaign.id", index=True)
    respondent_id: str
    unit: str
    role: str
    name: str
    email: str
    workbook: str = Field(description="the questionnaire sent, under BTM_HOME/survey/<cycle>/")
    added_at: datetime = Field(default_factory=utcnow)


_SQL_TYPES: dict[str, Any] = {
    "text": sa.Text,
    "decimal": sa.Float,
    "date": sa.Date,
    "boolean": sa.Boolean,
}


def _evidence_table(kind: EvidenceKind) -> sa.Table:
    name = f"evidence_{kind.name}"
    if name in SQLModel.metadata.tables:
        return SQLModel.metadata.tables[name]
    return sa.Table(
        name,
        SQLModel.metadata,
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("evidence_batch.id"), index=True),
        sa.Column("row_number", sa.Integer),
        *(sa.Column(f.name, _SQL_TYPES[f.type]) for f in kind.fields),
    )


EVIDENCE_TABLES = {name: _evidence_table(kind) for name, kind in load_kinds().items()}
