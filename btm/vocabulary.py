"""The product's closed vocabularies, typed: where code branches on a value, the value is
one of these. Each is a `StrEnum`, so it is stored, printed and compared as its text.
Beside them, the one field every evidence kind shares."""

from __future__ import annotations

from enum import StrEnum

UNIT = "business_unit"  # the business unit a row of evidence belongs to, in every kind


class Phase(StrEnum):
    """A cycle's phase; each step goes to the next one (the BTM Standard's improvement
    cycle, with `closed` after the review)."""

    ASSESS = "assess"
    DESIGN = "design"
    EXECUTE = "execute"
    IMPROVE = "improve"
    CLOSED = "closed"

    @property
    def next(self) -> Phase | None:
        """The phase after this one; None after closed."""
        members = list(Phase)
        at = members.index(self) + 1
        return members[at] if at < len(members) else None


class BatchStatus(StrEnum):
    ACCEPTED = "accepted"
    QUARANTINED = "quarantined"


class PulseState(StrEnum):
    """An initiative's monthly reading, worst first."""

    OFF_TRACK = "off track"
    AT_RISK = "at risk"
    NO_EVIDENCE = "no evidence"
    ON_TRACK = "on track"
    DONE = "done"

    @property
    def needs_attention(self) -> bool:
        return self in (PulseState.OFF_TRACK, PulseState.AT_RISK, PulseState.NO_EVIDENCE)


class InitiativeStatus(StrEnum):
    """Where an initiative stands. The PMO decides approved, deferred or dropped; the
    review, at each scoring, sets done (its target reached) or overdue (its due cycle
    passed without it). Approved and overdue initiatives are open: pulsed, judged and
    carried into each later backlog; so is a deferred one, waiting for a decision."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    DEFERRED = "deferred"
    DROPPED = "dropped"
    DONE = "done"
    OVERDUE = "overdue"

    @property
    def in_flight(self) -> bool:
        """Approved and not yet judged done: pulsed monthly and judged at each scoring."""
        return self in (InitiativeStatus.APPROVED, InitiativeStatus.OVERDUE)

    @property
    def executed(self) -> bool:
        """Approved at some point and not dropped: in flight, overdue or done."""
        return self.in_flight or self is InitiativeStatus.DONE

    @property
    def carried(self) -> bool:
        """Carried into the next cycle's backlog rather than proposed again."""
        return self.in_flight or self is InitiativeStatus.DEFERRED

    @property
    def decided_by_pmo(self) -> bool:
        """A status the PMO writes (a decision); done and overdue are the review's."""
        return self in (
            InitiativeStatus.APPROVED,
            InitiativeStatus.DEFERRED,
            InitiativeStatus.DROPPED,
        )


class Outcome(StrEnum):
    """A rule's outcome on a unit's evidence. Only pass and fail are known outcomes: skip
    (not applicable) and unknown (no valid evidence) never raise a level. Stale is kept for
    traces stored before rubric 2027.1; a rule now judges stale evidence and marks it."""

    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    UNKNOWN = "unknown"
    STALE = "stale"


class Connector(StrEnum):
    """How a source is reached: a drop folder, a SQL query, Jira, a REST API, or the
    folders a campaign's questionnaires are returned to."""

    FILES = "files"
    SQL = "sql"
    JIRA = "jira"
    REST = "rest"
    SURVEY = "survey"


class Basis(StrEnum):
    """What a stored level rests on."""

    SYSTEM = "system"  # system evidence alone
    BLENDED = "blended"  # system evidence, with the survey as a second opinion beside it
    SURVEY = "survey"  # the self-assessment alone: no system evidence judged the cell
    NOT_APPLICABLE = "not_applicable"  # the rubric's applicability condition does not hold
    UNKNOWN = "unknown"  # neither system evidence nor enough survey answers

    @property
    def on_evidence(self) -> bool:
        """True when system evidence judged the level."""
        return self in (Basis.SYSTEM, Basis.BLENDED)
