"""A dataset's `timezone` in curate.py: timestamps without Z or an offset (CSV/TSV text, JSON
strings) are local times of the zone, converted to the instant by its rules; values with Z or
an offset are unaffected, and without `timezone` nothing changes (UTC). A local time the
clocks skip (daylight-saving gap) or show twice (overlap) has no one instant: validation
refuses it, and the job fails on one instead of picking a side. Parquet inputs are unchanged.

The conversion (curate.local_time_to_utc) is held to Python's zoneinfo, an implementation of
its own: a time does not exist when neither fold round-trips, and is ambiguous when both do
and give different instants."""

import datetime as dt
import math
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import curate
from conftest import put, registry_file

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1)
GAP, FOLD = "gap", "fold"

ZONED = """
z:
  key_pattern: raw/z/{file}
  format: {format}
  {timezone}
  null_values: ["", "NA"]
  columns:
    - {name: id, type: int, required: true}
    - {name: at, type: timestamp}
"""


def registry(tmp_path, fmt, timezone="timezone: Europe/Berlin"):
    return registry_file(tmp_path, ZONED.replace("{format}", fmt).replace("{timezone}", timezone))


def run_curate(spark, lake, key, reg):
    args = curate.parse_args(["--source", str(Path(lake) / key), "--lake-root", str(lake), "--registry", reg])
    return curate.run(spark, args)


def curated(spark, lake, key, reg, data):
    put(lake, key, data)
    summary = run_curate(spark, lake, key, reg)
    return pa.concat_tables([pq.read_table(p) for p in summary["outputs"]]).to_pylist()


def failure(spark, lake, key, reg, data):
    put(lake, key, data)
    with pytest.raises(curate.JobError) as e:
        run_curate(spark, lake, key, reg)
    return str(e.value)


def utc(*a, us=0):
    return dt.datetime(*a, tzinfo=UTC) + dt.timedelta(microseconds=us)


def micros(naive):
    """Microseconds since 1970-01-01 00:00 of a naive datetime (a clock reading)."""
    d = naive - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def python_instant(local, zone):
    """The reference: the instant (microseconds) of clock reading `local` (microseconds) in
    `zone` by zoneinfo, or GAP (no fold round-trips) or FOLD (both do, at different
    instants)."""
    z = ZoneInfo(zone)
    naive = EPOCH + dt.timedelta(microseconds=local)
    found = set()
    for fold in (0, 1):
        instant = naive.replace(tzinfo=z, fold=fold).astimezone(UTC)
        if instant.astimezone(z).replace(tzinfo=None) == naive:
            found.add(micros(instant.replace(tzinfo=None)))
    if not found:
        return GAP
    return FOLD if len(found) > 1 else found.pop()


def spark_instants(spark, cases):
    """curate.local_time_to_utc of (zone, local microseconds) cases, in order: microseconds,
    or None."""
    from pyspark.sql import functions as F

    df = spark.createDataFrame([(i, z, l) for i, (z, l) in enumerate(cases)], "i long, zone string, l long")
    parts = []
    for zone in sorted({z for z, _ in cases}):
        converted = curate.local_time_to_utc(F.col("l"), zone, lambda e: e)
        parts.append(df.where(F.col("zone") == zone).select("i", F.unix_micros(converted).alias("u")))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    got = {r["i"]: r["u"] for r in out.collect()}
    return [got[i] for i in range(len(cases))]


# --- the registry ---------------------------------------------------------------------------


def test_timezone_in_the_registry(tmp_path):
    def load(line):
        reg = curate.load_registry(registry(tmp_path, "csv", line))
        return curate.dataset_from_registry(reg, "z")

    assert load("").timezone is None
    assert load("timezone: Europe/Berlin").timezone == "Europe/Berlin"
    # Names are matched without regard to case, as the Rust registry (jiff) matches them, and
    # kept in the database's spelling (Java needs it).
    assert load("timezone: america/NEW_york").timezone == "America/New_York"
    assert load("timezone: UTC").timezone == "UTC"
    assert load("timezone: Etc/GMT+5").timezone == "Etc/GMT+5"
    for bad in ("Europe/Atlantis", "CEST", "+01:00", "../../etc/passwd", "Europe/", "''"):
        with pytest.raises(curate.JobError) as e:
            load(f"timezone: {bad}")
        shown = "" if bad == "''" else bad
        assert f"dataset z: timezone {shown!r} is not a time zone of the IANA database" in str(e.value), (bad, str(e.value))


