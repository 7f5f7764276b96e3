"""Gathering: fetch each source, archive what it brought, accept or quarantine each batch.

Provenance first: every payload is archived by sha256 before it is parsed, and every
fetch attempt is recorded (the batch it brought, or the error that stopped it). A batch
is kept once per source, part and content, so an unchanged payload is neither archived
nor validated twice. A cycle then scores on each source's batches from its latest fetch;
a quarantined batch or an unreachable source falls back to that source's last accepted
evidence, marked stale, and the report says so.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence, Set
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from btm import store
from btm.errors import BtmError, EvidenceError
from btm.evidence.connectors import connector_for, since_connector_for
from btm.evidence.files import (
    DEFAULT_LIMITS,
    ArchivedFile,
    ReadLimits,
    apply_mapping,
    archive_payload,
    read_evidence,
    read_payload,
)
from btm.evidence.incremental import (
    DELTA_SUFFIX,
    Increment,
    Snapshot,
    can_fetch_since,
    merge_key,
    merge_onto,
    plan_increment,
)
from btm.evidence.kinds import kind_named, load_kinds
from btm.evidence.notes import DataQualityNote, QualityPoint, QuarantineNote, SourceNote, StaleNote
from btm.evidence.payload import Payload
from btm.evidence.sources import (
    FetchMode,
    Source,
    Templating,
    default_sources,
    load_sources,
    survey_returns,
)
from btm.fiscal import FiscalCalendar
from btm.resources import SUITES_DIR
from btm.survey.returns import (
    INVITATIONS,
    SURVEY_FOLDER,
    is_returned_questionnaire,
    parsed_questionnaire,
    respondent_key,
)
from btm.timing import stage
from btm.validation import (
    WARNING_PREFIX,
    ValidationOutcome,
    referenced_kinds,
    validate_frame,
)
from btm.vocabulary import UNIT, BatchStatus, Connector

if TYPE_CHECKING:
    import pandas as pd

SOURCES_FILE = "sources.yaml"


def configured_sources(*, sources_file: Path | None, home: Path, inbox: Path) -> list[Source]:
    """The sources file when there is one (explicit, or `BTM_HOME/sources.yaml`); else one
    drop-folder source per kind over the inbox. Once a campaign has been opened in the
    home (`BTM_HOME/survey/`), its returned questionnaires are a source too, unless the
    sources file names its own survey source."""
    path = sources_file or home / SOURCES_FILE
    explicit = sources_file is not None or path.is_file()
    sources = load_sources(path) if explicit else default_sources(inbox)
    if (home / SURVEY_FOLDER).is_dir() and not any(
        s.connector == Connector.SURVEY for s in sources
    ):
        sources.append(survey_returns())
    return sources


# fetch --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchOutcome:
    """What one fetch of one source brought, archived, and how it fetched."""

    source: Source
    attempt: str  # groups the fetch's rows
    payloads: tuple[ArchivedFile, ...]
    latency_ms: float
    increment: Increment  # how it fetched, recorded on its rows once they are judged


def fetch_source(
    source: Source,
    *,
    templating: Templating,
    archive_dir: Path,
    engine: sa.Engine | None = None,
    full: bool = False,
) -> FetchOutcome:
    """Run the source's connector and archive every payload before anything reads it.

    With the store (`engine`), an API source whose last accepted fetch in the cycle left
    a watermark asks only for what changed since, unless `full`; the delta is archived,
    then merged onto that fetch's snapshot, and the merged payload is the batch."""
    started, started_at = time.perf_counter(), store.utcnow()
    previous = None if engine is None or full else _snapshot(engine, source, templating.cycle)
    increment = plan_increment(source, started=started_at, previous=previous, full=full)
    archive_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="staging-", dir=archive_dir) as staging:
        if increment.mode == FetchMode.INCREMENTAL:
            assert previous is not None and increment.since is not None
            payloads, delta = _fetch_delta(
                source, templating, Path(staging), previous, increment.since, archive_dir
            )
            increment = replace(increment, delta_sha256=delta.sha256)
        else:
            payloads = connector_for(source)(source, templating, Path(staging))
        archived = tuple(
            archive_payload(p, kind=source.kind, archive_dir=archive_dir) for p in payloads
        )
    latency = (time.perf_counter() - started) * 1000
    return FetchOutcome(source, uuid.uuid4().hex, archived, latency, increment)


