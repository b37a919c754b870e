"""FHIR R4 / JP Core: conversion, a REST client, and three connectors.

    from renkei.connectors.fhir import JPCoreConverter, check_resource
    conv = JPCoreConverter("1311234567", source_system="ssmix2")
    resource = conv.convert(record); check_resource(resource)

Connectors (entry points in pyproject.toml):
    fhir                FhirDestination: canonical records -> transaction bundle of conditional updates
    fhir-source         FhirSource: resources changed since the stored _lastUpdated -> canonical records
    fhir-communication  FhirCommunicationTimeline: a patient timeline as CareTeam + Communications
"""

from renkei.connectors.fhir.bundle import locations, transaction_bundle
from renkei.connectors.fhir.client import (
    FhirClient,
    FhirPermanentError,
    FhirRetryableError,
    resolve_secret,
)
from renkei.connectors.fhir.communication import FhirCommunicationTimeline
from renkei.connectors.fhir.destination import FhirDestination
from renkei.connectors.fhir.jpcore import JPCoreConverter, UnsupportedRecord
from renkei.connectors.fhir.parse import FhirParseError, FhirToCanonical
from renkei.connectors.fhir.source import FhirSource
from renkei.connectors.fhir.validate import FhirValidationError, check_resource

__all__ = [
    "FhirClient",
    "FhirCommunicationTimeline",
    "FhirDestination",
    "FhirParseError",
    "FhirPermanentError",
    "FhirRetryableError",
    "FhirSource",
    "FhirToCanonical",
    "FhirValidationError",
    "JPCoreConverter",
    "UnsupportedRecord",
    "check_resource",
    "locations",
    "resolve_secret",
    "transaction_bundle",
]