def test_a_run_with_an_unknown_zone_fails_naming_dataset_and_zone(spark, lake, tmp_path):
    reg = registry(tmp_path, "csv", "timezone: Europe/Atlantis")
    msg = failure(spark, lake, "raw/z/a.csv", reg, "id,at\n1,2026-01-15 10:00\n")
    assert "dataset z: timezone 'Europe/Atlantis' is not a time zone" in msg, msg


def test_a_zone_unknown_to_spark_fails_before_any_value(spark):
    """zoneinfo and Java carry their own tz databases; a zone only the newer one knows fails
    the run with the reason, not on the first value."""
    import dataclasses

    ds = curate.Dataset(name="z", key_pattern="raw/z/{file}", format="csv", compression="auto", header="required",
                        delimiter=",", null_values=("",), extra_columns="reject",
                        columns=(curate.Column("at", "timestamp", False),), target_prefix="curated/z/",
                        compaction_prefix="curated/z/", target_file_size=1, timezone="Europe/Berlin")
    curate.check_zone_in_spark(spark, ds)
    with pytest.raises(curate.JobError, match=r"dataset z: timezone Mars/Olympus_Mons is unknown to this Spark's Java \(tz database "):
        curate.check_zone_in_spark(spark, dataclasses.replace(ds, timezone="Mars/Olympus_Mons"))


# --- the conversion, value for value ----------------------------------------------------------

# zone, local time as written, the instant (UTC) or GAP / FOLD.
TABLE = [
    ("Europe/Berlin", "2026-01-15T10:00:00", "2026-01-15T09:00:00"),
    ("Europe/Berlin", "2026-07-15T10:00:00.123456", "2026-07-15T08:00:00.123456"),
    # Spring forward, 2026-03-29 02:00 CET -> 03:00 CEST: [02:00, 03:00) does not exist.
    ("Europe/Berlin", "2026-03-29T01:59:59.999999", "2026-03-29T00:59:59.999999"),
    ("Europe/Berlin", "2026-03-29T02:00:00", GAP),
    ("Europe/Berlin", "2026-03-29T02:30:00", GAP),
    ("Europe/Berlin", "2026-03-29T02:59:59.999999", GAP),
    ("Europe/Berlin", "2026-03-29T03:00:00", "2026-03-29T01:00:00"),
    # Fall back, 2026-10-25 03:00 CEST -> 02:00 CET: [02:00, 03:00) happens twice.
    ("Europe/Berlin", "2026-10-25T01:59:59.999999", "2026-10-24T23:59:59.999999"),
    ("Europe/Berlin", "2026-10-25T02:00:00", FOLD),
    ("Europe/Berlin", "2026-10-25T02:30:00", FOLD),
    ("Europe/Berlin", "2026-10-25T02:59:59.999999", FOLD),
    ("Europe/Berlin", "2026-10-25T03:00:00", "2026-10-25T02:00:00"),
    # Local mean time before 1893 (+00:53:28), seconds and all; the switch to CET skips 6:32.
    ("Europe/Berlin", "1890-06-01T12:00:00", "1890-06-01T11:06:32"),
    ("Europe/Berlin", "1893-04-01T00:00:00", GAP),
    ("Europe/Berlin", "1893-04-01T00:06:31.999999", GAP),
    ("Europe/Berlin", "1893-04-01T00:06:32", "1893-03-31T23:06:32"),
    ("America/New_York", "2026-03-08T01:59:59", "2026-03-08T06:59:59"),
    ("America/New_York", "2026-03-08T02:30:00", GAP),
    ("America/New_York", "2026-03-08T03:00:00", "2026-03-08T07:00:00"),
    ("America/New_York", "2026-11-01T00:59:59", "2026-11-01T04:59:59"),
    ("America/New_York", "2026-11-01T01:30:00", FOLD),
    ("America/New_York", "2026-11-01T02:00:00", "2026-11-01T07:00:00"),
    ("America/New_York", "2026-07-04T12:00:00", "2026-07-04T16:00:00"),
    # Half an hour of daylight saving.
    ("Australia/Lord_Howe", "2026-04-05T01:45:00", FOLD),
    ("Australia/Lord_Howe", "2026-04-05T02:00:00", "2026-04-04T15:30:00"),
    ("Australia/Lord_Howe", "2026-10-04T02:15:00", GAP),
    # Samoa skipped 2011-12-30 whole (-10 -> +14).
    ("Pacific/Apia", "2011-12-29T23:59:59", "2011-12-30T09:59:59"),
    ("Pacific/Apia", "2011-12-30T12:00:00", GAP),
    ("Pacific/Apia", "2011-12-31T00:00:00", "2011-12-30T10:00:00"),
    # Clocks that change at midnight: the day starts at 01:00.
    ("America/Sao_Paulo", "2018-11-04T00:00:00", GAP),
    ("America/Sao_Paulo", "2018-11-04T01:00:00", "2018-11-04T03:00:00"),
    ("America/Sao_Paulo", "2019-02-16T23:30:00", FOLD),
    # A 15-minute gap (+05:30 -> +05:45).
    ("Asia/Kathmandu", "1986-01-01T00:10:00", GAP),
    ("Asia/Kathmandu", "1986-01-01T00:15:00", "1985-12-31T18:30:00"),
    # No daylight saving at all.
    ("UTC", "2026-03-29T02:30:00", "2026-03-29T02:30:00"),
    ("Asia/Tokyo", "2026-03-29T02:30:00", "2026-03-28T17:30:00"),
    ("Etc/GMT+5", "2026-07-01T00:00:00", "2026-07-01T05:00:00"),
    # Far from any transition, at both ends of the calendar.
    ("Europe/Berlin", "0001-01-01T00:00:00", "0000-12-31T23:06:32"),
    ("Europe/Berlin", "9999-12-31T23:59:59.999999", "9999-12-31T22:59:59.999999"),
]


