"""One metric object's decoded attribute values -> canonical Observations (used by `phd_manager`).

The observation's time comes from whichever time attribute the report carries (absolute, base-offset or
relative against the MDS clock); status bits, person id, modality and the device's label become flags;
values go through `readings.make_observation` (which withholds numbers the device marks unusable).
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from renkei.devices import nomenclature as mdc
from renkei.devices import phd_reports as rep
from renkei.devices.mder import MderNumber
from renkei.devices.phd_configs import MetricObject
from renkei.devices.readings import make_observation
from renkei.records import Observation


def observation_time(
    values: dict[int, object], flags: list[str], device_tz: tzinfo | None, mds_clock: tuple[int, datetime] | None
) -> datetime | None:
    """The observation's time from whichever time attribute the report carries (20601 §8.5.3).

    Absolute (MDC_ATTR_TIME_STAMP_ABS, or MDC_ATTR_TIME_ABS in an attribute-value map): device-local
    wall time, given `device_tz` when the caller knows the device's zone. Base-offset
    (MDC_ATTR_TIME_STAMP_BO / MDC_ATTR_TIME_BO): carries its own UTC offset. Relative
    (MDC_ATTR_TIME_STAMP_REL, 1/8 ms ticks): placed against the MDS clock pair (Absolute-Time and
    Relative-Time read together from the MDS); without that pair the time is unknown and flagged.
    """
    for attr_id in (mdc.MDC_ATTR_TIME_STAMP_ABS, mdc.MDC_ATTR_TIME_ABS):
        when = values.get(attr_id)
        if isinstance(when, datetime):
            return _zoned(device_tz, when)
    for attr_id in (mdc.MDC_ATTR_TIME_STAMP_BO, mdc.MDC_ATTR_TIME_BO):
        when = values.get(attr_id)
        if isinstance(when, datetime):
            return when
    rel = values.get(mdc.MDC_ATTR_TIME_STAMP_REL)
    if isinstance(rel, int):
        if mds_clock is None:
            flags.append("relative-time-without-mds-clock")
            return None
        rel0, abs0 = mds_clock
        ticks = (rel - rel0) & 0xFFFFFFFF  # the relative clock wraps at 2^32
        if ticks >= 0x80000000:
            ticks -= 0x100000000
        return _zoned(device_tz, abs0 + timedelta(microseconds=ticks * 125))
    return None


def _zoned(device_tz: tzinfo | None, when: datetime) -> datetime:
    return when if when.tzinfo is not None or device_tz is None else when.replace(tzinfo=device_tz)


def metric_observations(
    obj: MetricObject,
    values: dict[int, object],
    person: int | None,
    device_id: str,
    device_tz: tzinfo | None = None,
    mds_clock: tuple[int, datetime] | None = None,
) -> list[Observation]:
    """Observations of one metric object from its decoded attribute values (a scan report's entry)."""
    status = values.get(mdc.MDC_ATTR_MSMT_STAT, 0)
    flags = mdc.status_flags(status if isinstance(status, int) else 0)
    effective = observation_time(values, flags, device_tz, mds_clock)
    if person is not None:
        flags.append(f"person-id:{person}")
    if obj.modality is not None:
        flags.append(f"modality:{mdc.term_name(obj.modality).removeprefix('MDC_MODALITY_').lower()}")
    label = values.get(mdc.MDC_ATTR_ID_LABEL_STRING) or obj.label
    if label:
        flags.append(f"label:{label}")
    unit = values.get(mdc.MDC_ATTR_UNIT_CODE, obj.unit_code)
    unit_code = unit if isinstance(unit, int) else None
    items: list[tuple[int, MderNumber, int | None, list[str]]] = []
    for attr_id in (mdc.MDC_ATTR_NU_VAL_OBS_BASIC, mdc.MDC_ATTR_NU_VAL_OBS_SIMP):
        if isinstance(values.get(attr_id), MderNumber):
            items.append((obj.type_code, values[attr_id], unit_code, flags))  # type: ignore[arg-type]
    for attr_id in (mdc.MDC_ATTR_NU_CMPD_VAL_OBS_BASIC, mdc.MDC_ATTR_NU_CMPD_VAL_OBS_SIMP):
        nums = values.get(attr_id)
        if isinstance(nums, list):
            codes = obj.physio_ids if len(obj.physio_ids) == len(nums) else [obj.type_code] * len(nums)
            items += [(c, n, unit_code, flags) for c, n in zip(codes, nums, strict=True)]
    nus: list[rep.NuObsValue] = []
    if isinstance(values.get(mdc.MDC_ATTR_NU_VAL_OBS), rep.NuObsValue):
        nus.append(values[mdc.MDC_ATTR_NU_VAL_OBS])  # type: ignore[arg-type]
    if isinstance(values.get(mdc.MDC_ATTR_NU_CMPD_VAL_OBS), list):
        nus += values[mdc.MDC_ATTR_NU_CMPD_VAL_OBS]  # type: ignore[operator]
    items += [(nu.metric_id, nu.value, nu.unit_code, flags + mdc.status_flags(nu.state)) for nu in nus]
    return [
        make_observation(
            code,
            num,
            unit_c,
            effective=effective,
            device_id=device_id,
            flags=list(fl),
            source=f"phd:{device_id}",
            partition=obj.partition,
            modality=obj.modality,
        )
        for code, num, unit_c, fl in items
    ]
