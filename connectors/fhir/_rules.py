"""JP Core profile rules, shipped as data (mappings/specs/profiles/jpcore_rules.yaml), checked per resource.

fhir.resources checks R4 structure; these rules add what a JP Core profile requires on top (category
slices, choice types, reference targets, extension contexts). A resource is checked against the rules
of the profiles in its meta.profile (canonical|version) for that JP Core version. Problems are
(element path, reason citing the rule's source): never a value.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from renkei.mappings import BUILTIN_DIR
from renkei.yamlio import YamlDoc, plain

RULES_FILE = BUILTIN_DIR / "profiles" / "jpcore_rules.yaml"
JP_PROFILE_PREFIX = "http://jpfhir.jp/fhir/core/StructureDefinition/"


@cache
def rules() -> list[dict[str, Any]]:
    data = plain(YamlDoc(RULES_FILE).data)
    return list(data["rules"])


def _profiles(resource: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for canonical in (resource.get("meta") or {}).get("profile", []):
        url, _, version = str(canonical).partition("|")
        if url.startswith(JP_PROFILE_PREFIX):
            out.append((url[len(JP_PROFILE_PREFIX) :], version))
    return out


def _applies(rule: dict[str, Any], rtype: str, profiles: list[tuple[str, str]]) -> bool:
    target = str(rule["profile"])
    for name, version in profiles:
        if version and version not in [str(v) for v in rule.get("versions", [])]:
            continue
        if target == name or (target.startswith("*") and rtype == target[1:]):
            return True
    return False


@cache
def _applicable(rtype: str, profiles: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
    """The rules for one resource type and meta.profile list, looked up once per combination."""
    return [rule for rule in rules() if _applies(rule, rtype, list(profiles))]


def _codings(concept: Any) -> list[dict[str, Any]]:
    return [c for c in (concept or {}).get("coding", []) if isinstance(c, dict)] if isinstance(concept, dict) else []


def _has(resource: dict[str, Any], path: str) -> bool:
    if path.endswith("[x]"):  # a choice element: any of its typed names
        stem = path[:-3]
        typed = [k for k in resource if k.startswith(stem) and len(k) > len(stem) and k[len(stem)].isupper()]
        return any(_has(resource, k) for k in typed)
    value = resource.get(path)
    return value not in (None, "", [], {})


def _check(rule: dict[str, Any], res: dict[str, Any]) -> str | None:
    """The reason this rule fails for `res`, or None."""
    kind, path = rule["kind"], str(rule.get("path", ""))
    if kind == "required":
        unless = rule.get("unless")
        if unless and any(c.get("code") == unless["code"] for c in _codings(res.get(unless["path"]))):
            return None
        return None if _has(res, path) else "is required"
    if kind == "slice":
        items = [
            c
            for c in res.get(path) or []
            if any(
                d.get("system") == rule["system"] and ("code" not in rule or d.get("code") == rule["code"])
                for d in _codings(c)
            )
        ]
        low, high = int(rule.get("min", 0)), rule.get("max")
        if len(items) < low or (high is not None and len(items) > int(high)):
            want = f"{rule['system']}" + (f"#{rule['code']}" if "code" in rule else "")
            return f"needs {low}..{high if high is not None else '*'} item(s) coded {want}, has {len(items)}"
        return None
    if kind == "choice":
        stem = path.removesuffix("[x]")
        present = [k for k in res if k.startswith(stem) and k != stem and k[len(stem)].isupper()]
        wrong = [k for k in present if k not in rule["allowed"]]
        return f"only {' or '.join(rule['allowed'])} allowed, not {', '.join(wrong)}" if wrong else None
    if kind == "reference":
        ref = (res.get(path) or {}).get("reference", "")
        if ref and not str(ref).startswith(f"{rule['target']}/"):
            return f"must reference a {rule['target']}"
        return None
    if kind == "extension_at":
        misplaced = [e for e in res.get("extension", []) if e.get("url") == rule["url"]]
        return f"extension {rule['url'].rsplit('/', 1)[-1]} belongs on {rule['at']}" if misplaced else None
    if kind == "coding_min":
        return None if len(_codings(res.get(path))) >= int(rule["min"]) else f"needs at least {rule['min']} coding(s)"
    if kind == "status_in":  # a code, or a list of codes (AllergyIntolerance.category)
        value = res.get(path)
        if value is None and rule.get("optional"):
            return None
        values = value if isinstance(value, list) else [value]
        return None if all(v in rule["values"] for v in values) else "not in the required value set"
    if kind == "code_in":  # a required binding on a CodeableConcept: its codings of `system` use these codes
        of_system = [c for c in _codings(res.get(path)) if c.get("system") == rule["system"]]
        wrong = [c for c in of_system if c.get("code") not in rule["values"]]
        return "code not in the required value set" if wrong else None
    if kind == "fixed_coding":  # `path` (one CodeableConcept or a list) = this coding (exactly)
        concepts = res.get(path)
        concepts = concepts if isinstance(concepts, list) else [concepts] if concepts else []
        want = {k: rule[k] for k in ("system", "code", "display") if k in rule}
        codings = [c for concept in concepts for c in _codings(concept)]
        if not codings or any({k: c.get(k) for k in want} != want or set(c) - set(want) for c in codings):
            return f"must be exactly {rule['system']}#{rule['code']}"
        return None
    if kind == "absent_if":  # invariant: `path` absent when `if_path` is coded `if_code`
        coded = any(c.get("code") == rule["if_code"] for c in _codings(res.get(rule["if_path"])))
        return f"must be absent when {rule['if_path']} is {rule['if_code']}" if coded and _has(res, path) else None
    if kind == "exclusive":  # invariant: at most one of `paths`
        present = [p for p in rule["paths"] if _has(res, p)]
        return f"only one of {', '.join(rule['paths'])} may be present" if len(present) > 1 else None
    if kind == "references":  # every reference of the list `path` names a `target`
        bad = [
            r for r in res.get(path) or []
            if r.get("reference") and not str(r["reference"]).startswith((f"{rule['target']}/", "urn:uuid:"))
        ]  # fmt: skip
        return f"must reference {rule['target']} resources only" if bad else None
    if kind == "identifier_slice":
        n = sum(1 for i in res.get("identifier") or [] if i.get("system") == rule["system"] and i.get("value"))
        low, high = int(rule.get("min", 0)), rule.get("max")
        if n < low or (high is not None and n > int(high)):
            return f"needs {low}..{high if high is not None else '*'} identifier(s) of system {rule['system']}, has {n}"
        return None
    if kind == "system_in":
        wrong = [c.get("system", "") for c in _codings(res.get(path)) if c.get("system") not in rule["systems"]]
        return f"coding system must be {' or '.join(rule['systems'])}" if wrong else None
    if kind == "identifier_prefix":
        outer, _, inner = path.partition(".")
        items = res.get(outer) or []
        for item in items if isinstance(items, list) else [items]:
            ident = ((item or {}).get(inner) or {}).get("identifier") if inner else (item or {}).get("identifier")
            if ident and not str(ident.get("system", "")).startswith(rule["prefix"]):
                return f"identifier system must start with {rule['prefix']}"
        return None
    return f"unknown rule kind {kind!r}"


def profile_problems(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """(element path, reason with the JP Core source) for every rule this resource breaks."""
    rtype = str(resource.get("resourceType", "?"))
    profiles = _profiles(resource)
    problems = []
    for rule in _applicable(rtype, tuple(profiles)):
        reason = _check(rule, resource)
        if reason:
            where = f"{rtype}.{rule.get('path') or rule.get('at') or ''}".rstrip(".")
            problems.append((where, f"{reason} (JP Core {rule['cite']})"))
    return problems
