"""From parsed canonical records to one payload per destination: filters, sensitivity, templates, mappings.

- A timeline destination gets a `TimelinePost` whose text is rendered from a sandboxed template (level 1).
- Any other destination gets the output of the pipeline's level-4 mapping, or, without one, the canonical
  records themselves (`{"patient_id", "data_type", "records"}`), which e.g. the FHIR destination converts.
- Every message gets a sensitivity level (情報の機微度) from the config's rules; a pipeline with an
  approval gate holds the levels it names as AWAITING_APPROVAL until a physician decides.

The idempotency key of a delivery depends on the pipeline, the destination, what the records stand for
(record keys), the source's version (MSH-7) and the clinical content, never on file names or condition
flags: a renamed or re-exported file posts nothing new, each corrected version posts once and replaces the
earlier post (a value that returns to an earlier one too), and timelines never let an older version
replace a newer one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from renkei.config.schema import PipelineConfig, RenkeiConfig, SensitivityRule
from renkei.connectors.base import Parsed, Timeline, TimelinePost
from renkei.db import dumps
from renkei.errors import InputError
from renkei.mappings.render import Renderer
from renkei.pipelines.documents import attachments_of
from renkei.pipelines.schema import MessageState
from renkei.pipelines.store import NewDelivery, Processed
from renkei.records import RecordKind, RecordStatus

SUPERSEDED_REASON = "superseded by a newer file (condition flag 2); not posted again"


class Transformer:
    def __init__(self, config: RenkeiConfig, connector: Callable[[str], Any]) -> None:
        self.config = config
        self.connector = connector
        self.renderer = Renderer.for_site(config.templates_dir, config.phrases_dir)

    def transform(self, p: PipelineConfig, mid: int, parsed: Parsed, patients: dict[str, dict[str, Any]]) -> Processed:
        records = [r.to_dict() for r in parsed.records]
        out = Processed(
            mid, p.name, MessageState.FILTERED, patient_id=parsed.patient_id, data_type=parsed.data_type,
            warnings=parsed.warnings, records=records,
        )  # fmt: skip
        patient = next((r for r in records if r["kind"] == RecordKind.PATIENT), None)
        if patient is not None and patient.get("status") == RecordStatus.CURRENT:
            out.patient_record = patient
            patients[parsed.patient_id] = patient
        out.reason = filtered_out(p, parsed)
        if out.reason:
            return out
        statuses = {r.status for r in parsed.records}
        if statuses == {RecordStatus.SUPERSEDED}:
            # A renamed _2 file: its content was (or would be) posted from its _1 and replaced since.
            out.reason = SUPERSEDED_REASON
            return out
        retracts = statuses == {RecordStatus.DELETED}
        record_key = message_record_key(parsed)
        content = dumps([_content(r) for r in records])
        tags = list(p.transform.tags)
        rule = matching_rule(self.config.sensitivity, parsed.data_type, records, tags)
        audience = (rule.audience if rule else None) or "team"  # who in the team sees a timeline post
        try:
            for dest in p.destinations:
                payload = self._payload(p, dest, parsed, records, patients, tags, record_key, retracts, audience)
                if payload is None:
                    continue
                # identity = what the records stand for + the source's version (MSH-7); content only tells
                # apart two different messages of one version, so 11.1 -> 99.9 -> 11.1 are three deliveries
                key = hashlib.sha256(
                    f"{p.name}\x1f{dest}\x1f{record_key}\x1f{retracts}\x1f{parsed.version}\x1f{content}".encode()
                ).hexdigest()
                out.deliveries.append(NewDelivery(dest, key, payload))
        except InputError as exc:
            out.state, out.reason, out.deliveries = MessageState.QUARANTINED, str(exc), []
            return out
        if not out.deliveries:
            out.reason = "no destination takes this message (no record of the mapping's source kind)"
            return out
        level = rule.level if rule else "high"  # no rule matched: the most sensitive, never the least
        approval = p.gates.approval
        if approval is not None and level in approval.required_for:
            out.state, out.reason = (
                MessageState.AWAITING_APPROVAL,
                f"sensitivity {level}: waits for a physician's approval",
            )
        else:
            out.state = MessageState.QUEUED
        return out

    def _payload(
        self,
        p: PipelineConfig,
        dest: str,
        parsed: Parsed,
        records: list[dict[str, Any]],
        patients: dict[str, dict[str, Any]],
        tags: list[str],
        record_key: str,
        retracts: bool,
        audience: str = "team",
    ) -> dict[str, Any] | None:
        if isinstance(self.connector(dest), Timeline):
            text = self.renderer.render(
                p.transform.template or "auto", data_type=parsed.data_type, records=records,
                patient=patients.get(parsed.patient_id),
            )  # fmt: skip
            post = TimelinePost(
                patient_id=parsed.patient_id, text=text, tags=tags, record_key=record_key, retracts=retracts,
                source_version=parsed.version, audience=audience, attachments=attachments_of(records),
            )  # fmt: skip
            return post.to_dict()
        if p.transform.mapping:
            return self._mapped(p.transform.mapping, records)
        return {"patient_id": parsed.patient_id, "data_type": parsed.data_type, "records": records}

    def _mapped(self, name: str, records: list[dict[str, Any]]) -> dict[str, Any] | None:
        from renkei.mappings import load_mapping  # level 4 loads its specs only when a pipeline uses one

        mapping = load_mapping(name, self.config.mappings_dir)
        source = mapping.spec.source
        data: Any = records
        if source is not None and source.record is not None:
            matching = [r for r in records if r["kind"] == source.record.value]
            if not matching:
                return None
            data = matching if source.many else matching[0]
        return mapping.apply(data)  # MappingValueError is an InputError: the message is quarantined


def filtered_out(p: PipelineConfig, parsed: Parsed) -> str:
    f = p.filters
    if f.data_types is not None and parsed.data_type not in f.data_types:
        return f"data type {parsed.data_type or '(none)'} is not in this pipeline's filter"
    if f.patients is not None and parsed.patient_id not in f.patients:
        return f"patient {parsed.patient_id} is not in this pipeline's filter"
    return ""


def sensitivity_of(rules: list[SensitivityRule], data_type: str, records: list[dict[str, Any]], tags: list[str]) -> str:
    rule = matching_rule(rules, data_type, records, tags)
    return rule.level if rule else "high"  # no rule matched: treat as the most sensitive, never the least


def matching_rule(
    rules: list[SensitivityRule], data_type: str, records: list[dict[str, Any]], tags: list[str]
) -> SensitivityRule | None:
    """The first sensitivity rule that matches (its level and its audience apply), None when none does."""
    kinds = {r["kind"] for r in records}
    all_tags = set(tags) | {t for r in records for t in r.get("tags", [])}
    for rule in rules:
        if rule.data_types is not None and data_type not in rule.data_types:
            continue
        if rule.kinds is not None and not kinds & set(rule.kinds):
            continue
        if rule.tags is not None and not all_tags & set(rule.tags):
            continue
        return rule
    return None


def message_record_key(parsed: Parsed) -> str:
    keys = sorted({r.record_key for r in parsed.records if r.record_key})
    if not keys:
        return ""
    return hashlib.sha256("\x1f".join(keys).encode()).hexdigest()[:32]


def _content(record: dict[str, Any]) -> dict[str, Any]:
    """The clinical content of a record: what decides whether a re-export is new information."""
    return {k: v for k, v in record.items() if k not in ("source", "status", "warnings")}