def clock(text):
    """Microseconds of a clock reading `YYYY-MM-DDTHH:MM:SS[.ffffff]` (year 0 allowed)."""
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{6}))?", text)
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    shift = 400 if y < 1 else 0  # 400 years: the same leap days
    days = (dt.date(y + shift, mo, d) - dt.date(1970 + shift, 1, 1)).days
    return ((days * 24 + h) * 60 + mi) * 60_000_000 + s * 1_000_000 + int(m.group(7) or 0)


def test_local_times_table(spark):
    cases = [(zone, clock(local)) for zone, local, _ in TABLE]
    got = spark_instants(spark, cases)
    for (zone, local, want), g in zip(TABLE, got):
        assert g == (None if want in (GAP, FOLD) else clock(want)), (zone, local, want, g)
        if 1 < int(local[:4]) < 9999:
            assert python_instant(clock(local), zone) == (want if want in (GAP, FOLD) else clock(want)), (zone, local)


ZONES = [
    "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia", "Pacific/Chatham", "Asia/Kathmandu",
    "Europe/Dublin", "Antarctica/Troll", "America/Sao_Paulo", "America/Santiago", "Europe/London", "America/St_Johns",
    "Africa/Casablanca", "Europe/Moscow", "America/Havana", "Pacific/Kiritimati", "Australia/Adelaide", "America/Godthab",
]


def year_start(year):
    """Seconds since the epoch of `year`-01-01 00:00 UTC."""
    return int((dt.datetime(year, 1, 1) - EPOCH).total_seconds())


def java_transitions(spark, zone, start, end):
    """(instant in seconds, offset before, offset after) of each offset change of `zone` in
    [start, end) (seconds), from Java's tz database: the one Spark converts with."""
    jvm = spark._jvm
    rules = jvm.java.time.ZoneId.of(zone).getRules()
    t = jvm.java.time.Instant.ofEpochSecond(start - 1)
    out = []
    while True:
        tr = rules.nextTransition(t)
        if tr is None or tr.toEpochSecond() >= end:
            return out
        out.append((tr.toEpochSecond(), tr.getOffsetBefore().getTotalSeconds(), tr.getOffsetAfter().getTotalSeconds()))
        t = tr.getInstant()


def test_local_times_around_every_transition_agree_with_zoneinfo(spark):
    """Clock readings at and around both ends of every offset change from 1890 to 2040 of
    zones with unusual rules (half-hour and negative daylight saving, skipped days, changes at
    midnight, local mean time), held to zoneinfo. (Java's and the system's tz databases must
    agree on these zones' offsets: they do for these zones from 2025a on.)"""
    steps = [-3_600_000_000, -1_000_000, -1, 0, 1, 1_000_000, 900_000_000, 1_800_000_000, 3_600_000_000]
    cases = []
    for zone in ZONES:
        for t, before, after in java_transitions(spark, zone, year_start(1890), year_start(2040)):
            for edge in (t + before, t + after):
                for step in steps:
                    cases.append((zone, edge * 1_000_000 + step))
    got = spark_instants(spark, cases)
    checked, gaps, folds, differ = 0, 0, 0, []
    for (zone, local), g in zip(cases, got):
        want = python_instant(local, zone)
        checked += 1
        gaps += want == GAP
        folds += want == FOLD
        if g != (None if want in (GAP, FOLD) else want):
            differ.append((zone, str(EPOCH + dt.timedelta(microseconds=local)), want, g))
    assert checked > 20_000 and gaps > 1_000 and folds > 1_000, (checked, gaps, folds)
    assert not differ, differ[:20]