def _snapshot(engine: sa.Engine, source: Source, cycle_id: str) -> Snapshot | None:
    """The source's last accepted fetch in the cycle, as an incremental fetch starts from
    it; None when there is none, or its payload has left the archive."""
    if not can_fetch_since(source):
        return None
    found = store.last_accepted_increment(engine=engine, source=source.name, cycle_id=cycle_id)
    if found is None:
        return None
    fetch, batch = found
    path = Path(batch.archive_path)
    if fetch.watermark is None or fetch.settings_sha256 is None or not path.is_file():
        return None
    return Snapshot(path, _aware(fetch.watermark), fetch.settings_sha256)


def _fetch_delta(
    source: Source,
    templating: Templating,
    staging: Path,
    previous: Snapshot,
    since: datetime,
    archive_dir: Path,
) -> tuple[list[Payload], ArchivedFile]:
    """What changed since `since`, archived as it came, and merged onto the snapshot."""
    (changed,) = since_connector_for(source)(source, templating, staging, since=since)
    delta = Payload(source.name, f"{source.name}{DELTA_SUFFIX}", changed.path)
    kept = archive_payload(delta, kind=source.kind, archive_dir=archive_dir)
    key = merge_key(source)
    assert key is not None, "a source that fetches since a moment has a key"
    merged = merge_onto(previous.path, changed, key=key, staging=staging, source=source.name)
    return merged, kept


def _record(
    engine: sa.Engine,
    *,
    cycle_id: str,
    source: Source,
    attempt: str,
    batch: store.EvidenceBatch | None = None,
    error: str | None = None,
    latency_ms: float = 0.0,
    increment: Increment | None = None,
) -> None:
    """One row of a fetch attempt; a failure carries no increment, so it moves no
    watermark."""
    store.save_fetch(
        engine=engine,
        fetch=store.SourceFetch(
            cycle_id=cycle_id,
            source=source.name,
            attempt=attempt,
            connector=source.connector,
            part=batch.part if batch else None,
            batch_id=batch.id if batch else None,
            ok=error is None,
            error=error,
            rows=batch.rows if batch else 0,
            latency_ms=latency_ms,
            mode=increment.mode if increment else None,
            since=increment.since if increment else None,
            watermark=increment.watermark if increment else None,
            settings_sha256=increment.settings_sha256 if increment else None,
            delta_sha256=increment.delta_sha256 if increment else None,
        ),
    )


def record_failure(
    *, engine: sa.Engine, cycle_id: str, source: Source, error: str, latency_ms: float = 0.0
) -> None:
    """A source that could not be fetched: its last accepted evidence stays in force."""
    _record(
        engine,
        cycle_id=cycle_id,
        source=source,
        attempt=uuid.uuid4().hex,
        error=error,
        latency_ms=latency_ms,
    )


# accept -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchResult:
    batch: store.EvidenceBatch
    frame: pd.DataFrame | None
    outcome: ValidationOutcome | None
    reused: bool


def _quarantine(
    archived: ArchivedFile, cycle_id: str, problems: Sequence[str], quarantine_dir: Path
) -> Path:
    folder = quarantine_dir / cycle_id / archived.source
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(archived.archived, folder / archived.part)
    explanation = [
        f"{archived.part} from source {archived.source} was quarantined in cycle {cycle_id}.",
        f"sha256: {archived.sha256}",
        "Nothing was deleted: the earlier accepted evidence of this source stays in force.",
        "Correct the source and fetch again (for a drop folder, put the corrected file back);",
        "the next run picks it up.",
        "",
        "Problems (rows are numbered as a spreadsheet shows them; the header is row 1):",
        *(f"- {p}" for p in problems),
    ]
    path = folder / f"{archived.part}.problems.txt"
    path.write_text("\n".join(explanation) + "\n")
    return path


@dataclass(frozen=True)
class Checked:
    """A payload read and validated: the frame when accepted, and what was found."""

    frame: pd.DataFrame | None
    outcome: ValidationOutcome | None
    problems: list[str]

    @property
    def accepted(self) -> bool:
        return self.frame is not None

    def to_json(self) -> dict[str, Any]:
        if self.outcome is not None:
            return self.outcome.to_json()
        # unreadable: the reader's one error, in the shape of a validation result
        return {"accepted": False, "errors": 1, "warnings": 0, "unreadable": self.problems[0]}


