"""Who issues a JP-CLINS document and to whom: Organization and Practitioner resources.

The issuing facility and the signing doctor come from the destination's settings (an SS-MIX2 storage
carries neither the facility's name nor who writes a referral); the referral target from the payload.
Ids are deterministic (uuid5 under the JP Core converter's namespace) so a re-built document is the same.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from renkei.connectors.fhir import _systems as S
from renkei.connectors.fhir._ids import RENKEI_NS
from renkei.connectors.fhir._shapes import split_name
from renkei.connectors.fhir.clins import _systems as C
from renkei.connectors.fhir.jpcore import JPCoreConverter


@dataclass(frozen=True)
class Author:
    organization_name: str  # the issuing facility (文書作成機関 = 文書管理責任機関)
    practitioner_name: str  # the doctor who signs (文書作成責任者), "姓 名"
    practitioner_id: str = ""  # the doctor's staff code at the facility (JP Core practitioner-id OID)


def party_id(*parts: str) -> str:
    return str(uuid.uuid5(RENKEI_NS, "clins|" + "|".join(parts)))


def organization(conv: JPCoreConverter, name: str, *, own: bool) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Organization",
        "id": party_id(conv.facility_code, "Organization", "own" if own else name),
        "meta": {"profile": [S.pinned(S.JP + "JP_Organization", conv.jp_core_version)]},
        "type": [{"coding": [{"system": C.ORGANIZATION_TYPE, "code": "prov"}]}],
        "name": name,
    }
    if own:
        res["extension"] = [{"url": C.INSTITUTION_NUMBER, "valueIdentifier": {"value": conv.facility_code}}]
    return res


def practitioner(conv: JPCoreConverter, name: str, staff_id: str = "", *, own: bool) -> dict[str, Any]:
    family, given = split_name(name)
    human: dict[str, Any] = {
        "extension": [{"url": S.EN_REPRESENTATION, "valueCode": "IDE"}],
        "use": "official",
        "text": name,
        "family": family,
    }
    if given:
        human["given"] = [given]
    res: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": party_id(conv.facility_code, "Practitioner", "own" if own else "to", staff_id or name),
        "meta": {"profile": [S.pinned(S.JP + "JP_Practitioner", conv.jp_core_version), C.ECS_PROFILE["practitioner"]]},
        "name": [human],
    }
    if own and staff_id:
        res["identifier"] = [{"system": S.PRACTITIONER_ID_OID_PREFIX + conv.facility_code, "value": staff_id}]
    return res