def test_the_tz_database_never_changes_an_offset_twice_within_two_days(spark):
    """local_time_to_utc looks for the offsets one day either side of a local time: right as
    long as no zone changes its offset twice within two days (offsets themselves are within
    18 hours, Java's limit). Every zone Java knows: its listed changes, and a few years of its
    annual rules after them."""
    jvm = spark._jvm
    zones = sorted(jvm.java.time.ZoneId.getAvailableZoneIds())
    assert len(zones) > 500
    listed = re.compile(r"Transition\[(?:Gap|Overlap) at (\S+?)(Z|[+-][0-9:]+) to ")
    closest = (math.inf, None)
    for zone in zones:
        rules = jvm.java.time.ZoneId.of(zone).getRules()
        instants = []
        for local, before in listed.findall(str(rules.getTransitions().toString())):
            sign, *parts = ([1] if before == "Z" else [-1 if before[0] == "-" else 1]), *before[1:].split(":")
            offset = 0 if before == "Z" else sign[0] * sum(int(p) * 60 ** (2 - i) for i, p in enumerate(parts))
            instants.append(int((dt.datetime.fromisoformat(local) - EPOCH).total_seconds()) - offset)
        if rules.getTransitionRules().size():
            start = instants[-1] + 1 if instants else year_start(1970)
            instants += [t for t, _, _ in java_transitions(spark, zone, start, start + 3 * 366 * 86_400)]
        for a, b in zip(instants, instants[1:]):
            assert b > a, (zone, a, b)
            closest = min(closest, (b - a, zone))
    assert closest[0] > 2 * 86_400, closest


# --- curate runs ------------------------------------------------------------------------------

# value as written, the instant with timezone: Europe/Berlin, the instant without (UTC).
VALUES = [
    ("2026-01-15 10:00", utc(2026, 1, 15, 9), utc(2026, 1, 15, 10)),
    ("2026-07-15T10:00:00.123456", utc(2026, 7, 15, 8, 0, 0, us=123456), utc(2026, 7, 15, 10, 0, 0, us=123456)),
    ("2026-07-15t10:00:00,1234569", utc(2026, 7, 15, 8, 0, 0, us=123456), utc(2026, 7, 15, 10, 0, 0, us=123456)),
    ("2026-07-15T10:00:59", utc(2026, 7, 15, 8, 0, 59), utc(2026, 7, 15, 10, 0, 59)),
    # A leap second is the next minute's first second, then a local time like any.
    ("2026-12-31T23:59:60", utc(2026, 12, 31, 23), utc(2027, 1, 1)),
    # Z and offsets: unaffected by the zone.
    ("2026-07-15T10:00:00Z", utc(2026, 7, 15, 10), utc(2026, 7, 15, 10)),
    ("2026-07-15T10:00z", utc(2026, 7, 15, 10), utc(2026, 7, 15, 10)),
    ("2026-01-15T10:00:00+01:00", utc(2026, 1, 15, 9), utc(2026, 1, 15, 9)),
    ("2026-07-15T10:00:00+0100", utc(2026, 7, 15, 9), utc(2026, 7, 15, 9)),
    ("2026-07-15T10:00:00+01", utc(2026, 7, 15, 9), utc(2026, 7, 15, 9)),
    ("2026-07-15T10:00:00-05:30", utc(2026, 7, 15, 15, 30), utc(2026, 7, 15, 15, 30)),
    ("2026-03-29T02:30:00+01:00", utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 1, 30)),  # in the gap, with its offset
    ("2026-10-25T02:30:00+02:00", utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 0, 30)),  # in the overlap, the first
    ("2026-10-25T02:30:00+01:00", utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 1, 30)),  # ...and the second
    # Just outside the gap and the overlap.
    ("2026-03-29 03:00", utc(2026, 3, 29, 1), utc(2026, 3, 29, 3)),
    ("2026-10-25 03:00", utc(2026, 10, 25, 2), utc(2026, 10, 25, 3)),
    ("2026-10-25 01:59:59.999999", utc(2026, 10, 24, 23, 59, 59, us=999999), utc(2026, 10, 25, 1, 59, 59, us=999999)),
    ("NA", None, None),
]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_values_without_an_offset_are_local_times_of_the_zone(spark, lake, tmp_path, fmt):
    if fmt == "csv":
        data = "id,at\n" + "".join(f"{i},{chr(34) + v + chr(34) if ',' in v else v}\n" for i, (v, _, _) in enumerate(VALUES))
    else:
        data = "".join(f'{{"id": {i}, "at": {"null" if v == "NA" else chr(34) + v + chr(34)}}}\n' for i, (v, _, _) in enumerate(VALUES))
    for timezone, column in (("timezone: Europe/Berlin", 1), ("", 2)):
        out = curated(spark, lake, f"raw/z/values.{fmt}", registry(tmp_path, fmt, timezone), data)
        assert [r["id"] for r in out] == list(range(len(VALUES)))
        got = [r["at"] for r in out]
        want = [row[column] for row in VALUES]
        assert got == want, (timezone, [(v[0], g, w) for v, g, w in zip(VALUES, got, want) if g != w])