def check_payload(
    path: Path,
    *,
    name: str,
    kind: str,
    as_of: date,
    columns: Mapping[str, str] | None = None,
    values: Mapping[str, Mapping[str, str]] | None = None,
    known_ids: Mapping[str, Set[str]] | None = None,
    suites: Sequence[Path] = (SUITES_DIR,),
    limits: ReadLimits = DEFAULT_LIMITS,
    on_parsed: Callable[[pd.DataFrame], None] | None = None,
) -> Checked:
    """Read, map, type and validate one payload; a file that cannot be read, or is past
    one of the `limits`, is refused with the reader's one line, never an exception.
    `on_parsed` is handed the typed frame before validation starts."""
    try:
        with stage("parse and type"):
            if kind == "survey" and is_returned_questionnaire(path):
                parsed = parsed_questionnaire(path, name=name)
            else:
                parsed = read_evidence(
                    path, name=name, kind=kind, columns=columns, values=values, limits=limits
                )
    except BtmError as exc:
        return Checked(None, None, [str(exc)])
    if on_parsed is not None:
        on_parsed(parsed.frame)
    with stage("validate"):
        outcome = validate_frame(
            parsed.frame,
            kind,
            cell_problems=parsed.problems,
            as_of=as_of,
            known_ids=known_ids,
            suites=suites,
        )
    frame = parsed.frame if outcome.accepted else None
    return Checked(frame, outcome, outcome.sentences())


def known_ids_in_file(
    path: Path, kind: str, *, limits: ReadLimits = DEFAULT_LIMITS
) -> dict[str, set[str]]:
    """The ids of one kind's export, for checking another file's cross-kind rule by hand
    (`btm validate --investments FILE`): what a run reads from the cycle's evidence."""
    id_field = kind_named(kind).id_field
    frame = read_evidence(path, name=str(path), kind=kind, limits=limits).frame
    if id_field not in frame.columns:
        raise EvidenceError(f"{path} has no {id_field} column; give an {kind} export")
    return {kind: {str(v) for v in frame[id_field].dropna()}}


def accept_batch(
    archived: ArchivedFile,
    *,
    source: Source,
    cycle_id: str,
    as_of: date,
    attempt: str,
    engine: sa.Engine,
    quarantine_dir: Path,
    increment: Increment | None = None,
    force: bool = False,
    known_ids: Mapping[str, Set[str]] | None = None,
    suites: Sequence[Path] = (SUITES_DIR,),
    limits: ReadLimits = DEFAULT_LIMITS,
) -> BatchResult:
    """Parse and validate a payload once; store its rows or quarantine it.

    A payload already kept (same source, part and sha256) is reused as it is, unless
    `force` asks to read and validate it again."""
    existing = store.kept_batch(
        engine=engine, source=archived.source, part=archived.part, sha256=archived.sha256
    )
    if existing is not None and not force:
        _record(
            engine,
            cycle_id=cycle_id,
            source=source,
            attempt=attempt,
            batch=existing,
            increment=increment,
        )
        return BatchResult(existing, None, None, reused=True)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="btm-encode") as encoder:
        encoding: list[Future[store.Encoded]] = []
        checked = check_payload(
            archived.archived,
            name=str(archived.original),
            kind=archived.kind,
            as_of=as_of,
            columns=source.columns,
            values=source.values,
            known_ids=known_ids,
            suites=suites,
            limits=limits,
            # the rows are encoded while Great Expectations judges them, and kept if
            # accepted (a quarantined batch's encoding is thrown away)
            on_parsed=lambda frame: encoding.append(
                encoder.submit(store.encode_rows, frame, archived.kind)
            ),
        )
        encoded = encoding[0].result() if checked.accepted else None
    frame, outcome, problems = checked.frame, checked.outcome, checked.problems
    batch = existing or store.EvidenceBatch(
        cycle_id=cycle_id,
        source=archived.source,
        part=archived.part,
        connector=source.connector,
        kind=archived.kind,
        file_name=archived.original.name,
        sha256=archived.sha256,
        archive_path=str(archived.archived),
        status="",
    )
    batch.rows = outcome.rows if outcome else 0
    batch.status = BatchStatus.ACCEPTED if frame is not None else BatchStatus.QUARANTINED
    batch.problems = problems
    batch.validation = checked.to_json()
    with stage("store"):
        batch = store.keep_batch(engine=engine, batch=batch, rows=encoded)
        if frame is None:
            _quarantine(archived, cycle_id, problems, quarantine_dir)
    _record(
        engine,
        cycle_id=cycle_id,
        source=source,
        attempt=attempt,
        batch=batch,
        increment=increment,
    )
    return BatchResult(batch, frame, outcome, reused=False)


