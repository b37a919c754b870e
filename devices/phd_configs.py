"""Device configurations: the standard ones of IEEE 11073-104xx, and extended ones learnt from agents.

A `Configuration` is what the manager needs to read scan reports: per object handle the metric's type
code, unit, compound component codes and the Attribute-Value-Map (which attributes, in which order and
length, a fixed-format report carries). Standard configurations are written as the config-report object
lists the specializations define, so the same parser builds them and agents can send them as extended
configurations:

    0x0190/0x0191 pulse oximeter (10404)  handle 1 SpO2 %, handle 10 pulse rate bpm   SFLOAT + abs time
    0x02BC blood pressure (10407)         handle 1 sys/dia/mean mmHg (compound), handle 2 pulse bpm
    0x0320 thermometer (10408)            handle 1 body temperature degC             SFLOAT + abs time
    0x05DC weighing scale (10415)         handle 1 body mass kg                      FLOAT + abs time
    0x06A4 glucose meter (10417)          handle 1 capillary whole-blood glucose mg/dL SFLOAT + abs time

The object lists follow the specializations as reproduced in signove/antidote `src/specializations/`
(0x0191 reuses 0x0190's list there as well).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from renkei.devices import nomenclature as mdc
from renkei.devices.errors import DeviceCodecError
from renkei.devices.mder import Writer
from renkei.devices.phd_reports import Ava, ConfigObject, ConfigReport, TypeId, ava_value

# measured, agent-initiated, stored data, aperiodic, intermittent (0xF040) as the specializations use
METRIC_SPEC_INTERMITTENT = 0xF040
METRIC_SPEC_SPO2 = 0x4040
_MODALITIES = {mdc.MDC_MODALITY_FAST, mdc.MDC_MODALITY_SLOW, mdc.MDC_MODALITY_SPOT}
MS_STRUCT_COMPOUND_FIX = 3  # 0x0303: compound, 3 components (BP)


@dataclass(slots=True)
class MetricObject:
    handle: int
    obj_class: int
    type_code: int = 0
    partition: int = mdc.MDC_PART_SCADA
    unit_code: int | None = None
    physio_ids: list[int] = field(default_factory=list)  # codes of compound components (sys/dia/mean)
    attr_val_map: list[tuple[int, int]] = field(default_factory=list)  # (attribute id, length)
    modality: int | None = None  # supplemental type MDC_MODALITY_FAST/SLOW/SPOT (10404): a distinct metric
    label: str = ""  # the device's own label (MDC_ATTR_ID_LABEL_STRING), shown for private metrics

    @property
    def fixed_length(self) -> int:
        return sum(n for _, n in self.attr_val_map)


@dataclass(slots=True)
class Configuration:
    config_id: int
    objects: dict[int, MetricObject]
    specialization: str = ""
    names: dict[str, int] = field(default_factory=dict)  # friendly value name -> handle, for agents
    report: ConfigReport | None = None  # the object list as a config report (to send or re-check)
    # scanner handle -> [(object handle, its attribute-value map)]: how a grouped scan report is laid out
    scanners: dict[int, list[tuple[int, list[tuple[int, int]]]]] = field(default_factory=dict)

    @property
    def extended(self) -> bool:
        return self.config_id >= mdc.EXTENDED_CONFIG_MIN

    @classmethod
    def from_config_report(cls, report: ConfigReport, base: int = 0) -> Configuration:
        """Build from an agent's config report; raises DeviceCodecError on an unusable object."""
        objects: dict[int, MetricObject] = {}
        scanners: dict[int, list[tuple[int, list[tuple[int, int]]]]] = {}
        for obj in report.objects:
            if obj.obj_class in (mdc.MDC_MOC_SCAN_CFG_EPI, mdc.MDC_MOC_SCAN_CFG_PERI):
                for a in obj.attributes:
                    if a.attribute_id == mdc.MDC_ATTR_SCAN_HANDLE_ATTR_VAL_MAP:
                        scanners[obj.obj_handle] = ava_value(a, base)  # type: ignore[assignment]
                continue
            if obj.obj_class not in (mdc.MDC_MOC_VMO_METRIC_NU, mdc.MDC_MOC_VMO_METRIC_ENUM, mdc.MDC_MOC_VMO_METRIC):
                continue  # PM-stores …: not needed to read scan reports
            m = MetricObject(obj.obj_handle, obj.obj_class)
            for a in obj.attributes:
                value = ava_value(a, base)
                if a.attribute_id == mdc.MDC_ATTR_ID_TYPE:
                    assert isinstance(value, TypeId)
                    m.partition, m.type_code = value.partition, value.code
                elif a.attribute_id == mdc.MDC_ATTR_UNIT_CODE:
                    m.unit_code = value  # type: ignore[assignment]
                elif a.attribute_id == mdc.MDC_ATTR_ID_PHYSIO_LIST:
                    m.physio_ids = value  # type: ignore[assignment]
                elif a.attribute_id == mdc.MDC_ATTR_ATTRIBUTE_VAL_MAP:
                    m.attr_val_map = value  # type: ignore[assignment]
                elif a.attribute_id == mdc.MDC_ATTR_SUPPLEMENTAL_TYPES:
                    modalities = [t.code for t in value if t.code in _MODALITIES]  # type: ignore[attr-defined]
                    m.modality = modalities[0] if modalities else None
                elif a.attribute_id == mdc.MDC_ATTR_ID_LABEL_STRING:
                    m.label = str(value)
            if not m.type_code:
                raise DeviceCodecError(f"config object handle {obj.obj_handle} has no Type attribute", base)
            objects[m.handle] = m
        spec = mdc.SPECIALIZATIONS.get(report.config_report_id, "extended" if report.config_report_id >= 0x4000 else "")
        for handle, entries in scanners.items():
            for obj_handle, _avm in entries:
                if obj_handle not in objects:
                    reason = f"scanner handle {handle} maps object handle {obj_handle}, which is not configured"
                    raise DeviceCodecError(reason, base)
        return cls(report.config_report_id, objects, spec, report=report, scanners=scanners)

    def with_id(self, config_id: int) -> Configuration:
        """The same object list under another id (an agent announcing it as an extended config)."""
        assert self.report is not None
        report = ConfigReport(config_id, self.report.objects)
        out = Configuration.from_config_report(report)
        out.names = dict(self.names)
        out.specialization = self.specialization
        return out