def test_tsv_and_a_zone_without_daylight_saving(spark, lake, tmp_path):
    reg = registry_file(tmp_path, ZONED.replace("{format}", "tsv").replace("{timezone}", "timezone: Asia/Kolkata"))
    out = curated(spark, lake, "raw/z/k.tsv", reg, "id\tat\n1\t2026-03-29 02:30\n2\t2026-03-29T02:30+05:30\n")
    assert [r["at"] for r in out] == [utc(2026, 3, 28, 21), utc(2026, 3, 28, 21)]


# zone, value in a gap or overlap
REFUSED = [
    ("Europe/Berlin", "2026-03-29 02:30"),  # does not exist
    ("Europe/Berlin", "2026-03-29T02:00:00"),
    ("Europe/Berlin", "2026-03-29T01:59:60"),  # the leap second lands on 02:00, in the gap
    ("Europe/Berlin", "2026-10-25 02:30"),  # happens twice
    ("Europe/Berlin", "2026-10-25T02:00:00.000001"),
    ("America/New_York", "2026-03-08 02:30"),
    ("America/New_York", "2026-11-01T01:30"),
]


@pytest.mark.parametrize("zone, value", REFUSED)
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_time_in_a_gap_or_an_overlap_fails_the_job(spark, lake, tmp_path, fmt, zone, value):
    """Validation refuses these; should one reach the job anyway, the job fails like on any
    value it cannot convert, and writes nothing."""
    reg = registry(tmp_path, fmt, f"timezone: {zone}")
    key = f"raw/z/bad.{fmt}"
    data = f"id,at\n1,2026-01-15 10:00\n2,{value}\n" if fmt == "csv" else f'{{"id": 1, "at": "2026-01-15 10:00"}}\n{{"id": 2, "at": "{value}"}}\n'
    msg = failure(spark, lake, key, reg, data)
    assert "bad." + fmt in msg and "column at (timestamp): cannot convert the value" in msg and f'"{value}"' in msg, msg
    assert not list(Path(lake).glob("curated/**/*.parquet"))


def test_parquet_timestamps_are_unchanged_by_the_zone(spark, lake, tmp_path):
    """A Parquet TIMESTAMP without isAdjustedToUTC stays taken as UTC, as before."""
    reg = registry(tmp_path, "parquet")
    p = Path(lake) / "raw/z/p.parquet"
    p.parent.mkdir(parents=True)
    local = dt.datetime(2026, 3, 29, 2, 30)  # in Berlin's gap: no matter, it is UTC here
    pq.write_table(pa.table({
        "id": pa.array([1, 2], pa.int64()),
        "at": pa.array([local, dt.datetime(2026, 7, 15, 10)], pa.timestamp("us")),
    }), p)
    summary = run_curate(spark, lake, "raw/z/p.parquet", reg)
    out = pa.concat_tables([pq.read_table(x) for x in summary["outputs"]]).to_pylist()
    assert [r["at"] for r in out] == [utc(2026, 3, 29, 2, 30), utc(2026, 7, 15, 10)]


def test_the_session_zone_stays_utc():
    assert curate.SPARK_SQL_CONF["spark.sql.session.timeZone"] == "UTC"
