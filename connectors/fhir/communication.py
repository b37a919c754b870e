"""`fhir-communication`: a patient timeline kept as FHIR Communications on a FHIR server.

Config (connector settings): base_url, auth, timeout, facility_code as for the `fhir` destination.

Mapping onto the Timeline contract (connectors/base.py):
    group       one CareTeam per patient: identifier urn:renkei:timeline-group|<facility>/<patient id>,
                subject the Patient (found by facility identifier, conditionally created as a stub if the
                server has none), participants = the invited members (identifier urn:renkei:member|<id>)
    post        one Communication: subject the Patient, recipient the CareTeam, sender the author's
                identifier, payload contentString for the text, contentAttachment for each attachment
                (base64 data + contentType + title) and for each link (url + title), category per tag,
                identifier urn:renkei:idempotency-key|<key> and, when given, urn:renkei:record-key.
                Created with If-None-Exist on the idempotency key: a replay finds the first post and
                creates nothing.
    replace/retract  a post with a record_key marks the earlier posts of that record_key
                (other idempotency keys) entered-in-error; a retracting post only does that.
    read        Communications for the group's subject and recipient, oldest first, without
                entered-in-error ones; a member who is not a participant is told the group is not there.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from renkei.connectors.base import Attachment, ConnectorContext, TimelinePost
from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir import careteam
from renkei.connectors.fhir.bundle import _token
from renkei.connectors.fhir.client import FhirClient, FhirPermanentError
from renkei.connectors.fhir.destination import FhirSettings
from renkei.connectors.fhir.validate import check_resource
from renkei.errors import NotFoundError, PermanentDeliveryError

GROUP = "urn:renkei:timeline-group"
MEMBER = "urn:renkei:member"
IDEMPOTENCY = "urn:renkei:idempotency-key"
_MAX_INVITE_TRIES = 3


class FhirCommunicationSettings(FhirSettings):
    pass


class FhirCommunicationTimeline:
    Settings = FhirCommunicationSettings

    def __init__(self, name: str, settings: FhirCommunicationSettings, context: ConnectorContext | None = None) -> None:
        self.name = name
        self.settings = settings
        self.context = context
        self.client = FhirClient(settings.base_url, auth=settings.auth, timeout=settings.timeout)
        self.facility_system = S.PATIENT_ID_OID_PREFIX + settings.facility_code

    # -- groups ------------------------------------------------------------------------------------------
    def _patient_ref(self, patient_id: str) -> str:
        stub = {
            "resourceType": "Patient",
            "meta": {"profile": [S.PROFILE["Patient"]]},
            "identifier": [{"system": self.facility_system, "value": patient_id}],
        }
        _, patient = self.client.create(stub, if_none_exist=_token(self.facility_system, patient_id))
        return f"Patient/{patient['id']}"

    def ensure_group(self, patient_id: str, title: str = "") -> str:
        subject = self._patient_ref(patient_id)
        team = {
            "resourceType": "CareTeam",
            "identifier": [{"system": GROUP, "value": f"{self.settings.facility_code}/{patient_id}"}],
            "status": "active",
            "name": title or "renkei",
            "subject": {"reference": subject},
        }
        ident = team["identifier"][0]
        _, created = self.client.create(team, if_none_exist=_token(ident["system"], ident["value"]))
        return f"CareTeam/{created['id']}"

    def _team(self, group_id: str) -> dict[str, Any]:
        rtype, _, rid = group_id.partition("/")
        if rtype != "CareTeam" or not rid:
            raise NotFoundError(f"fhir-communication: {group_id!r} is not a CareTeam reference")
        try:
            return self.client.read(rtype, rid)
        except FhirPermanentError as exc:
            if exc.status in (404, 410):
                raise NotFoundError(f"fhir-communication: group {group_id} not found") from exc
            raise

    @staticmethod
    def _members(team: dict[str, Any]) -> set[str]:
        return {p.get("member", {}).get("identifier", {}).get("value", "") for p in team.get("participant", [])} - {""}

    def invite(self, group_id: str, member: str) -> None:
        for _ in range(_MAX_INVITE_TRIES):
            team = self._team(group_id)
            if member in self._members(team):
                return
            team.setdefault("participant", []).append({"member": {"identifier": {"system": MEMBER, "value": member}}})
            try:
                self.client.update(team, if_match=team.get("meta", {}).get("versionId", ""))
                return
            except FhirPermanentError as exc:
                if exc.status != 412:  # someone else changed the team meanwhile: read again and retry
                    raise
        raise PermanentDeliveryError(f"fhir-communication: {group_id}: kept changing while inviting")

    def add_member(self, group_id: str, member: str, role: str = "") -> None:
        careteam.change_member(self.client, group_id, member, role)

    def remove_member(self, group_id: str, member: str) -> bool:
        return careteam.change_member(self.client, group_id, member, None)

    # -- posts -------------------------------------------------------------------------------------------
    def _communication(self, team: dict[str, Any], group_id: str, post: TimelinePost, key: str) -> dict[str, Any]:
        payload: list[dict[str, Any]] = []
        if post.text:
            payload.append({"contentString": post.text})
        for a in post.attachments:
            payload.append(
                {
                    "contentAttachment": {
                        "contentType": a.media_type,
                        "data": base64.b64encode(a.data).decode("ascii"),
                        "title": a.name,
                        "size": len(a.data),
                    }
                }
            )
        for link in post.links:
            payload.append({"contentAttachment": {"url": link["url"], "title": link.get("title", "")}})
        identifiers = [{"system": IDEMPOTENCY, "value": key}]
        if post.record_key:
            identifiers.append({"system": S.RECORD_KEY, "value": post.record_key})
        res: dict[str, Any] = {
            "resourceType": "Communication",
            "identifier": identifiers,
            "status": "completed",
            "subject": team["subject"],
            "recipient": [{"reference": group_id}],
            "sender": {"identifier": {"system": MEMBER, "value": post.author}},
            "sent": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if post.tags:
            res["category"] = [{"text": tag} for tag in post.tags]
        if payload:
            res["payload"] = payload
        return res

    def _withdraw_earlier(self, team: dict[str, Any], record_key: str, keep_key: str) -> list[str]:
        withdrawn = []
        params = {"subject": team["subject"]["reference"], "identifier": f"{S.RECORD_KEY}|{record_key}"}
        for comm in list(self.client.search("Communication", params)):
            keys = {i.get("value") for i in comm.get("identifier", []) if i.get("system") == IDEMPOTENCY}
            if keep_key in keys or comm.get("status") == "entered-in-error":
                continue
            comm["status"] = "entered-in-error"
            self.client.update(comm, if_match=comm.get("meta", {}).get("versionId", ""))
            withdrawn.append(f"Communication/{comm['id']}")
        return withdrawn

    def post(self, group_id: str, post: TimelinePost, idempotency_key: str) -> str:
        if post.audience != "team":  # a Communication reaches the whole CareTeam: never widen an audience
            raise PermanentDeliveryError(f"{self.name}: posts for an audience ({post.audience}) are not supported")
        team = self._team(group_id)
        if post.retracts:
            withdrawn = self._withdraw_earlier(team, post.record_key, idempotency_key) if post.record_key else []
            return " ".join(withdrawn)
        comm = self._communication(team, group_id, post, idempotency_key)
        check_resource(comm)
        _, created = self.client.create(comm, if_none_exist=_token(IDEMPOTENCY, idempotency_key))
        if post.record_key:
            self._withdraw_earlier(team, post.record_key, idempotency_key)
        if self.context is not None:
            self.context.audit("fhir.communication", post.patient_id, f"{self.name}: Communication/{created['id']}")
        return f"Communication/{created['id']}"

    def read(self, group_id: str, member: str | None = None) -> list[dict[str, Any]]:
        team = self._team(group_id)
        if member is not None and member not in self._members(team):
            # Non-members must not learn that the group exists.
            raise NotFoundError(f"fhir-communication: group {group_id} not found")
        params = {"subject": team["subject"]["reference"], "recipient": group_id, "_sort": "sent", "_count": 100}
        out = []
        for comm in self.client.search("Communication", params):
            if comm.get("status") == "entered-in-error":
                continue
            out.append(_as_post(comm))
        return out

    def deliver(self, payload: dict[str, Any], idempotency_key: str) -> str:
        post = TimelinePost.from_dict(payload)
        return self.post(post.group_id or self.ensure_group(post.patient_id), post, idempotency_key)

    def close(self) -> None:
        self.client.close()


def _as_post(comm: dict[str, Any]) -> dict[str, Any]:
    text_parts, attachments, links = [], [], []
    for part in comm.get("payload", []):
        if "contentString" in part:
            text_parts.append(part["contentString"])
        att = part.get("contentAttachment")
        if att and "data" in att:
            attachments.append(
                Attachment(att.get("title", ""), att.get("contentType", ""), base64.b64decode(att["data"])).to_dict()
            )
        elif att and "url" in att:
            links.append({"title": att.get("title", ""), "url": att["url"]})
    idents = {i.get("system"): i.get("value") for i in comm.get("identifier", [])}
    return {
        "id": f"Communication/{comm['id']}",
        "text": "\n".join(text_parts),
        "attachments": attachments,
        "links": links,
        "tags": [c.get("text", "") for c in comm.get("category", [])],
        "author": comm.get("sender", {}).get("identifier", {}).get("value", ""),
        "sent": comm.get("sent", ""),
        "record_key": idents.get(S.RECORD_KEY, ""),
        "idempotency_key": idents.get(IDEMPOTENCY, ""),
    }