def _ava(attr_id: int, w: Writer) -> Ava:
    return Ava(attr_id, w.bytes())


def _numeric(
    handle: int,
    type_code: int,
    unit: int,
    avm: list[tuple[int, int]],
    *,
    spec: int = METRIC_SPEC_INTERMITTENT,
    physio: list[int] | None = None,
) -> ConfigObject:
    attrs = [
        _ava(mdc.MDC_ATTR_ID_TYPE, Writer().u16(mdc.MDC_PART_SCADA).u16(type_code)),
        _ava(mdc.MDC_ATTR_METRIC_SPEC_SMALL, Writer().u16(spec)),
    ]
    if physio:
        attrs.append(_ava(mdc.MDC_ATTR_METRIC_STRUCT_SMALL, Writer().u8(MS_STRUCT_COMPOUND_FIX).u8(len(physio))))
        ids = Writer().u16(len(physio)).u16(2 * len(physio))
        for code in physio:
            ids.u16(code)
        attrs.append(_ava(mdc.MDC_ATTR_ID_PHYSIO_LIST, ids))
    attrs.append(_ava(mdc.MDC_ATTR_UNIT_CODE, Writer().u16(unit)))
    avm_w = Writer().u16(len(avm)).u16(4 * len(avm))
    for attr_id, n in avm:
        avm_w.u16(attr_id).u16(n)
    attrs.append(_ava(mdc.MDC_ATTR_ATTRIBUTE_VAL_MAP, avm_w))
    return ConfigObject(mdc.MDC_MOC_VMO_METRIC_NU, handle, attrs)


