"""JP-CLINS rule table (mappings/specs/profiles/clins_rules.yaml), checked on a whole Bundle.

The JP Core table (connectors/fhir/_rules.py) checks one resource at a time; a JP-CLINS document is a
Bundle whose rules span resources (Composition first, sections pointing at entries, one patient). A rule
names the profile it comes from; the rules of a profile apply when the Bundle claims it in meta.profile
(Bundle rules) or when the Bundle's Composition claims it (Composition rules).

    problems = bundle_problems(bundle)     # [(where, why)], never a value from the bundle
    check_bundle(bundle)                   # + R4B structure + JP Core rules of every entry; raises

Paths are dotted; a list is walked item by item (`section.section.code.coding.code`), a number picks one.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from renkei.connectors.fhir._checks import check_codes
from renkei.connectors.fhir._rules import profile_problems
from renkei.connectors.fhir.validate import FhirValidationError, structure_problems
from renkei.mappings import BUILTIN_DIR
from renkei.yamlio import YamlDoc, plain

RULES_FILE = BUILTIN_DIR / "profiles" / "clins_rules.yaml"


@cache
def table() -> dict[str, Any]:
    data = plain(YamlDoc(RULES_FILE).data)
    return {"profiles": dict(data["profiles"]), "rules": list(data["rules"])}


def values(node: Any, path: str) -> list[Any]:
    """Every value at `path` (missing → [])."""
    current = [node]
    for part in [p for p in path.split(".") if p]:
        nxt: list[Any] = []
        for item in current:
            for one in item if isinstance(item, list) else [item]:
                if isinstance(one, list) and part.lstrip("-").isdigit():
                    idx = int(part)
                    if -len(one) <= idx < len(one):
                        nxt.append(one[idx])
                elif isinstance(one, dict) and part in one:
                    nxt.append(one[part])
        current = nxt
    out: list[Any] = []
    for v in current:
        out.extend(v if isinstance(v, list) else [v])
    return [v for v in out if v not in (None, "", [], {})]


def _claims(resource: dict[str, Any]) -> set[str]:
    return {str(p).split("|")[0] for p in (resource.get("meta") or {}).get("profile", [])}


def _entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in bundle.get("entry") or [] if isinstance(e, dict)]


def _sections(composition: dict[str, Any], codes: list[str]) -> list[dict[str, Any]]:
    """The sections reached by following `codes` (outer to inner section codes)."""
    level = [composition]
    for code in codes:
        level = [
            s
            for parent in level
            for s in parent.get("section") or []
            if str(code) in map(str, values(s, "code.coding.code"))
        ]
    return level


def _targets(bundle: dict[str, Any], on: str) -> list[tuple[str, dict[str, Any]]]:
    if on == "bundle":
        return [("Bundle", bundle)]
    if on == "composition":
        comps = [e.get("resource") or {} for e in _entries(bundle)[:1]]
        return [("Composition", c) for c in comps if c.get("resourceType") == "Composition"]
    rtype = on.split(":", 1)[1]  # entry:<ResourceType>
    return [
        (f"Bundle.entry[{i}]({rtype})", e.get("resource") or {})
        for i, e in enumerate(_entries(bundle))
        if (e.get("resource") or {}).get("resourceType") == rtype
    ]


def _count_problem(n: int, rule: dict[str, Any], what: str) -> str | None:
    low, high = int(rule.get("min", 0)), rule.get("max")
    if n < low or (high is not None and n > int(high)):
        return f"needs {low}..{high if high is not None else '*'} {what}, has {n}"
    return None


def _check(rule: dict[str, Any], bundle: dict[str, Any], where: str, res: dict[str, Any]) -> str | None:
    kind, path = rule["kind"], str(rule.get("path", ""))
    if kind == "required":
        return None if values(res, path) else f"{path} is required"
    if kind == "fixed":
        got = values(res, path)
        return None if got and all(v == rule["value"] for v in got) else f"{path} must be {rule['value']!r}"
    if kind == "pattern":
        got = values(res, path)
        ok = got and all(isinstance(v, str) and re.fullmatch(rule["regex"], v) for v in got)
        return None if ok else f"{path} must match {rule['regex']}"
    if kind == "count":
        return _count_problem(len(values(res, path)), rule, path)
    if kind == "first_entry":
        first = (_entries(bundle)[:1] or [{}])[0].get("resource") or {}
        return None if first.get("resourceType") == rule["type"] else f"the first entry must be a {rule['type']}"
    if kind == "entry_count":
        n = sum(1 for e in _entries(bundle) if (e.get("resource") or {}).get("resourceType") == rule["type"])
        return _count_problem(n, rule, f"{rule['type']} entries")
    if kind == "entry_types":
        wrong = sorted(
            {str((e.get("resource") or {}).get("resourceType")) for e in _entries(bundle)} - set(rule["allowed"])
        )
        return f"entries of type {', '.join(wrong)} are not allowed here" if wrong else None
    if kind == "entry_elements":
        urls = [e.get("fullUrl") for e in _entries(bundle)]
        if len(set(urls)) != len(urls):
            return "every entry needs its own fullUrl (FHIR R4 bdl-7)"
        for i, e in enumerate(_entries(bundle)):
            if not str(e.get("fullUrl", "")).startswith(rule["full_url_prefix"]):
                return f"entry[{i}].fullUrl must start with {rule['full_url_prefix']}"
            present = [k for k in rule.get("forbidden", []) if k in e]
            if present:
                return f"entry[{i}] must not carry {', '.join(present)}"
        return None
    if kind == "tag_matches_entries":
        tags = [t.get("code") for t in (res.get("meta") or {}).get("tag", []) if t.get("system") == rule["system"]]
        types = {(e.get("resource") or {}).get("resourceType") for e in _entries(bundle)} - {"Patient"}
        return (
            None
            if len(tags) == 1 and types == {tags[0]}
            else "meta.tag resourceType must name the one type the entries hold"
        )
    if kind == "section":
        found = _sections(res, rule["codes"])
        problem = _count_problem(len(found), rule, f"section {'/'.join(map(str, rule['codes']))}")
        if problem or not found:
            return problem
        sec = found[0]
        if "title" in rule and sec.get("title") != rule["title"]:
            return f"section {rule['codes'][-1]} title must be {rule['title']!r}"
        if "system" in rule and values(sec, "code.coding.system") != [rule["system"]]:
            return f"section {rule['codes'][-1]} code system must be {rule['system']}"
        return None
    if kind == "section_entries":
        for sec in _sections(res, rule["codes"]):
            refs = values(sec, "entry.reference")
            problem = _count_problem(len(refs), rule, f"entries in section {rule['codes'][-1]}")
            if problem and not (rule.get("or_empty_reason") and values(sec, "emptyReason.coding.code")):
                return problem
            by_url = {e.get("fullUrl"): (e.get("resource") or {}) for e in _entries(bundle)}
            for ref in refs:
                if by_url.get(ref, {}).get("resourceType") not in rule["types"]:
                    return f"section {rule['codes'][-1]} entries must reference a {' or '.join(rule['types'])} entry"
        return None
    if kind == "section_xor":
        have = [c for c in rule["codes"] if _sections(res, [c])]
        return None if len(have) == 1 else f"exactly one of sections {' / '.join(rule['codes'])} must be present"
    if kind == "resolves":
        urls = {e.get("fullUrl") for e in _entries(bundle)}
        refs = values(res, path)
        missing = [r for r in refs if r not in urls]
        return f"{path} must reference an entry of this Bundle by its fullUrl" if missing or not refs else None
    if kind == "identifier":
        found = [i for i in res.get("identifier") or [] if i.get("system") == rule["system"] and i.get("value")]
        problem = _count_problem(len(found), rule, f"identifier(s) of system {rule['system']}")
        if problem:
            return problem
        bad = [i for i in found if "regex" in rule and not re.fullmatch(rule["regex"], str(i["value"]))]
        return f"identifier of system {rule['system']} must match {rule['regex']}" if bad else None
    if kind == "local_patient_id":
        prefix = rule["prefix"]
        local = [
            str(i.get("system", "")) for i in res.get("identifier") or [] if str(i.get("system", "")).startswith(prefix)
        ]
        numbers = values(res, "extension.valueIdentifier.value")
        ok = all(sys_[len(prefix) :] == "1" + str(n) for sys_ in local for n in numbers[:1]) and (not local or numbers)
        return None if ok else "the facility patient-id system must be the prefix + 1 + the JP_eCS_InstitutionNumber"
    if kind == "extension":
        n = sum(
            1
            for x in res.get("extension") or []
            if x.get("url") == rule["url"] and any(k.startswith("value") for k in x)
        )
        return _count_problem(n, rule, f"extension {rule['url'].rsplit('/', 1)[-1]}")
    raise ValueError(f"clins rule table: unknown rule kind {kind!r}")


def bundle_problems(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, why) for every JP-CLINS rule the bundle (or its Composition, or an entry) breaks."""
    t = table()
    claimed = _claims(bundle)
    first = (_entries(bundle)[:1] or [{}])[0].get("resource") or {}
    claimed |= _claims(first) if first.get("resourceType") == "Composition" else set()
    active = {name for name, url in t["profiles"].items() if url in claimed}
    problems: list[tuple[str, str]] = []
    for rule in t["rules"]:
        if rule["profile"] not in active:
            continue
        for where, res in _targets(bundle, str(rule.get("on", "bundle"))):
            why = _check(rule, bundle, where, res)
            if why:
                problems.append((where, f"{why} ({rule['profile']}: {rule['cite']})"))
    return problems