def known_ids_for(
    *, engine: sa.Engine, cycle_id: str, kind: str, suites: Sequence[Path] = (SUITES_DIR,)
) -> dict[str, set[str]]:
    """The ids of the kinds a kind's cross-kind rules check against, from the cycle's
    evidence as it stands (so a cycle validates investments before projects); for the
    survey's respondents, the invitations of the cycle's campaign while it is open."""
    referenced = referenced_kinds(kind, suites)
    if not referenced:
        return {}
    known = {}
    if INVITATIONS in referenced:
        known[INVITATIONS] = {
            respondent_key(campaign, respondent)
            for campaign, respondent in store.open_invitations(
                engine=engine, cycle_id=cycle_id, on=date.today()
            )
        }
    if kinds := referenced - {INVITATIONS}:
        plan = evidence_plan(engine=engine, cycle_id=cycle_id)
        for other in kinds:
            batch_ids = [b.id for b in plan.batches if b.kind == other and b.id is not None]
            known[other] = store.load_ids(engine=engine, kind=other, batch_ids=batch_ids)
    return known


def in_validation_order(
    fetched: Sequence[FetchOutcome], suites: Sequence[Path] = (SUITES_DIR,)
) -> list[FetchOutcome]:
    """Kinds that other kinds' rules refer to are validated first."""
    referenced = {other for f in fetched for other in referenced_kinds(f.source.kind, suites)}
    return sorted(fetched, key=lambda f: f.source.kind not in referenced)


def accept_fetch(
    fetched: FetchOutcome,
    *,
    cycle_id: str,
    as_of: date,
    engine: sa.Engine,
    quarantine_dir: Path,
    force: bool = False,
    suites: Sequence[Path] = (SUITES_DIR,),
    limits: ReadLimits = DEFAULT_LIMITS,
) -> list[BatchResult]:
    """Accept or quarantine every payload of one fetch; a fetch that brought nothing is
    recorded too, so the source shows as reached."""
    known = known_ids_for(engine=engine, cycle_id=cycle_id, kind=fetched.source.kind, suites=suites)
    results = [
        accept_batch(
            archived,
            source=fetched.source,
            cycle_id=cycle_id,
            as_of=as_of,
            attempt=fetched.attempt,
            increment=fetched.increment,
            engine=engine,
            quarantine_dir=quarantine_dir,
            force=force,
            known_ids=known or None,
            suites=suites,
            limits=limits,
        )
        for archived in fetched.payloads
    ]
    if not results:
        _record(
            engine,
            cycle_id=cycle_id,
            source=fetched.source,
            attempt=fetched.attempt,
            latency_ms=fetched.latency_ms,
            increment=fetched.increment,
        )
    return results


# plan ---------------------------------------------------------------------------------


@dataclass
class EvidencePlan:
    """Which batches a cycle scores on, and what the report must say about the rest."""

    batches: list[store.EvidenceBatch] = field(default_factory=list)
    quarantined: list[QuarantineNote] = field(default_factory=list)
    stale: list[StaleNote] = field(default_factory=list)
    warnings: list[DataQualityNote] = field(default_factory=list)
    carried: dict[int, str] = field(default_factory=dict)  # batch id -> cycle it comes from

    def key(self, rubric_version: str) -> str:
        """A digest of what the scores depend on: the batches and the rubric."""
        parts = sorted(f"{b.id}:{b.sha256}" for b in self.batches)
        return hashlib.sha256("\n".join([rubric_version, *parts]).encode()).hexdigest()


