"""A small FHIR R4 REST client on `requests`, with errors typed for the engine.

    client = FhirClient("https://fhir.example.jp/fhir/R4", auth="env:FHIR_TOKEN", timeout=10)
    bundle = client.transaction(bundle_dict)              # POST [base]
    for res in client.search("Observation", {"_lastUpdated": "gt2024-01-01T00:00:00Z"}):
        ...                                               # follows Bundle.link[next]

Errors follow the shared HTTP policy (connectors/http_errors.py):
    timeouts, connection failures, 408/425/429 and 5xx  -> FhirRetryableError (retry_after from Retry-After)
    other 4xx                                           -> FhirPermanentError (PermanentDeliveryError)
The message carries the method, the path without the query (a search query can hold a patient id or name)
and a summary of the OperationOutcome: issue codes, element paths and the diagnostics with quoted
strings, non-ASCII text and long digit runs masked, since servers echo submitted values there.

`auth` is a secret reference, never the secret: "env:NAME" or "file:/path" holding a bearer token (a
"Basic " or "Bearer " prefix in the secret is sent as is).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests

from renkei.connectors.http_errors import (
    HttpPermanentError,
    HttpRetryableError,
    status_error,
    transport_error,
)
from renkei.connectors.secrets import resolve_reference

FHIR_JSON = "application/fhir+json"


class FhirRetryableError(HttpRetryableError):
    pass


class FhirPermanentError(HttpPermanentError):
    def __init__(self, message: str, status: int | None = None, outcome: dict[str, Any] | None = None) -> None:
        super().__init__(message, status)
        self.outcome = outcome


def resolve_secret(reference: str) -> str:
    """The secret behind "env:NAME" or "file:/path" (connectors/secrets.py); "" when no auth is configured."""
    if not reference:
        return ""
    return resolve_reference(reference, setting="fhir auth")


_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'|「[^」]*」")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_DIGITS = re.compile(r"\d{4,}")


def scrub(text: str) -> str:
    """Mask what could be patient data in a server's free text; keep the structure of the message."""
    text = _QUOTED.sub('"…"', text)
    text = _NON_ASCII.sub("…", text)
    return _DIGITS.sub("#", text)[:300]


def outcome_summary(outcome: Any) -> str:
    if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
        return "no OperationOutcome"
    parts = []
    for issue in outcome.get("issue", [])[:5]:
        text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or ""
        where = ",".join(issue.get("expression") or issue.get("location") or [])
        piece = f"{issue.get('severity', '?')}/{issue.get('code', '?')}"
        if where:
            piece += f" at {scrub(where)}"
        if text:
            piece += f": {scrub(text)}"
        parts.append(piece)
    return "; ".join(parts) or "empty OperationOutcome"


class FhirClient:
    """One FHIR server's REST API. Thread-compatible (one requests.Session per client)."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: str = "",
        timeout: float = 30.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._origin = urlsplit(self.base_url)[:2]
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": FHIR_JSON, "User-Agent": "renkei-fhir"})
        secret = resolve_secret(auth)
        if secret:
            scheme = "" if secret.split(" ", 1)[0] in ("Bearer", "Basic") else "Bearer "
            self.session.headers["Authorization"] = scheme + secret

    # -- plumbing ------------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            # Only follow links (paging) back to the same server: never send the token elsewhere.
            if urlsplit(path)[:2] != self._origin:
                raise FhirPermanentError("fhir: refusing to follow a link to another server")
            return path
        return f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """Send one request; return the response if 2xx, else raise the typed error."""
        url = self._url(path)
        shown = f"{method} {urlsplit(url).path}"
        hdrs = {"Content-Type": FHIR_JSON + "; charset=utf-8"} if json is not None else {}
        hdrs.update(headers or {})
        try:
            resp = self.session.request(method, url, params=params, json=json, headers=hdrs, timeout=self.timeout)
        except requests.RequestException as exc:
            failed = transport_error(exc, f"fhir: {shown}")
            if isinstance(failed, HttpRetryableError):
                raise FhirRetryableError(str(failed)) from exc
            raise FhirPermanentError(str(failed)) from exc
        if resp.status_code < 300:
            return resp
        try:
            outcome = resp.json()
        except ValueError:
            outcome = None
        message = f"fhir: {shown}: HTTP {resp.status_code}: {outcome_summary(outcome)}"
        refused = status_error(resp.status_code, message, resp.headers)
        if isinstance(refused, HttpRetryableError):
            raise FhirRetryableError(message, resp.status_code, refused.retry_after)
        raise FhirPermanentError(message, resp.status_code, outcome if isinstance(outcome, dict) else None)

    def _json(self, resp: requests.Response) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError as exc:
            where = urlsplit(resp.url).path
            raise FhirRetryableError(f"fhir: {resp.request.method} {where}: response is not JSON") from exc
        if not isinstance(body, dict):
            raise FhirPermanentError("fhir: response is not a FHIR resource")
        return body

    # -- interactions ----------------------------------------------------------------------------------
    def read(self, resource_type: str, rid: str) -> dict[str, Any]:
        return self._json(self.request("GET", f"{resource_type}/{rid}"))

    def vread(self, resource_type: str, rid: str, version: str) -> dict[str, Any]:
        return self._json(self.request("GET", f"{resource_type}/{rid}/_history/{version}"))

    def create(self, resource: dict[str, Any], if_none_exist: str = "") -> tuple[int, dict[str, Any]]:
        """POST; with `if_none_exist` ("identifier=sys|val") a conditional create. Returns (status, resource)."""
        headers = {"If-None-Exist": if_none_exist} if if_none_exist else None
        resp = self.request("POST", resource["resourceType"], json=resource, headers=headers)
        return resp.status_code, self._json(resp)

    def update(self, resource: dict[str, Any], if_match: str = "") -> dict[str, Any]:
        headers = {"If-Match": f'W/"{if_match}"'} if if_match else None
        path = f"{resource['resourceType']}/{resource['id']}"
        return self._json(self.request("PUT", path, json=resource, headers=headers))

    def conditional_update(self, resource: dict[str, Any], search: dict[str, str]) -> dict[str, Any]:
        """PUT [type]?search: update the one match, or create when none matches."""
        return self._json(self.request("PUT", resource["resourceType"], params=search, json=resource))

    def transaction(self, bundle: dict[str, Any]) -> dict[str, Any]:
        return self._json(self.request("POST", "", json=bundle))

    def search_pages(self, resource_type: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Each searchset Bundle page, following `next` links."""
        page = self._json(self.request("GET", resource_type, params=params))
        while True:
            yield page
            nxt = next((link["url"] for link in page.get("link", []) if link.get("relation") == "next"), None)
            if not nxt:
                return
            page = self._json(self.request("GET", nxt))

    def search(self, resource_type: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Matching resources (search mode "match"; included resources are skipped), across pages."""
        for page in self.search_pages(resource_type, params):
            for entry in page.get("entry", []):
                if entry.get("search", {}).get("mode", "match") == "match" and "resource" in entry:
                    yield entry["resource"]

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