def _resolve(node: Any, by_url: dict[Any, str]) -> Any:
    if isinstance(node, dict):
        out = {k: _resolve(v, by_url) for k, v in node.items()}
        if isinstance(out.get("reference"), str) and out["reference"] in by_url:
            out["reference"] = by_url[out["reference"]]
        return out
    if isinstance(node, list):
        return [_resolve(v, by_url) for v in node]
    return node


def check_bundle(bundle: dict[str, Any]) -> None:
    """Raise FhirValidationError unless the bundle is valid R4B, keeps the JP-CLINS rules of the profiles
    it claims, and every entry keeps the code checks and the JP Core rules of its own profiles."""
    problems = structure_problems(bundle) + bundle_problems(bundle)
    # JP Core's reference rules read "Type/id"; inside a document an entry is referenced by its fullUrl,
    # so resolve those back to the entry's type and id before the per-resource checks.
    resolved = {
        e.get("fullUrl"): f"{(e.get('resource') or {}).get('resourceType')}/{(e.get('resource') or {}).get('id')}"
        for e in _entries(bundle)
    }
    for i, entry in enumerate(_entries(bundle)):
        res = _resolve(entry.get("resource") or {}, resolved)
        rtype = res.get("resourceType", "?")
        problems += [(f"Bundle.entry[{i}]({rtype}).{w}", why) for w, why in check_codes(res) + profile_problems(res)]
    if problems:
        raise FhirValidationError("Bundle", problems)
