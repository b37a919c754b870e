"""SS-MIX2 standardized and extended storage: scan, parse into canonical records, check, generate.

    from renkei.connectors.ssmix2 import SSMIX2Source, parse_file, scan

    src = SSMIX2Source("ehr", SSMIX2Source.Settings(root="/srv/ssmix2"))
    for item in src.scan():                       # SourceItem(key, "mtime_ns:size", patient folder)
        parsed = src.parse(item.key, src.read(item.key))   # Parsed(records, patient_id, data_type, warnings)

record_key rule (what makes an update replace and a delete retract downstream):
    <patient id>/<data type>/<order number, or "@"+care date when the name has 999999999999999>/<fact>
The event timestamp and the condition flag are NOT part of it: an update renames the old file `_1` to
`_2` and writes a new `_1` with a new timestamp for the same fact, and both must yield the same key
(the `_2` one with status superseded, the `_0` one with status deleted). The care date is left out when
there is an order number, so a corrected date (the new file lands in another date folder) still
replaces the old record. `<fact>` is what identifies the fact inside the file: "patient" for ADT-00, the
JLAC10 code (else the local code) plus OBX-4 sub-id for a result, …; a repeat of the same fact in one
file gets "#2", "#3".

Extended storage (`<pid>/<date>/<kind folder>/<content folder>/main_document.*`): ORU^R30 vitals become
Observations, CDA R2 XML and PDF become Documents (data type "EXT"). The content folder usually has the
7-part standard name, whose order number and condition flag then count as the file's; any other name is
an opaque document id and stands in the key's order-number slot. Vital readings add their measurement
time to the fact (several readings a day, no order number); documents use "document/<LOINC or kind>".
Other files in a content folder are attachments: kept, no records. CDA is parsed with entity
declarations refused; malformed XML is quarantined (`bad_document`) with expat's line and column.
"""

from ._errors import FATAL_KINDS, KINDS, Defect, SSMIX2Error
from ._parse import ParseOptions, inspect_file, parse_file
from ._report import FileReport, inspect_storage
from ._source import SSMIX2Source, scan

__all__ = [
    "FATAL_KINDS",
    "KINDS",
    "Defect",
    "FileReport",
    "ParseOptions",
    "SSMIX2Error",
    "SSMIX2Source",
    "inspect_file",
    "inspect_storage",
    "parse_file",
    "scan",
]