def _carry_forward(
    plan: EvidencePlan,
    engine: sa.Engine,
    *,
    cycle_id: str,
    source: str,
    reason: str,
    part: str | None = None,
    before_id: int | None = None,
) -> None:
    for earlier, used in store.carried_batches(
        engine=engine, source=source, up_to_cycle=cycle_id, part=part, before_id=before_id
    ):
        assert earlier.id is not None
        plan.batches.append(earlier)
        plan.carried[earlier.id] = used or earlier.cycle_id
        plan.stale.append(
            StaleNote(f"{source}/{earlier.part}", used or earlier.cycle_id, reason=reason)
        )


def evidence_plan(*, engine: sa.Engine, cycle_id: str) -> EvidencePlan:
    """Each source's batches from its latest fetch in the cycle; for a quarantined batch
    or a source that could not be reached, its last accepted evidence, marked stale."""
    plan = EvidencePlan()
    for source, fetches in store.fetched_batches(engine=engine, cycle_id=cycle_id).items():
        failed = next((f for f, _ in fetches if not f.ok), None)
        if failed is not None:
            reason = f"the source could not be reached: {failed.error}"
            _carry_forward(plan, engine, cycle_id=cycle_id, source=source, reason=reason)
            continue
        for _, batch in fetches:
            if batch is None:
                continue
            if batch.status == BatchStatus.ACCEPTED:
                plan.batches.append(batch)
                if warned := [p for p in batch.problems if p.startswith(WARNING_PREFIX)]:
                    plan.warnings.append(DataQualityNote(f"{source}/{batch.part}", tuple(warned)))
                continue
            plan.quarantined.append(
                QuarantineNote(
                    f"{source}/{batch.part}", batch.part, batch.sha256, tuple(batch.problems)
                )
            )
            _carry_forward(
                plan,
                engine,
                cycle_id=cycle_id,
                source=source,
                reason="its new batch was quarantined",
                part=batch.part,
                before_id=batch.id,
            )
    return plan


def quality_trend(*, engine: sa.Engine, up_to_cycle: str) -> list[QualityPoint]:
    """Per cycle, how the batches of each source's latest fetch fared."""
    points = []
    for cycle_id in store.cycle_ids_up_to(engine=engine, up_to=up_to_cycle):
        counts = {"accepted": 0, "warned": 0, "quarantined": 0, "unreachable": 0}
        for fetches in store.fetched_batches(engine=engine, cycle_id=cycle_id).values():
            for fetch, batch in fetches:
                if not fetch.ok:
                    counts["unreachable"] += 1
                elif batch is not None:
                    warned = any(p.startswith(WARNING_PREFIX) for p in batch.problems)
                    key = (
                        batch.status
                        if batch.status != BatchStatus.ACCEPTED or not warned
                        else "warned"
                    )
                    counts[key] += 1
        points.append(QualityPoint(cycle_id, **counts))
    return points


# assemble: the planned batches' rows per kind ------------------------------------------


@dataclass(frozen=True)
class CycleEvidence:
    cycle_id: str
    plan: EvidencePlan
    frames: dict[str, pd.DataFrame]
    calendar: FiscalCalendar

    @property
    def as_of(self) -> date:
        return self.calendar.as_of(self.cycle_id)

    def hashes_by_unit(self) -> dict[str, list[str]]:
        """The hashes of the batches that carried each unit's rows."""
        hashes: dict[str, set[str]] = {}
        sha_of = {b.id: b.sha256 for b in self.plan.batches}
        for frame in self.frames.values():
            pairs = frame[["batch_id", UNIT]].dropna().drop_duplicates()
            for batch_id, unit in pairs.itertuples(index=False):
                hashes.setdefault(str(unit), set()).add(sha_of[int(batch_id)])
        return {unit: sorted(values) for unit, values in hashes.items()}

    def batch_ages(self) -> dict[int, int]:
        """The age in days of each batch carried forward: the gap to the cycle it came
        from (a batch gathered this cycle is 0 days old, and not listed)."""
        return {
            batch_id: (self.as_of - self.calendar.as_of(from_cycle)).days
            for batch_id, from_cycle in self.plan.carried.items()
        }

    def ages_by_unit(self) -> dict[str, dict[str, int]]:
        """Per unit and evidence kind, the age in days of the oldest batch behind it: 0
        for evidence gathered this cycle, the gap to its cycle for evidence carried
        forward."""
        age_of = self.batch_ages()
        ages: dict[str, dict[str, int]] = {}
        for kind, frame in self.frames.items():
            pairs = frame[["batch_id", UNIT]].dropna().drop_duplicates()
            for batch_id, unit in pairs.itertuples(index=False):
                by_kind = ages.setdefault(str(unit), {})
                by_kind[kind] = max(by_kind.get(kind, 0), age_of.get(int(batch_id), 0))
        return ages


