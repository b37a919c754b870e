"""Transaction bundles of conditional updates, so delivering the same records twice changes nothing new.

    bundle = transaction_bundle(resources, facility_system)

Each resource converted by jpcore.py becomes one entry:
    fullUrl  urn:uuid:<deterministic id>
    request  PUT Patient?identifier=<facility system>|<patient id>          (Patients)
             PUT <Type>?identifier=urn:renkei:record-id|<deterministic id>  (everything else)
    resource the resource without `id`; references to resources in the bundle become urn:uuid: ones.
The `id` is dropped because servers differ on client ids in a conditional update that creates (Medplum
refuses "Cannot provide ID for create by update", HAPI accepts): matching on the record-id identifier
works on both, and the server's own id is what later references use.

A patient referenced but not in the bundle gets a conditional create (POST with ifNoneExist on the
facility identifier) of a stub Patient, so references always resolve to the one Patient of that id.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from renkei.connectors.fhir import _systems as S


def _token(system: str, value: str) -> str:
    return "identifier=" + quote(f"{system}|{value}", safe=":/|")


def _rewrite(node: Any, local: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {k: _rewrite(v, local) for k, v in node.items()}
        ref = out.get("reference")
        if isinstance(ref, str) and ref in local:
            out["reference"] = local[ref]
        elif isinstance(ref, str) and not ref.startswith(("Patient/", "#", "urn:")) and "identifier" in out:
            # A resource of another transaction (a split payload): the server gave it its own id, so only the
            # logical reference (its record-id identifier) can find it.
            del out["reference"]
        return out
    if isinstance(node, list):
        return [_rewrite(v, local) for v in node]
    return node


def _patient_refs(node: Any, found: dict[str, dict[str, Any]]) -> None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and ref.startswith("Patient/") and isinstance(node.get("identifier"), dict):
            found.setdefault(ref, node["identifier"])
        for v in node.values():
            _patient_refs(v, found)
    elif isinstance(node, list):
        for v in node:
            _patient_refs(v, found)


def transaction_bundle(
    resources: Iterable[dict[str, Any]],
    facility_system: str,
    patient_stub: Callable[[str], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    resources = list(resources)
    local = {f"{r['resourceType']}/{r['id']}": f"urn:uuid:{r['id']}" for r in resources}
    referenced: dict[str, dict[str, Any]] = {}
    _patient_refs(resources, referenced)
    entries: list[dict[str, Any]] = []
    for ref, ident in sorted(referenced.items()):
        if ref in local or patient_stub is None:
            continue
        stub = patient_stub(ident["value"])
        local[ref] = f"urn:uuid:{stub['id']}"
        body = {k: v for k, v in stub.items() if k != "id"}
        entries.append(
            {
                "fullUrl": local[ref],
                "resource": body,
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": _token(ident["system"], ident["value"])},
            }
        )
    for res in resources:
        rid, rtype = res["id"], res["resourceType"]
        body = _rewrite({k: v for k, v in res.items() if k != "id"}, local)
        if rtype == "Patient":
            ident = next((i for i in res.get("identifier", []) if i.get("system") == facility_system), None)
            if ident is None:
                raise ValueError(f"Patient {rid} has no identifier with the facility system")
            url = f"Patient?{_token(facility_system, ident['value'])}"
        else:
            url = f"{rtype}?{_token(S.RECORD_ID, rid)}"
        entries.append(
            {"fullUrl": f"urn:uuid:{rid}", "resource": copy.deepcopy(body), "request": {"method": "PUT", "url": url}}
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def locations(response: dict[str, Any]) -> list[str]:
    """ "Type/id" of each entry of a transaction-response, in entry order."""
    out = []
    for entry in response.get("entry", []):
        loc = (entry.get("response") or {}).get("location", "")
        out.append("/".join(loc.split("/_history/")[0].split("/")[-2:]) if loc else "")
    return out