_BASIC_TS = [(mdc.MDC_ATTR_NU_VAL_OBS_BASIC, 2), (mdc.MDC_ATTR_TIME_STAMP_ABS, 8)]
_SIMP_TS = [(mdc.MDC_ATTR_NU_VAL_OBS_SIMP, 4), (mdc.MDC_ATTR_TIME_STAMP_ABS, 8)]
_CMPD_TS = [(mdc.MDC_ATTR_NU_CMPD_VAL_OBS_BASIC, 10), (mdc.MDC_ATTR_TIME_STAMP_ABS, 8)]


def _pulse_oximeter(config_id: int) -> Configuration:
    objs = [
        _numeric(1, mdc.MDC_PULS_OXIM_SAT_O2, mdc.MDC_DIM_PERCENT, _BASIC_TS, spec=METRIC_SPEC_SPO2),
        _numeric(10, mdc.MDC_PULS_OXIM_PULS_RATE, mdc.MDC_DIM_BEAT_PER_MIN, _BASIC_TS, spec=METRIC_SPEC_SPO2),
    ]
    cfg = Configuration.from_config_report(ConfigReport(config_id, objs))
    cfg.names = {"spo2": 1, "pulse": 10}
    return cfg


def blood_pressure(config_id: int = 0x02BC, unit: int = mdc.MDC_DIM_MMHG, *, status: bool = False) -> Configuration:
    """The 10407 object list (compound sys/dia/mean, pulse). 0x02BC is the standard one (mmHg, no status);
    other units, or a Measurement-Status in each report (`status`: the attribute-value maps carry
    MDC_ATTR_MSMT_STAT), are announced as an extended configuration (config_id >= 0x4000)."""
    bp = [mdc.MDC_PRESS_BLD_NONINV_SYS, mdc.MDC_PRESS_BLD_NONINV_DIA, mdc.MDC_PRESS_BLD_NONINV_MEAN]
    stat = [(mdc.MDC_ATTR_MSMT_STAT, 2)] if status else []
    objs = [
        _numeric(1, mdc.MDC_PRESS_BLD_NONINV, unit, _CMPD_TS[:1] + stat + _CMPD_TS[1:], physio=bp),
        _numeric(2, mdc.MDC_PULS_RATE_NON_INV, mdc.MDC_DIM_BEAT_PER_MIN, _BASIC_TS[:1] + stat + _BASIC_TS[1:]),
    ]
    cfg = Configuration.from_config_report(ConfigReport(config_id, objs))
    cfg.names = {"bp": 1, "pulse": 2}
    cfg.specialization = "blood-pressure"
    return cfg


def _single(config_id: int, type_code: int, unit: int, avm: list[tuple[int, int]], name: str) -> Configuration:
    cfg = Configuration.from_config_report(ConfigReport(config_id, [_numeric(1, type_code, unit, avm)]))
    cfg.names = {name: 1}
    return cfg


STANDARD_CONFIGS: dict[int, Configuration] = {
    0x0190: _pulse_oximeter(0x0190),
    0x0191: _pulse_oximeter(0x0191),
    0x02BC: blood_pressure(),
    0x0320: _single(0x0320, mdc.MDC_TEMP_BODY, mdc.MDC_DIM_DEGC, _BASIC_TS, "temperature"),
    0x05DC: _single(0x05DC, mdc.MDC_MASS_BODY_ACTUAL, mdc.MDC_DIM_KILO_G, _SIMP_TS, "weight"),
    0x06A4: _single(0x06A4, mdc.MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD, mdc.MDC_DIM_MILLI_G_PER_DL, _BASIC_TS, "glucose"),
}

# specialization name -> its (first) standard configuration id, for agents and simulators
SPECIALIZATION_CONFIG_IDS: dict[str, int] = {
    "pulse-oximeter": 0x0190,
    "blood-pressure": 0x02BC,
    "thermometer": 0x0320,
    "weighing-scale": 0x05DC,
    "glucose-meter": 0x06A4,
}