def assemble_evidence(
    *,
    engine: sa.Engine,
    cycle_id: str,
    calendar: FiscalCalendar,
    plan: EvidencePlan | None = None,
    fresh: dict[int, pd.DataFrame] | None = None,
) -> CycleEvidence:
    """Load the planned batches per kind; frames parsed in this run are not read again."""
    import pandas as pd

    fresh = fresh or {}
    plan = plan or evidence_plan(engine=engine, cycle_id=cycle_id)
    frames: dict[str, pd.DataFrame] = {}
    for kind in load_kinds():
        ids = [b.id for b in plan.batches if b.kind == kind and b.id is not None]
        parts = [fresh[i].assign(batch_id=i) for i in ids if i in fresh]
        stored = [i for i in ids if i not in fresh]
        if stored:
            parts.append(store.load_rows(engine=engine, kind=kind, batch_ids=stored))
        if parts:
            frames[kind] = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return CycleEvidence(cycle_id, plan, frames, calendar)


# freshness ----------------------------------------------------------------------------


def source_notes(*, engine: sa.Engine, now: datetime) -> list[SourceNote]:
    """Each source's last fetch, last successful fetch and its age, for status and reports."""
    fetches = store.fetch_history(engine=engine)
    notes: list[SourceNote] = []
    by_source: dict[str, list[store.SourceFetch]] = {}
    for fetch in fetches:
        by_source.setdefault(fetch.source, []).append(fetch)
    for source, rows in sorted(by_source.items()):
        last = rows[-1]
        last_attempt = [r for r in rows if r.attempt == last.attempt]
        good = [r for r in rows if r.ok]
        last_ok = good[-1] if good else None
        ok_rows = [r for r in good if last_ok and r.attempt == last_ok.attempt]
        notes.append(
            SourceNote(
                source=source,
                connector=last.connector,
                last_attempt=last.fetched_at,
                reachable=all(r.ok for r in last_attempt),
                error=last.error,
                last_success=last_ok.fetched_at if last_ok else None,
                age=(now - _aware(last_ok.fetched_at)) if last_ok else None,
                rows=sum(r.rows for r in ok_rows),
            )
        )
    return notes


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; the store writes them in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=store.utcnow().tzinfo)


# check --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceCheck:
    """One try of one source, archiving and storing nothing."""

    source: str
    kind: str
    connector: str
    reachable: bool
    rows: int
    latency_ms: float
    error: str | None

    @property
    def failed(self) -> bool:
        return not self.reachable or self.error is not None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_source(
    source: Source, *, templating: Templating, limits: ReadLimits = DEFAULT_LIMITS
) -> SourceCheck:
    """Fetch the source into a scratch folder and read it onto its kind, within `limits`."""
    started = time.perf_counter()
    rows, reachable, error = 0, False, None
    with tempfile.TemporaryDirectory(prefix="btm-check-") as staging:
        try:
            payloads = connector_for(source)(source, templating, Path(staging))
            reachable = True
            for payload in payloads:
                name = f"{source.name}/{payload.part}"
                if source.kind == "survey" and is_returned_questionnaire(payload.path):
                    rows += len(parsed_questionnaire(payload.path, name=name).frame)
                    continue
                frame = read_payload(payload.path, name=name, limits=limits)
                rows += len(apply_mapping(frame, columns=source.columns, values=source.values))
            if not payloads and source.connector != Connector.SURVEY:  # none returned yet
                error = "reachable, but it holds nothing to gather; check location and pattern"
        except BtmError as exc:
            error = str(exc)
    latency = (time.perf_counter() - started) * 1000
    return SourceCheck(source.name, source.kind, source.connector, reachable, rows, latency, error)
