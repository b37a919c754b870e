"""JP-CLINS (電子カルテ情報共有サービス): the six clinical information items and the three documents.

    from renkei.connectors.fhir.clins import ClinsDocuments, DocumentRequest, six_item_bundles, check_bundle

Built on the JP Core converter (connectors/fhir/jpcore.py): items.py sorts its resources into the six
items, documents.py makes 診療情報提供書 / 退院時サマリー / 健診結果報告書 document Bundles, collection.py the
JP_Bundle_CLINS 6情報 bundles, rules.py checks a bundle against the JP-CLINS rule table
(mappings/specs/profiles/clins_rules.yaml), destination.py is the `fhir-clins` connector.
"""

from renkei.connectors.fhir.clins._parties import Author
from renkei.connectors.fhir.clins.collection import six_item_bundles
from renkei.connectors.fhir.clins.destination import FhirClinsDestination, FhirClinsSettings
from renkei.connectors.fhir.clins.documents import ClinsDocuments, DocumentRequest
from renkei.connectors.fhir.clins.items import ClinsItems
from renkei.connectors.fhir.clins.rules import bundle_problems, check_bundle

__all__ = [
    "Author",
    "ClinsDocuments",
    "ClinsItems",
    "DocumentRequest",
    "FhirClinsDestination",
    "FhirClinsSettings",
    "bundle_problems",
    "check_bundle",
    "six_item_bundles",
]
