"""lakeline curate, the Spark engine: one valid raw upload becomes typed Parquet.

Why this exists: the curate Lambda (lakeline_core::curate, Rust) converts every valid upload it can
hold within Lambda's limits; files above a dataset's `job.above` size, or of datasets whose
registry entry names a Glue or EMR Serverless job, come here instead. Readers of the curated
zone must not be able to tell which engine wrote a file, so this job follows the Rust rules
exactly (shared/core/src/types.rs):

- the schema is the registry's: int -> INT64, float -> DOUBLE, string -> UTF8, bool -> BOOLEAN,
  date -> DATE, timestamp -> INT64 TIMESTAMP(MICROS, UTC), decimal(p,s) -> DECIMAL(p,s) (on
  INT32 up to 9 digits, INT64 up to 18, FIXED_LEN_BYTE_ARRAY above; exact, never through a
  double), json -> UTF8 (an object's or array's JSON text); required columns are REQUIRED;
- a timestamp without an offset is UTC, or with the dataset's `timezone` a local time there
  (a time the zone's clocks skip or show twice fails the job: validation refused it);
- text values equal to one of the dataset's `null_values` are null; every other value is
  converted by the rules validation accepted it by; a value that does not convert FAILS the job
  naming the column and value (validation passed it, so it is a rule mismatch, never a null);
- a column's `default:` replaces its nulls (a null value, a by_name column the header lacks, a
  JSON null or missing field, a Parquet null), converted by the column's text rules; a value
  that is present is never replaced;
- the output key is a pure function of the raw key: `<target><stem>-<sha256(key)[:12]>`, here
  with a part number (`-00000.parquet`, ...) because Spark writes several files for big inputs.
  Parts are written to a staging folder and then copied to their names; parts an earlier run
  left beyond this run's count (and the Rust engine's single-file name) are deleted, so a
  re-run leaves the same outputs and no duplicate rows.

CSV and TSV are parsed by Python's csv module inside one Spark task, not by Spark's CSV reader:
Spark's reader (univocity) differs from validation's csv-core where it matters (it rewrites line
breaks inside quoted values, fails on mixed line endings, and keeps the quotes of `"ab"c`),
while Python's csv agrees with csv-core on quoting, CR/LF/CRLF, blank lines and the BOM. Such a
file (quoted newlines, or gzip) could not be split across tasks anyway. The rows travel to the
JVM as Arrow batches when pyarrow and pandas are installed (Glue 5.0), else as pickled rows.
With `header: by_name` the header's names place the declared columns (header_positions).
JSON Lines and Parquet are read by Spark itself.

Arguments (unknown ones, such as Glue's own, are ignored):

  Glue:           --lakeline_source s3://b/k --lakeline_target s3://b/curated/ds/dt=.../
                  --lakeline_dataset ds [--lakeline_partition p] --lakeline_execution e
                  --lakeline_run_key k --lakeline_registry s3://b/_lakeline/registry/h.json
  EMR Serverless: [registry job arguments] --source s3://b/k --partition p --target s3://b/prefix/
                  [--dataset ds] [--registry uri] (start-job adds --lakeline_registry in table mode)
  both:           --registry: start-job passes the snapshot of the registry it judged the
                  start by (JSON, read without PyYAML); without one, $LAKELINE_REGISTRY, else
                  s3://<source bucket>/config/datasets.yaml (the YAML the functions read, which
                  needs PyYAML); without a dataset, the dataset is the one whose
                  key_pattern prefix the key starts with; without a target, the dataset's
                  target_prefix in the source bucket. Local runs (tests): plain paths below
                  --lake-root, the folder standing in for the bucket.

  tuning:         --max-records-per-file N (default 5,000,000 rows a part), --parallelism N
                  (CSV/TSV: convert and write in N tasks; rows lose their file order),
                  --csv-transfer auto|arrow|rows

Deploying: upload this one file as the Glue script / EMR entry point; nothing else to ship.
CSV/TSV objects are read by boto3 inside the Spark task (resuming broken reads, conditional
on the ETag seen at the start); JSON Lines and Parquet through Spark's s3:// paths. Scratch
objects go under _lakeline/staging/ (a lifecycle rule expiring it after a few days cleans up
after crashed runs).

Prints one JSON line with what was written.
"""

import argparse

# The job is one self-contained file because that is what Glue's script location and EMR
# Serverless' entry point take: the registry names a single `curate.py` and has no place for
# --py-files.

import csv
import datetime as dt
import functools
import gzip
import hashlib
import io
import json
import logging
import os
import re
import shutil
import sys
import time
import uuid
from dataclasses import dataclass

LOG = logging.getLogger("lakeline")

#: Where the job keeps its scratch objects, relative to the bucket. `_` makes every lister of
#: the lake (Spark, Athena) skip it.
LAKELINE_DIR = "_lakeline/"
STAGING_PREFIX = LAKELINE_DIR + "staging/"

#: The registry's column types besides decimal(p,s). `json`: an object or an array as its JSON
#: text (curated as a string).
COLUMN_TYPES = ("string", "int", "float", "bool", "date", "timestamp", "json")

#: The most digits a `decimal(p,s)` holds: what a 128-bit unscaled value holds (Parquet's,
#: Iceberg's and Athena's limit; lakeline_core::types::MAX_DECIMAL_PRECISION).
MAX_DECIMAL_PRECISION = 38

#: CSV/TSV header rules: the first record names the declared columns in order (required), by
#: name in any order (by_name), or is data (absent).
HEADER_RULES = ("required", "by_name", "absent")

#: Whitespace as Rust's `str::trim` sees it (Unicode White_Space). Python's `str.strip()` also
#: strips U+001C..U+001F, so names are trimmed with this set instead.
RUST_WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"

_DECIMAL_TYPE_RE = re.compile(r"decimal\((\d+),(\d+)\)")


def column_type(text):
    """A registry column type in its canonical spelling (`decimal(12, 2)` -> `decimal(12,2)`),
    read like lakeline_core::types::ColumnType: one of COLUMN_TYPES, or `decimal(p,s)` with
    whitespace around either number and a leading `+` tolerated, 1 <= p <= 38, 0 <= s <= p.
    Raises ValueError saying what is wrong."""
    if text in COLUMN_TYPES:
        return text
    unknown = ValueError(f"has unknown type {text!r}: use {', '.join(COLUMN_TYPES)} or decimal(p,s)")
    if not isinstance(text, str) or not text.startswith("decimal(") or not text.endswith(")"):
        raise unknown
    args = text[len("decimal(") : -1]
    if "," not in args:
        raise unknown
    p, s = (a.strip(RUST_WHITESPACE) for a in args.split(",", 1))
    if not (re.fullmatch(r"\+?[0-9]+", p) and re.fullmatch(r"\+?[0-9]+", s)):
        raise ValueError(f"has type {text!r}: precision and scale are whole numbers, as in decimal(12,2)")
    precision, scale = int(p), int(s)
    if not 1 <= precision <= MAX_DECIMAL_PRECISION:
        raise ValueError(f"has type {text!r}: precision must be 1 to {MAX_DECIMAL_PRECISION}, not {precision}")
    if scale > precision:
        raise ValueError(f"has type {text!r}: scale {scale} is above the precision {precision}")
    return f"decimal({precision},{scale})"


def decimal_params(type_name):
    """(precision, scale) of a canonical `decimal(p,s)` type name, None for the other types."""
    m = _DECIMAL_TYPE_RE.fullmatch(type_name)
    return (int(m.group(1)), int(m.group(2))) if m else None


@functools.lru_cache(maxsize=None)
def _zone_names():
    """The IANA zone names Python's zoneinfo knows (the system's tz database, else the tzdata
    package), by their lowercase spelling."""
    import zoneinfo

    return {n.lower(): n for n in zoneinfo.available_timezones()}


@functools.lru_cache(maxsize=None)
def time_zone(name):
    """The IANA zone `name` of a dataset's `timezone`, in the database's spelling
    (`europe/berlin` -> `Europe/Berlin`: lakeline_core's registry (jiff) matches names without
    regard to case; Java, which converts the values, needs the exact spelling). Checked by
    loading it with zoneinfo. Raises ValueError saying what is wrong."""
    import zoneinfo

    names = _zone_names()
    canonical = names.get(name.lower()) if isinstance(name, str) else None
    if canonical is None:
        hint = "" if names else " (this Python finds no time zone data at all: install the tzdata package)"
        raise ValueError(f"is not a time zone of the IANA database: use a name such as Europe/Berlin or America/New_York{hint}")
    try:
        zoneinfo.ZoneInfo(canonical)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as e:
        raise ValueError(f"cannot be loaded: {e}") from None
    return canonical


class JobError(Exception):
    """A failure a human has to act on. The message is the whole story (it ends up in the
    pipeline's alert), so it names the file, column and value at fault."""


def sha256_hex(text):
    """SHA-256 of UTF-8 text, lowercase hex: the Rust side hashes the same bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def shorten(text, limit=120):
    """A value as an error message can quote it: bounded, with control characters visible."""
    text = str(text)
    if len(text) > limit:
        text = text[:limit] + "…"
    return json.dumps(text, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Column defaults: the registry's `default:` as the text a file would hold, checked against the
# column's type when the registry is read
# ---------------------------------------------------------------------------------------------

#: The words a bool column reads as true and as false, compared without regard to case
#: (lakeline_core::types).
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")

_YAML_CORE_TAG = "tag:yaml.org,2002:"


class YamlScalar:
    """A scalar of the registry YAML as written: its text, whether it was plain (not quoted,
    not a block scalar) and its explicit tag (None without one). Column defaults are kept so
    (registry_loader) and resolved by `value`, as lakeline_core's YAML library (serde_yaml_ng,
    YAML 1.2's core schema) resolves them: PyYAML's YAML 1.1 would read `yes` as true, `1e3` as
    a string, `017` as 15 and `2026-01-01` as a date."""

    __slots__ = ("text", "plain", "tag")

    def __init__(self, text, plain=True, tag=None):
        self.text, self.plain, self.tag = text, plain, tag

    def __repr__(self):
        return f"YamlScalar({self.text!r}, plain={self.plain}, tag={self.tag!r})"

    def __eq__(self, other):
        return isinstance(other, YamlScalar) and (self.text, self.plain, self.tag) == (other.text, other.plain, other.tag)

    def __hash__(self):
        return hash((self.text, self.plain, self.tag))

    def value(self):
        """None (YAML null), a bool, an int, a float or a str, as serde_yaml_ng's visit_scalar
        makes it: a quoted or block scalar is a string; a plain one is null (empty, `~`,
        `null`, `Null`, `NULL`), a bool (`true`, `True`, `TRUE`, likewise false), an integer
        (decimal, `0x`/`0o`/`0b`, a sign, no `_`; not with a leading zero like `007`), a float
        (Rust's f64 syntax, `.inf`, `-.inf`, `.nan`; finite otherwise) or else a string. The
        tags !!str, !!bool, !!int, !!float and !!null force their type (a text that is none
        raises ValueError); a local tag (`!x`) on a plain scalar changes nothing; any other tag
        makes a string."""
        text, tag = self.text, self.tag
        if tag is None:
            return _yaml_plain_value(text) if self.plain else text
        if tag == _YAML_CORE_TAG + "bool":
            found = _YAML_BOOLS.get(text)
            if found is None:
                raise ValueError(f"{shorten(text)} is not a boolean (!!bool)")
            return found
        if tag == _YAML_CORE_TAG + "int":
            found = _yaml_int(text)
            if found is None:
                raise ValueError(f"{shorten(text)} is not an integer (!!int)")
            return found
        if tag == _YAML_CORE_TAG + "float":
            found = _yaml_float(text)
            if found is None:
                raise ValueError(f"{shorten(text)} is not a float (!!float)")
            return found
        if tag == _YAML_CORE_TAG + "null":
            if text not in _YAML_NULLS:
                raise ValueError(f"{shorten(text)} is not null (!!null)")
            return None
        if tag.startswith("!") and self.plain:
            return _yaml_plain_value(text)
        return text


_YAML_NULLS = ("null", "Null", "NULL", "~")
_YAML_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_RADIX_DIGITS = {16: "[0-9a-fA-F]+", 10: "[0-9]+", 8: "[0-7]+", 2: "[01]+"}


def _yaml_plain_value(text):
    if text == "" or text in _YAML_NULLS:
        return None
    if text in _YAML_BOOLS:
        return _YAML_BOOLS[text]
    found = _yaml_int(text)
    if found is not None:
        return found
    if not _digits_but_not_number(text):
        found = _yaml_float(text)
        if found is not None:
            return found
    return text


def _digits_but_not_number(text):
    """A leading zero followed by digits (`007`, `-01`): a string in YAML 1.2."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    return len(digits) > 1 and digits[0] == "0" and digits[1:].isascii() and digits[1:].isdigit()


def _from_str_radix(text, radix, signed):
    """Rust's from_str_radix: one optional sign (`-` only when signed), then digits; None when
    that is not the text (the range is checked by the caller)."""
    body = text[1:] if text[:1] == "+" or (signed and text[:1] == "-") else text
    if not re.fullmatch(_RADIX_DIGITS[radix], body):
        return None
    return int(text[:1] + body, radix) if text[:1] == "-" else int(body, radix)


def _yaml_int(text):
    """serde_yaml_ng's visit_int: u64, i64, u128, i128 in turn, hex/octal/binary prefixes
    allowed (lowercase `0x`, `0o`, `0b` after the sign)."""
    unsigned = text[1:] if text.startswith("+") else text
    found = None
    for prefix, radix in (("0x", 16), ("0o", 8), ("0b", 2)):
        if unsigned.startswith(prefix):
            rest = unsigned[2:]
            if rest.startswith(("+", "-")):
                break
            found = _from_str_radix(rest, radix, False)
            if found is not None:
                break
    else:
        if not unsigned.startswith(("+", "-")) and not _digits_but_not_number(text):
            found = _from_str_radix(unsigned, 10, False)
    if found is not None and found < 1 << 128:
        return found
    for prefix, radix in (("-0x", 16), ("-0o", 8), ("-0b", 2)):
        if text.startswith(prefix):
            found = _from_str_radix("-" + text[3:], radix, True)
            if found is not None and -(1 << 127) <= found < 1 << 127:
                return found
    if _digits_but_not_number(text):
        return None
    found = _from_str_radix(text, 10, True)
    return found if found is not None and -(1 << 127) <= found < 1 << 127 else None


def _yaml_float(text):
    """serde_yaml_ng's parse_f64: `.inf`, `-.inf`, `.nan` in three spellings each, else Rust's
    f64 syntax when the value is finite (so `1e400` is a string)."""
    import math

    unsigned = text
    if text.startswith("+"):
        unsigned = text[1:]
        if unsigned.startswith(("+", "-")):
            return None
    if unsigned in (".inf", ".Inf", ".INF"):
        return math.inf
    if text in ("-.inf", "-.Inf", "-.INF"):
        return -math.inf
    if text in (".nan", ".NaN", ".NAN"):
        return math.nan
    if re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", unsigned):
        x = float(unsigned)
        return x if math.isfinite(x) else None
    return None


def rust_float_text(x):
    """A double as Rust's f64 Display writes it: the shortest text that reads back as it
    (Python's repr), positional (no exponent), without a point for a whole number (`1`,
    `1000` for 1e3, `0.0000001` for 1e-7, `-0`); `NaN`, `inf`, `-inf`."""
    import math
    from decimal import Decimal

    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = format(Decimal(repr(x)), "f")
    return text[:-2] if text.endswith(".0") else text


def default_text(value):
    """The text a column's `default:` stands for (None: no default): what a file would hold,
    as lakeline_core's registry writes it: a string as it is, an integer's digits, a float as
    rust_float_text, a bool `true`/`false`; YAML null is no default. `value` is a YamlScalar
    (registry_loader) or an already resolved Python value. Raises ValueError for anything
    else (a list, a mapping, a wrongly tagged scalar)."""
    if isinstance(value, YamlScalar):
        value = value.value()
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return rust_float_text(value)
    if isinstance(value, str):
        return value
    raise ValueError("is no scalar: a default is a string, a number or a boolean")


_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_NUMBER_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)")
_FLOAT_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?nan|\+?inf(inity)?|-inf(inity)?")
_DATE_TEXT = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIMESTAMP_TEXT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?"
    r"([Zz]|[+-]([0-9]{2})(?::?([0-9]{2}))?)?"
)


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def text_problem(type_name, text, zone=None):
    """Why `text` is no value of the (canonical) column type, None when it is one: the text
    rules curate.py converts CSV/TSV fields by (its text conversions, lakeline_core::types),
    restated in plain Python for the registry's defaults (curate.py converts a default with its
    own conversions, and fails should they disagree). `zone`: the dataset's `timezone`, in
    which a timestamp without an offset is a local time (one the zone's clocks skip or show
    twice is none)."""
    dec = decimal_params(type_name)
    if dec is not None:
        precision, scale = dec
        if not _NUMBER_TEXT.fullmatch(text):
            return "a decimal is digits with at most one point (no exponent)"
        whole, _, fraction = text.lstrip("+-").partition(".")
        if len(fraction) > scale:
            return f"{len(fraction)} digits after the point, {type_name} has {scale}"
        if len(whole.lstrip("0")) > precision - scale:
            return f"{len(whole.lstrip('0'))} digits before the point, {type_name} has {precision - scale}"
        return None
    if type_name == "string":
        return None
    if type_name == "int":
        if not _INT_TEXT.fullmatch(text):
            return "an int is digits with an optional sign"
        return None if -(1 << 63) <= int(text) < 1 << 63 else "beyond the 64-bit integers"
    if type_name == "float":
        return None if _FLOAT_TEXT.fullmatch(text.lower()) else "a float is a number, NaN or inf"
    if type_name == "bool":
        return None if text.lower() in TRUE_WORDS + FALSE_WORDS else f"a bool is one of {', '.join(TRUE_WORDS + FALSE_WORDS)}"
    if type_name == "date":
        m = _DATE_TEXT.fullmatch(text)
        try:
            if m and int(m.group(1)) >= 1:
                dt.date(*(int(g) for g in m.groups()))
                return None
        except ValueError:
            pass
        return "a date is a day of the calendar as YYYY-MM-DD"
    if type_name == "timestamp":
        m = _TIMESTAMP_TEXT.fullmatch(text)
        if not m:
            return "a timestamp is written like 2026-01-31T12:00:00Z"
        y, mo, d, h, mi = (int(g) for g in m.groups()[:5])
        s = int(m.group(6) or 0)
        oh, om = int(m.group(9) or 0), int(m.group(10) or 0)
        try:
            day = dt.date(y, mo, d) if y >= 1 else None
        except ValueError:
            day = None
        if day is None or h > 23 or mi > 59 or s > 60 or oh > 23 or om > 59:
            return "a field is out of range"
        if zone is not None and m.group(8) is None:
            import zoneinfo

            micros = int((m.group(7) or "")[:6].ljust(6, "0"))
            try:
                local = dt.datetime.combine(day, dt.time(h, mi), tzinfo=zoneinfo.ZoneInfo(zone))
                local += dt.timedelta(seconds=s, microseconds=micros)
            except OverflowError:
                return None
            if local.utcoffset() != local.replace(fold=1).utcoffset():
                return f"a local time that {zone}'s clocks skip or show twice"
        return None
    if type_name == "json":
        try:
            parsed = json.loads(text, parse_constant=_refuse_constant)
        except ValueError as e:
            return f"not valid JSON: {e}"
        return None if isinstance(parsed, (dict, list)) else "a json column holds an object or an array"
    raise ValueError(f"unknown column type {type_name!r}")


# ---------------------------------------------------------------------------------------------
# Sizes and the registry
# ---------------------------------------------------------------------------------------------

_SIZE_UNITS = {
    "": 1, "B": 1, "KB": 10**3, "kB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}


def parse_size(value):
    """Bytes of a registry size (`128MiB`, `1.5GB`, `4096`), read like lakeline_core::size does."""
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", str(value))
    if not m or m.group(2) not in _SIZE_UNITS:
        raise JobError(f"invalid size {value!r}: use a number with B, KB, MB, GB, KiB, MiB, GiB or TiB")
    return int(round(float(m.group(1)) * _SIZE_UNITS[m.group(2)]))


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool
    sensitive: bool = False
    #: The registry's `default:` as text (default_text), None without one: what a null of the
    #: column becomes, converted by the column's text rules.
    default: str = None


@dataclass(frozen=True)
class Dataset:
    """One dataset of the registry, with the defaults lakeline_core::registry applies filled in, so
    the job reads files by exactly the rules validation judged them by."""

    name: str
    key_pattern: str
    format: str
    compression: str
    header: str
    delimiter: str
    null_values: tuple
    extra_columns: str
    columns: tuple
    target_prefix: str
    compaction_prefix: str
    target_file_size: int
    redact_values: bool = False
    #: The IANA zone in which timestamps without an offset are local times (None: UTC).
    timezone: str = None

    def shows_value(self, column=None):
        """Whether a value of `column` (or a whole record's, None) may appear in an error
        message, which becomes an alert (lakeline_core::registry::Dataset::shows_value): not
        when the column is `sensitive`, not when any is and the value quotes a record, never
        under `lake.redact_values`."""
        if self.redact_values:
            return False
        if column is None:
            return not any(c.sensitive for c in self.columns)
        return not any(c.sensitive and c.name == column for c in self.columns)

    @property
    def key_prefix(self):
        """The literal prefix of the key pattern, cut after its last `/` (KeyPattern::prefix):
        the keys this dataset owns."""
        literal = self.key_pattern.split("{", 1)[0]
        return literal[: literal.rfind("/") + 1]

    def is_gzip(self, key):
        if self.compression == "gzip":
            return True
        if self.compression == "none":
            return False
        return key.endswith(".gz")


def _delimiter(ds):
    if ds.get("format") == "tsv":
        return "\t"
    d = ds.get("delimiter", ",")
    if d in ("\\t", "tab"):
        return "\t"
    if len(d) != 1 or d in ('"', "\n", "\r") or not d.isascii():
        raise JobError(f"invalid delimiter {d!r} in the registry")
    return d


def yaml_module():
    """PyYAML, which a registry YAML is read with (a run start-job starts is handed the JSON
    snapshot instead, and needs none); where the Spark environment lacks it, an error that says
    how to do without it or add it (docs/deploy.md, "Spark environments")."""
    try:
        import yaml
    except ImportError as e:
        raise JobError(
            "lakeline: this Spark environment has no PyYAML, which the job reads a registry YAML with: "
            "pass the registry as JSON (--registry FILE.json, from `lakeline registry check FILE --json`), "
            "or on Glue add the job argument --additional-python-modules PyYAML==6.0.4; on EMR Serverless, "
            "run with an image or a Python environment (spark.archives) that has it (docs/deploy.md)"
        ) from e
    return yaml


def load_registry(location):
    """The registry from a path or an s3:// URI (like LAKELINE_REGISTRY for the functions).

    A `.json` location is a snapshot start-job wrote (lakeline_core's Registry::snapshot: the
    registry the run's start was judged by, as lakeline read it), read with the standard
    library; anything else is the registry YAML, read with PyYAML. The Rust registry refuses
    unknown keys and bad values at deploy time, so this only reads what the job needs and
    trusts the rest."""
    if not location:
        raise JobError("no registry: pass --registry (a path or s3:// URI) or set LAKELINE_REGISTRY")
    try:
        if location.startswith(("s3://", "s3a://")):
            storage, key = locate(location)
            data = storage.get(key)
            if data is None:
                raise JobError(f"registry {location} does not exist")
            text = data.decode("utf-8")
        else:
            with open(location, encoding="utf-8") as f:
                text = f.read()
    except OSError as e:
        raise JobError(f"cannot read the registry {location}: {e}") from e
    if location.endswith(".json"):
        try:
            # The snapshot writes an unset setting as null, where YAML leaves the key out.
            reg = json.loads(text, object_hook=lambda m: {k: v for k, v in m.items() if v is not None})
        except ValueError as e:
            raise JobError(f"registry snapshot {location} is not JSON: {e}") from e
    else:
        reg = yaml_module().load(text, Loader=registry_loader())
    if not isinstance(reg, dict) or not isinstance(reg.get("datasets"), dict):
        raise JobError(f"registry {location} has no datasets: mapping")
    return reg


#: The tag registry_loader gives a column default's node, for its own constructor.
_DEFAULT_NODE_TAG = "tag:lakeline,2026:default"


@functools.lru_cache(maxsize=None)
def registry_loader():
    """PyYAML's SafeLoader, but the scalar value of every `default` key (the registry has one
    only on columns) is a YamlScalar, as written, for default_text to resolve by YAML 1.2."""
    yaml = yaml_module()

    class RegistryLoader(yaml.SafeLoader):
        def compose_scalar_node(self, anchor):
            written_tag = self.peek_event().tag
            node = super().compose_scalar_node(anchor)
            node.written_tag = written_tag
            return node

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                self.flatten_mapping(node)
                for i, (key, value) in enumerate(node.value):
                    if (isinstance(key, yaml.ScalarNode) and key.tag == _YAML_CORE_TAG + "str" and key.value == "default"
                            and isinstance(value, yaml.ScalarNode) and value.tag != _DEFAULT_NODE_TAG):
                        kept = yaml.ScalarNode(_DEFAULT_NODE_TAG, value.value, value.start_mark, value.end_mark, style=value.style)
                        kept.written_tag = getattr(value, "written_tag", None)
                        node.value[i] = (key, kept)
            return super().construct_mapping(node, deep)

    def construct_default(loader, node):
        tag = node.written_tag if node.written_tag not in (None, "!") else None
        return YamlScalar(node.value, node.style is None, tag)

    RegistryLoader.add_constructor(_DEFAULT_NODE_TAG, construct_default)
    return RegistryLoader


#: Where the README tells operators to upload the registry (template parameter RegistryKey).
DEFAULT_REGISTRY_KEY = "config/datasets.yaml"


def registry_location(explicit, storage):
    """--registry (start-job passes its snapshot; $LAKELINE_REGISTRY is the default), else the
    lake bucket's config/datasets.yaml, where the functions read it from by default."""
    if explicit:
        return explicit
    if isinstance(storage, S3Storage):
        return f"s3://{storage.bucket}/{DEFAULT_REGISTRY_KEY}"
    return None


def dataset_from_registry(reg, name):
    """The named dataset, or a JobError listing the ones there are."""
    spec = reg["datasets"].get(name)
    if spec is None:
        raise JobError(f"dataset {name!r} is not in the registry (it has: {', '.join(sorted(reg['datasets']))})")
    timezone = spec.get("timezone")
    if timezone is not None:
        try:
            timezone = time_zone(timezone)
        except ValueError as e:
            raise JobError(f"dataset {name}: timezone {timezone!r} {e}") from None
    columns = []
    for c in spec.get("columns") or []:
        try:
            ty = column_type(c.get("type"))
        except ValueError as e:
            raise JobError(f"dataset {name}: column {c.get('name')!r} {e}") from None
        try:
            default = default_text(c.get("default"))
        except ValueError as e:
            raise JobError(f"dataset {name}: column {c.get('name')!r}: default {e}") from None
        if default is not None:
            why = text_problem(ty, default, timezone)
            if why is not None:
                raise JobError(f"dataset {name}: column {c.get('name')!r}: default {shorten(default)} is not a valid {ty}: {why}")
        columns.append(Column(str(c["name"]), ty, bool(c.get("required", False)), bool(c.get("sensitive", False)), default))
    if not columns:
        raise JobError(f"dataset {name} declares no columns")
    header = spec.get("header", "required")
    if header not in HEADER_RULES:
        raise JobError(f"dataset {name}: header {header!r} is not one of {', '.join(HEADER_RULES)}")
    job = spec.get("job") or {}
    compaction = spec.get("compaction") or {}
    null_values = spec.get("null_values", [""])
    return Dataset(
        name=name,
        key_pattern=spec["key_pattern"],
        format=spec["format"],
        compression=spec.get("compression", "auto"),
        header=header,
        delimiter=_delimiter(spec) if spec["format"] in ("csv", "tsv") else ",",
        null_values=tuple("" if v is None else str(v) for v in null_values),
        extra_columns=spec.get("extra_columns", "reject"),
        columns=tuple(columns),
        target_prefix=job.get("target_prefix", "curated/{dataset}/{partition}/"),
        compaction_prefix=compaction.get("prefix") or f"curated/{name}/",
        target_file_size=parse_size(compaction.get("target_file_size", 128 << 20)),
        redact_values=bool((reg.get("lake") or {}).get("redact_values", False)),
        timezone=timezone,
    )


def dataset_for_key(reg, key):
    """The dataset owning a raw key: the longest key-pattern prefix the key starts with (how
    validate-upload routes an upload)."""
    best = None
    for name in reg["datasets"]:
        ds = dataset_from_registry(reg, name)
        if ds.key_prefix and key.startswith(ds.key_prefix):
            if best is None or len(ds.key_prefix) > len(best.key_prefix):
                best = ds
    if best is None:
        raise JobError(f"no dataset of the registry owns {key!r}: pass --dataset")
    return best


def render_prefix(template, dataset, partition):
    """TargetPrefix::render: placeholders filled, empty segments collapsed."""
    s = template.replace("{dataset}", dataset).replace("{partition}", partition or "")
    return re.sub(r"/{2,}", "/", s)


# ---------------------------------------------------------------------------------------------
# Storage: the bucket (boto3) or a folder standing in for one (tests). Keys are bucket-relative
# in both, so every step of the job runs the same code locally and on S3.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Obj:
    key: str
    size: int
    etag: str  # without quotes, like the Rust side keeps it


_GLOB_CHARS = re.compile(r"([\\*?\[\]{}])")


def _glob_escape(path):
    # Spark (Hadoop) expands globs in paths it reads; a key may legally contain `[` or `{`.
    return _GLOB_CHARS.sub(r"\\\1", path)


class LocalStorage:
    """A local folder used as the bucket. The ETag is the MD5 of the content, which is what S3
    gives a single-part upload."""

    def __init__(self, root):
        self.root = os.path.abspath(root)

    def __repr__(self):
        return f"LocalStorage({self.root!r})"

    def path(self, key):
        return os.path.join(self.root, key)

    def uri(self, key):
        return self.path(key)

    def spark_path(self, key, read=False):
        """The path Spark and Hadoop take; `read`: for Spark's readers, which expand globs."""
        p = "file://" + self.path(key)
        return _glob_escape(p) if read else p

    def _obj(self, key, path):
        with open(path, "rb") as f:
            etag = hashlib.md5(f.read()).hexdigest()
        return Obj(key, os.path.getsize(path), etag)

    def list(self, prefix, recursive=True):
        base = self.path(prefix)
        folder = base if prefix.endswith("/") or prefix == "" else os.path.dirname(base)
        out = []
        if not os.path.isdir(folder):
            return out
        for dirpath, dirnames, filenames in os.walk(folder):
            if not recursive:
                dirnames[:] = []
            for f in filenames:
                full = os.path.join(dirpath, f)
                key = os.path.relpath(full, self.root).replace(os.sep, "/")
                if key.startswith(prefix):
                    out.append(self._obj(key, full))
        return sorted(out, key=lambda o: o.key)

    def head(self, key):
        p = self.path(key)
        return self._obj(key, p) if os.path.isfile(p) else None

    def get(self, key):
        try:
            with open(self.path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def put(self, key, data):
        p = self.path(key)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        tmp = f"{p}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, p)

    def copy(self, src, dst):
        d = self.path(dst)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        tmp = f"{d}.{uuid.uuid4().hex}.tmp"
        shutil.copyfile(self.path(src), tmp)
        os.replace(tmp, d)

    def delete(self, key, if_match=None):
        """Deletes `key`; with `if_match`, only while its ETag is that. False when it was not
        deleted because it changed; True when it is gone (or was already)."""
        p = self.path(key)
        if if_match is not None:
            cur = self.head(key)
            if cur is not None and cur.etag != if_match:
                return False
        try:
            os.remove(p)
        except FileNotFoundError:
            pass
        return True

    def delete_prefix(self, prefix):
        p = self.path(prefix)
        if prefix.endswith("/") and os.path.isdir(p):
            shutil.rmtree(p, ignore_errors=True)
        else:
            for o in self.list(prefix):
                self.delete(o.key)

    def open(self, key, etag=None):
        return open(self.path(key), "rb")


class _S3Stream(io.RawIOBase):
    """A GET of one object that resumes where it broke (Range + If-Match on the ETag read at
    the start), so a multi-GiB read survives a reset connection and never mixes two versions."""

    def __init__(self, client, bucket, key, etag):
        self.client, self.bucket, self.key, self.etag = client, bucket, key, etag
        self.pos = 0
        self.body = None
        self.retries = 0

    def readable(self):
        return True

    def _open(self):
        kw = {"Bucket": self.bucket, "Key": self.key}
        if self.etag:
            kw["IfMatch"] = f'"{self.etag}"'
        if self.pos:
            kw["Range"] = f"bytes={self.pos}-"
        self.body = self.client.get_object(**kw)["Body"]

    def readinto(self, b):
        while True:
            try:
                if self.body is None:
                    self._open()
                data = self.body.read(len(b))
                n = len(data)
                b[:n] = data
                self.pos += n
                return n
            except Exception as e:  # noqa: BLE001 - botocore raises many connection types
                code = getattr(e, "response", {}).get("Error", {}).get("Code", "")
                if code in ("PreconditionFailed", "412", "NoSuchKey"):
                    raise JobError(
                        f"s3://{self.bucket}/{self.key} changed or vanished while it was read ({code}): its own pipeline run curates the new upload"
                    ) from e
                self.retries += 1
                if self.retries > 5:
                    raise
                LOG.warning("reading s3://%s/%s at byte %d failed (%s); resuming", self.bucket, self.key, self.pos, e)
                self.body = None
                time.sleep(min(2**self.retries, 20))


class S3Storage:
    """One S3 bucket through boto3 (present on Glue and EMR). Picklable: executors build their
    own client."""

    def __init__(self, bucket):
        self.bucket = bucket
        self._client = None

    def __repr__(self):
        return f"S3Storage({self.bucket!r})"

    def __getstate__(self):
        return {"bucket": self.bucket, "_client": None}

    @property
    def client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client("s3", config=Config(retries={"max_attempts": 10, "mode": "adaptive"}))
        return self._client

    def uri(self, key):
        return f"s3://{self.bucket}/{key}"

    def spark_path(self, key, read=False):
        """The path Spark and Hadoop take; `read`: for Spark's readers, which expand globs."""
        p = f"s3://{self.bucket}/{key}"
        return _glob_escape(p) if read else p

    @staticmethod
    def _code(e):
        return getattr(e, "response", {}).get("Error", {}).get("Code", "")

    def list(self, prefix, recursive=True):
        kw = {"Bucket": self.bucket, "Prefix": prefix}
        if not recursive:
            kw["Delimiter"] = "/"
        out = []
        for page in self.client.get_paginator("list_objects_v2").paginate(**kw):
            for o in page.get("Contents", []):
                out.append(Obj(o["Key"], o["Size"], o["ETag"].strip('"')))
        return sorted(out, key=lambda o: o.key)

    def head(self, key):
        try:
            h = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as e:
            if self._code(e) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return Obj(key, h["ContentLength"], h["ETag"].strip('"'))

    def get(self, key):
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as e:
            if self._code(e) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def put(self, key, data):
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def copy(self, src, dst):
        # Managed copy: multipart above its threshold, so parts over 5 GiB copy too.
        self.client.copy({"Bucket": self.bucket, "Key": src}, self.bucket, dst)

    def _supports_if_match_delete(self):
        shape = self.client.meta.service_model.operation_model("DeleteObject").input_shape
        return "IfMatch" in shape.members

    def delete(self, key, if_match=None):
        """Deletes `key`; with `if_match`, only while its ETag is that (a newer upload of the
        same key is never deleted). False when it changed."""
        if if_match is not None:
            if self._supports_if_match_delete():
                try:
                    self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=f'"{if_match}"')
                    return True
                except Exception as e:
                    code = self._code(e)
                    if code in ("PreconditionFailed", "412"):
                        return False
                    if code in ("NoSuchKey", "404"):
                        return True
                    if code not in ("NotImplemented", "InvalidArgument", "InvalidRequest", "501"):
                        raise
                    LOG.info("conditional delete not supported here (%s): checking the ETag first", code)
            cur = self.head(key)
            if cur is None:
                return True
            if cur.etag != if_match:
                return False
        self.client.delete_object(Bucket=self.bucket, Key=key)
        return True

    def delete_prefix(self, prefix):
        keys = [o.key for o in self.list(prefix)]
        for i in range(0, len(keys), 1000):
            chunk = keys[i : i + 1000]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})

    def open(self, key, etag=None):
        return io.BufferedReader(_S3Stream(self.client, self.bucket, key, etag), buffer_size=1 << 20)


def locate(uri, lake_root=None):
    """(storage, key) of an `s3://bucket/key` URI or of a local path below the lake root (a
    folder standing in for the bucket: `--lake-root` or LAKELINE_LAKE_ROOT)."""
    m = re.match(r"^s3a?://([^/]+)/?(.*)$", uri)
    if m:
        return S3Storage(m.group(1)), m.group(2)
    root = lake_root or os.environ.get("LAKELINE_LAKE_ROOT")
    if not root:
        raise JobError(f"{uri} is not an s3:// URI: pass --lake-root (the folder standing in for the bucket) for local paths")
    root = os.path.abspath(root)
    trailing = uri.endswith("/")
    full = os.path.abspath(uri.removeprefix("file://"))
    if full != root and not full.startswith(root + os.sep):
        raise JobError(f"{uri} is not below the lake root {root}")
    key = os.path.relpath(full, root).replace(os.sep, "/")
    key = "" if key == "." else key
    if trailing and key:
        key += "/"
    return LocalStorage(root), key


# ---------------------------------------------------------------------------------------------
# Spark
# ---------------------------------------------------------------------------------------------

#: Session settings the job relies on; set at run time, so they hold in Glue's and EMR's
#: pre-made sessions too.
SPARK_SQL_CONF = {
    # Instants are UTC; no offset in the text means UTC, or a local time of the dataset's
    # `timezone`, converted by the zone's rules explicitly (lakeline_core::curate::columns):
    # never through the session's zone, which stays UTC.
    "spark.sql.session.timeZone": "UTC",
    # INT64 TIMESTAMP(MICROS, UTC), as arrow-rs writes Timestamp(us, "+00:00"); INT96 is legacy.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.compression.codec": "zstd",
    # Proleptic Gregorian both ways (arrow's calendar), so 0001-01-01 survives untouched instead
    # of failing (EXCEPTION is Spark's default for dates before 1582).
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
    # Column names are matched exactly, as validation matched them.
    "spark.sql.caseSensitive": "true",
    # Conversions yield null on failure and the job turns that null into a named error; ANSI
    # mode would raise Spark's own, anonymous one first.
    "spark.sql.ansi.enabled": "false",
    # Parquet INT64 TIMESTAMP(NANOS) is readable only as a long (converted by the job).
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.sql.parquet.mergeSchema": "false",
    # Decimals on INT32 up to 9 digits, INT64 up to 18, FIXED_LEN_BYTE_ARRAY above, as the
    # Parquet spec lays out (the legacy format writes them all as fixed-length bytes).
    "spark.sql.parquet.writeLegacyFormat": "false",
}


def spark_session(app):
    """The session (Glue's, EMR's or a new one)."""
    from pyspark.sql import SparkSession

    return configure(SparkSession.builder.appName(app).getOrCreate())


def configure(spark):
    """Applies the settings the job relies on to a running session (each run does, so they
    hold whoever made the session)."""
    for k, v in SPARK_SQL_CONF.items():
        spark.conf.set(k, v)
    # No _SUCCESS marker in staging folders: the job lists staging itself.
    spark.sparkContext._jsc.hadoopConfiguration().set("mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
    return spark


def spark_type(column_type):
    """The Spark type of a (canonical) registry column type; decimal(p,s) is DecimalType(p,s),
    which Spark writes as Parquet DECIMAL on INT32 up to 9 digits, INT64 up to 18, else
    FIXED_LEN_BYTE_ARRAY (spark.sql.parquet.writeLegacyFormat is false); json is a string
    (Parquet UTF8) holding the JSON text."""
    from pyspark.sql import types as T

    dec = decimal_params(column_type)
    if dec is not None:
        return T.DecimalType(*dec)
    return {
        "string": T.StringType(),
        "int": T.LongType(),
        "float": T.DoubleType(),
        "bool": T.BooleanType(),
        "date": T.DateType(),
        "timestamp": T.TimestampType(),
        "json": T.StringType(),
    }[column_type]


def curated_schema(ds):
    """The schema curated Parquet carries (lakeline_core::curate::columns::schema)."""
    from pyspark.sql import types as T

    return T.StructType([T.StructField(c.name, spark_type(c.type), not c.required) for c in ds.columns])


def not_null(column, name, default, message):
    """`column` as a non-nullable expression: a null raises `message`, so the literal default
    is never used; it only tells Spark the column is never null, which makes the Parquet
    column REQUIRED like the Rust engine's."""
    from pyspark.sql import functions as F

    checked = F.when(column.isNull(), F.raise_error(F.lit(message))).otherwise(column)
    return F.coalesce(checked, default).alias(name)


def type_default(dtype):
    """A non-null literal of a Spark type (see not_null)."""
    import datetime

    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if isinstance(dtype, T.TimestampType):
        return F.lit(datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)).cast(dtype)
    if isinstance(dtype, T.DateType):
        return F.lit(datetime.date(1970, 1, 1))
    if isinstance(dtype, T.StringType):
        return F.lit("")
    if isinstance(dtype, T.BooleanType):
        return F.lit(False)
    if isinstance(dtype, T.BinaryType):
        return F.lit(bytearray())
    return F.lit(0).cast(dtype)


def parquet_footer(spark, path):
    """(rows, Spark schema with nullability from the Parquet repetition) of one Parquet file,
    from its footer alone: no Spark job, a ranged read or two.

    Spark's readers make every column nullable; the footer keeps REQUIRED."""
    from pyspark.sql import types as T

    jvm = spark._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    no_filter = getattr(jvm.org.apache.parquet.format.converter.ParquetMetadataConverter, "NO_FILTER")
    footer = jvm.org.apache.parquet.hadoop.ParquetFileReader.readFooter(conf, jvm.org.apache.hadoop.fs.Path(path), no_filter)
    rows = sum(b.getRowCount() for b in footer.getBlocks())
    message = footer.getFileMetaData().getSchema()
    try:
        conv = jvm.org.apache.spark.sql.execution.datasources.parquet.ParquetToSparkSchemaConverter(spark._jsparkSession.sessionState().conf())
        schema = T.StructType.fromJson(json.loads(conv.convert(message).json()))
    except Exception:  # noqa: BLE001 - an internal Spark class; fall back to a public read
        LOG.info("schema converter unavailable; reading the schema of %s through Spark", path)
        schema = spark.read.parquet(path).schema
        required = {f.getName() for f in message.getFields() if f.getRepetition().name() == "REQUIRED"}
        schema = T.StructType([T.StructField(f.name, f.dataType, f.name not in required) for f in schema.fields])
    return rows, schema


def read_footers(spark, paths, threads=16):
    """parquet_footer of many files, a few at a time (py4j calls may run in parallel)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(paths)))) as pool:
        return list(pool.map(lambda p: parquet_footer(spark, p), paths))


_PART_RE = re.compile(r"^part-(\d+)-.*?(?:-c(\d+))?(?:\.[a-z0-9]+)?\.parquet$")


def write_staged(df, storage, staging_prefix, max_records_per_file=0):
    """Writes `df` as Parquet under `staging_prefix` (cleared first: a re-run starts clean) and
    returns the part files in row order (task, then file within the task)."""
    storage.delete_prefix(staging_prefix)
    w = df.write.mode("overwrite").option("compression", "zstd")
    if max_records_per_file:
        w = w.option("maxRecordsPerFile", int(max_records_per_file))
    w.parquet(storage.spark_path(staging_prefix))
    parts = []
    for o in storage.list(staging_prefix):
        name = o.key.rsplit("/", 1)[-1]
        m = _PART_RE.match(name)
        if m:
            parts.append(((int(m.group(1)), int(m.group(2) or 0)), o))
    parts.sort(key=lambda t: t[0])
    return [o for _, o in parts]


def numbered_key(prefix, stem, i):
    """`<prefix><stem>-<nnnnn>.parquet`: the name of output part `i`."""
    return f"{prefix}{stem}-{i:05d}.parquet"


def publish(storage, parts, prefix, stem, extra_stale=()):
    """Copies staged parts to their final names `<prefix><stem>-00000.parquet`, … then deletes
    what a previous run of the same stem left beyond them (higher part numbers) and the keys in
    `extra_stale`, so a re-run leaves exactly this run's outputs and no duplicate rows."""
    finals = []
    for i, part in enumerate(parts):
        dst = numbered_key(prefix, stem, i)
        storage.copy(part.key, dst)
        finals.append(dst)
    pattern = re.compile(re.escape(prefix + stem) + r"-(\d{5,})\.parquet$")
    keep = set(finals)
    for o in storage.list(prefix + stem, recursive=False):
        if pattern.fullmatch(o.key) and o.key not in keep:
            LOG.info("deleting %s, left by an earlier run with more parts", storage.uri(o.key))
            storage.delete(o.key)
    for key in extra_stale:
        if key not in keep and storage.head(key) is not None:
            LOG.info("deleting %s, the single-file output of an earlier run", storage.uri(key))
            storage.delete(key)
    return finals


def setup_logging():
    if not LOG.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(asctime)s lakeline %(levelname)s %(message)s"))
        LOG.addHandler(h)
        LOG.setLevel(logging.INFO)


# ---------------------------------------------------------------------------------------------
# Curate
# ---------------------------------------------------------------------------------------------

#: Rows per output file: about 100-200 MiB of zstd Parquet for typical rows, one file per task
#: otherwise (a single-task CSV read would else write one giant file).
DEFAULT_MAX_RECORDS_PER_FILE = 5_000_000

#: Rows per Arrow batch sent from the CSV parser to the JVM.
ARROW_BATCH_ROWS = 65_536

INT_RE = r"^[+-]?[0-9]+$"
# `\z`, not `$`: Java's `$` also matches before a line break that ends the text.
DECIMAL_RE = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)\z"
FLOAT_RE = r"^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"
DATE_RE = r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$"
# date, T/t/space, HH:MM, optional :SS, optional .fraction (or ,fraction) of 1-9 digits,
# optional Z/z or +-HH, +-HHMM, +-HH:MM (lakeline_core::types::is_timestamp).
TIMESTAMP_RE = (
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?"
    r"(?:[Zz]|([+-])([0-9]{2})(?::?([0-9]{2}))?)?$"
)


def output_stem(raw_key):
    """`<stem>-<12 hex of sha256(raw key)>`: lakeline_core::curate::output_key without prefix and
    extension. The stem is the file name without a trailing `.gz`, then without its last
    extension (a leading dot is no extension)."""
    file = raw_key.rsplit("/", 1)[-1]
    stem = file[:-3] if file.endswith(".gz") else file
    i = stem.rfind(".")
    if i > 0:
        stem = stem[:i]
    return f"{stem}-{sha256_hex(raw_key)[:12]}"


# --- text -> typed values, as Spark expressions -------------------------------------------------


# Each conversion takes the raw column and a `stage` callback that materialises an expression
# as a column of an earlier projection and returns a reference to it. Spark does not merge a
# projection into the next when that would evaluate an expensive expression twice, so every
# regular expression runs once per value, and the final plan stays small enough for codegen
# (nesting the expressions directly made plans that took tens of seconds to optimise).


def _int_from_text(v, stage):
    from pyspark.sql import functions as F

    return F.when(v.rlike(INT_RE), v.cast("long"))


def _float_from_text(v, stage):
    from pyspark.sql import functions as F

    low = stage(F.lower(v))
    return (
        F.when(low.rlike(r"^[+-]?nan$"), F.lit(float("nan")))
        .when(low.rlike(r"^[+]?inf(inity)?$"), F.lit(float("inf")))
        .when(low.rlike(r"^-inf(inity)?$"), F.lit(float("-inf")))
        .when(v.rlike(FLOAT_RE), v.cast("double"))
    )


def _bool_from_text(v, stage):
    from pyspark.sql import functions as F

    low = stage(F.lower(v))
    return F.when(low.isin(*TRUE_WORDS), F.lit(True)).when(low.isin(*FALSE_WORDS), F.lit(False))


def _date_from_text(v, stage):
    from pyspark.sql import functions as F

    y, m, d = (stage(F.regexp_extract(v, DATE_RE, i).cast("int")) for i in (1, 2, 3))
    return F.when(v.rlike(DATE_RE) & (y >= 1), F.make_date(y, m, d))


def _timestamp_from_text(v, stage, zone=None):
    """Microseconds since the epoch computed field by field (types.rs parse_timestamp_in): no
    offset means UTC, or with `zone` (the dataset's `timezone`) a local time there (see
    local_time_to_utc); digits beyond microseconds are dropped, `:60` is the next minute's
    first second (for a local time too, before the zone's rules apply). Spark's own parsers
    reject `:60`, accept other layouts and round differently.

    One regular expression checks the layout; the fields are then cut out by position (cheap
    string functions: regular expressions per field cost more than everything else together)."""
    from pyspark.sql import functions as F

    ok = stage(v.rlike(TIMESTAMP_RE))
    y, mo, d, h, mi = (F.substring(v, pos, n).cast("int") for pos, n in ((1, 4), (6, 2), (9, 2), (12, 2), (15, 2)))
    has_s = F.substring(v, 17, 1) == ":"
    s = F.when(has_s, F.substring(v, 18, 2).cast("int")).otherwise(F.lit(0))
    # What follows HH:MM[:SS]: [.fraction][offset]
    rest = stage(F.when(ok, F.when(has_s, v.substr(F.lit(20), F.lit(64))).otherwise(v.substr(F.lit(17), F.lit(64)))))
    has_frac = rest.startswith(".") | rest.startswith(",")
    frac = stage(F.when(has_frac, F.regexp_extract(rest, r"^[.,]([0-9]+)", 1)).otherwise(F.lit("")))
    tz = stage(F.when(has_frac, rest.substr(F.length(frac) + 2, F.lit(64))).otherwise(rest))
    signed = tz.startswith("+") | tz.startswith("-")
    oh = F.when(signed, F.substring(tz, 2, 2).cast("int")).otherwise(F.lit(0))
    om = F.when(signed & (F.length(tz) > 3), tz.substr(F.length(tz) - 1, F.lit(2)).cast("int")).otherwise(F.lit(0))
    offset = (oh * 3600 + om * 60) * F.when(tz.startswith("-"), F.lit(-1)).otherwise(F.lit(1))
    micros_part = F.when(frac == "", F.lit(0)).otherwise(F.rpad(F.substring(frac, 1, 6), 6, "0").cast("long"))
    date = stage(F.when(ok, F.make_date(y, mo, d)))
    valid = ok & date.isNotNull() & (y >= 1) & (h <= 23) & (mi <= 59) & (s <= 60) & (oh <= 23) & (om <= 59)
    # The date and clock as written, in seconds since 1970-01-01 00:00.
    local = F.unix_date(date).cast("long") * 86400 + h * 3600 + mi * 60 + s
    instant = F.timestamp_micros((local - offset) * 1_000_000 + micros_part)
    if zone is not None:
        # Only values without Z or an offset are local times of the zone.
        naive = stage(F.when(valid & (tz == ""), local * 1_000_000 + micros_part))
        instant = F.when(tz != "", instant).otherwise(local_time_to_utc(naive, zone, stage))
    return F.when(valid, instant)


#: Microseconds of a day: how far from a local time local_time_to_utc looks for the offsets
#: around it.
DAY_MICROS = 86_400_000_000


def local_time_to_utc(local, zone, stage):
    """The instant (a timestamp) of `local`, a local time of the IANA zone `zone` as
    microseconds since 1970-01-01 00:00 of its clock, by the zone's rules; null when the zone
    has no one instant showing it: a time its clocks skip (a daylight-saving gap) or show twice
    (an overlap). Both are refused by validation (lakeline_core::types::Zone::offset_of), so a
    null fails the job like any value that does not convert; a side is never picked.
    (Spark's to_utc_timestamp picks one silently for both: Java's atZone takes the earlier
    offset in an overlap and moves a skipped time forward.)

    An instant u shows local time u + offset(u), offset(u) being the zone's UTC offset at u
    (from_utc_timestamp(u) - u, exact to the second, local mean time included). The instants
    showing `local` are within 18 hours of it (Java's limit on offsets), and the tz database
    never changes a zone's offset twice within two days (the closest changes are about a week
    apart; tests/spark/test_timezone.py checks every zone Java knows), so within a day of
    `local` the offset is a = offset(local - 1 day) before any change and
    b = offset(local + 1 day) after it: the only candidates are local - a and local - b, each an
    answer when the offset there is the one it assumed. One answer (or both the same instant)
    is the instant; two different ones are an overlap; none is a gap."""
    from pyspark.sql import functions as F

    def offset(u):
        return F.unix_micros(F.from_utc_timestamp(F.timestamp_micros(u), zone)) - u

    a = stage(offset(local - DAY_MICROS))
    b = stage(offset(local + DAY_MICROS))
    at_a = stage(F.when(offset(local - a) == a, local - a))
    at_b = stage(F.when(offset(local - b) == b, local - b))
    one = at_a.isNull() | at_b.isNull() | (at_a == at_b)
    return F.when(one, F.timestamp_micros(F.coalesce(at_a, at_b)))


def _decimal_from_text(precision, scale):
    """The conversion of text to decimal(precision, scale), exact, by
    lakeline_core::types::parse_decimal's rules: `[+-]digits[.digits]` or `[+-].digits` (so
    `+1.5`, `.5` and `5.`; no exponent, `NaN`, space or separator); at most `scale` digits after
    the point, trailing zeros counted (`1.500` is no decimal(12,2): the producer's scale is not
    the column's); at most precision - scale before it, leading zeros aside (`007.5` has one).
    Never rounded and never through a double: the cast only runs on text that fits, so it is
    exact. Anything else is null, which fails the job like any value that does not convert."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    def convert(v, stage):
        ok = stage(v.rlike(DECIMAL_RE))
        point = stage(F.instr(v, "."))
        after = F.when(point > 0, F.length(v) - point).otherwise(F.lit(0))
        before = F.length(F.regexp_extract(v, r"^[+-]?0*([0-9]*)", 1))
        return F.when(ok & (after <= scale) & (before <= precision - scale), v.cast(T.DecimalType(precision, scale)))

    return convert


#: JSON numbers with a fraction or exponent hold at most this many significant digits to be
#: taken as decimals (a double keeps any 15-digit decimal exactly; DBL_DIG).
JSON_DECIMAL_DIGITS = 15


def _decimal_from_json_double(x, precision, scale, stage):
    """A JSON number with a fraction or exponent, `x` the double the JSON reader made of it,
    as decimal(precision, scale): its shortest round-trip text as Rust's f64 Display writes it
    (positional, no point for a whole number: `12.5`, `1000` for 1e3 and for 1000.0,
    `0.0000001` for 1e-7, `10000000000000000` for 1e16), refused when that text has more than
    15 significant digits (counted from the first non-zero digit to the end, trailing zeros
    included), and
    otherwise held to the text rules (digits after the point <= scale, before it <= precision -
    scale). NaN and infinities are refused.

    No shortest-text formatter exists in Spark, and Java's Double.toString is not always the
    shortest (before JDK 19), so: `%.14e` rounds x to 15 significant digits; when that reads
    back as x it is the one decimal of at most 15 digits that does (two such decimals are
    further apart than two doubles), i.e. the shortest text padded with zeros; when it does
    not, the shortest text has more than 15 digits. The digit counts of that text follow from
    the digits without their trailing zeros (k) and the exponent (E)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    sci = stage(F.format_string("%.14e", x))  # [-]d.dddddddddddddde[+-]XX (Locale.US)
    body = F.when(sci.startswith("-"), F.substring(sci, 2, 64)).otherwise(sci)
    k = stage(F.length(F.regexp_replace(F.concat(F.substring(body, 1, 1), F.substring(body, 3, 14)), "0+$", "")))
    e = stage(F.substring(body, 18, 8).cast("int"))
    zero = k == 0
    after = F.when(zero, F.lit(0)).when(e < 0, k - 1 - e).otherwise(F.greatest(F.lit(0), k - 1 - e))
    after = stage(after)
    before = F.when(zero, F.lit(0)).otherwise(F.greatest(F.lit(0), e + 1))
    significant = F.when(zero, F.lit(0)).when(e < 0, k).otherwise(before + after)
    finite = ~F.isnan(x) & (F.abs(x) != F.lit(float("inf")))
    ok = (
        finite
        & (sci.cast("double") == x)
        & (significant <= JSON_DECIMAL_DIGITS)
        & (after <= scale)
        & (before <= precision - scale)
    )
    # The 15 digits are the value exactly (zeros beyond the shortest text), and it fits: exact.
    return F.when(ok, sci.cast(T.DecimalType(precision, scale)))


#: A JSON object or array, whitespace around it allowed: the shape of every text validation
#: accepts for a json column (lakeline_core::types::is_json parses it fully). The job keeps the
#: text verbatim; this only catches a disagreement, which fails the job.
JSON_TEXT_RE = r"(?s)^[ \t\n\r]*[\[{].*[\]}][ \t\n\r]*\z"


def _json_from_text(v, stage):
    """A json column's CSV/TSV field: its text, verbatim (whitespace and all), when it has the
    shape of an object or an array."""
    from pyspark.sql import functions as F

    return F.when(v.rlike(JSON_TEXT_RE), v)


TEXT_CONVERSIONS = {
    "string": lambda v, stage: v,
    "int": _int_from_text,
    "float": _float_from_text,
    "bool": _bool_from_text,
    "date": _date_from_text,
    "timestamp": _timestamp_from_text,
    "json": _json_from_text,
}


def text_conversion(column_type, zone=None):
    """The conversion of text to a (canonical) column type; `zone`: the dataset's `timezone`
    (for timestamps without an offset)."""
    dec = decimal_params(column_type)
    if dec is not None:
        return _decimal_from_text(*dec)
    if column_type == "timestamp" and zone is not None:
        return lambda v, stage: _timestamp_from_text(v, stage, zone)
    return TEXT_CONVERSIONS[column_type]


def col_ref(name):
    """A column by its exact name (dots, spaces, backticks and all)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def convert_columns(df, ds, source, convert):
    """The declared columns, each `convert(column, raw, stage)`, in declared order, with the
    job failing on the first row where a non-null raw value did not convert or a required
    column without a default is null (raise_error, the message naming source, column and
    value).

    A column with a `default` holds, where its raw value is null, the default's text converted
    by the column's text rules (text_conversion, as a CSV/TSV field, whatever the format); a
    raw value that is present is never replaced, and one that does not convert fails the job
    as without a default (the check reads the raw value, not the converted one). A required
    column with a default then takes nulls and stays non-nullable; an optional one stays
    nullable in the schema (as in lakeline_core). A default that does not convert (the
    registry check, text_problem, accepted it) fails the job where it would be used.

    Built as a chain of projections: staged helpers (in order of need), converted values, one
    problem column per row (the first problem, or null), the output. Each check then reads
    columns that are already computed: written as nested expressions, every conversion ran
    two to four times per value (Spark does not share subexpressions into CASE branches) and
    took most of the job's time."""
    from pyspark.sql import functions as F

    layers = []

    def stager(prefix):
        count = [0]

        def stage(expr):
            count[0] += 1
            name = f"__lakeline_{prefix}_{count[0]}"
            layers.append((name, expr))
            return F.col(name)

        return stage

    convs = [convert(c, col_ref(c.name), stager(f"c{i}")) for i, c in enumerate(ds.columns)]
    # Each default converted once, from a literal (Spark folds it to a constant).
    defaults = {
        i: text_conversion(c.type, ds.timezone)(F.lit(c.default), stager(f"d{i}"))
        for i, c in enumerate(ds.columns)
        if c.default is not None
    }
    out = df
    for name, expr in layers:
        out = out.select("*", expr.alias(name))
    out = out.select(
        "*",
        *[conv.alias(f"__lakeline_v{i}") for i, conv in enumerate(convs)],
        *[d.alias(f"__lakeline_default{i}") for i, d in defaults.items()],
    )
    checks = []
    for i, c in enumerate(ds.columns):
        raw, val = col_ref(c.name), F.col(f"__lakeline_v{i}")
        if ds.shows_value(c.name):
            message = F.concat(
                F.lit(f"lakeline curate: {source}: column {c.name} ({c.type}): cannot convert the value \""),
                F.substring(raw.cast("string"), 1, 120),
                F.lit("\", which validation accepted (validation and curation disagree: report this)"),
            )
        else:
            message = F.lit(
                f"lakeline curate: {source}: column {c.name} ({c.type}): cannot convert a value (not shown: "
                "the column is sensitive or the lake redacts values), which validation accepted "
                "(validation and curation disagree: report this)"
            )
        checks.append(F.when(raw.isNotNull() & val.isNull(), message))
        if c.default is not None:
            bad_default = (
                f"lakeline curate: {source}: column {c.name} ({c.type}): cannot convert its default {shorten(c.default)}, "
                "which the registry check accepted (the registry check and curation disagree: report this)"
            )
            checks.append(F.when(raw.isNull() & F.col(f"__lakeline_default{i}").isNull(), F.lit(bad_default)))
        elif c.required:
            checks.append(F.when(raw.isNull(), F.lit(f"lakeline curate: {source}: required column {c.name} holds a null")))
    out = out.select("*", F.coalesce(*checks, F.lit(None).cast("string")).alias("__lakeline_problem"))
    problem = F.col("__lakeline_problem")
    final = []
    for i, c in enumerate(ds.columns):
        val = F.col(f"__lakeline_v{i}")
        if c.default is not None:
            # Only where the raw value is null: a present one that did not convert raised above.
            val = F.when(col_ref(c.name).isNull(), F.col(f"__lakeline_default{i}")).otherwise(val)
        if i == 0:
            val = F.when(problem.isNotNull(), F.raise_error(problem)).otherwise(val)
        if c.required:
            # Never null (a null raised above): the literal only tells Spark so, which makes
            # the Parquet column REQUIRED like the Rust engine's.
            val = F.coalesce(val, type_default(spark_type(c.type)))
        final.append(val.alias(c.name))
    return out.select(*final)


# --- readers ----------------------------------------------------------------------------------


def delimited_rows(storage, key, etag, gz, delimiter, header, ncols, source, declared=(), extra_columns="reject",
                   has_null=True, defaulted=()):
    """The data records of a CSV/TSV object as lists of strings, by csv-core's rules: `"`
    quotes with `""` inside, CR, LF and CRLF end records, blank lines are skipped, a UTF-8 BOM
    at the start is dropped, the first record is the header when the dataset has one.

    With `header` by_name, `declared` is the dataset's ((name, required), ...): the header
    places them (header_positions) and each record comes out as the declared columns in
    declared order, None for an optional column the file lacks (or one with a default, named
    in `defaulted`); records have as many fields
    as the header. Otherwise records have `ncols` fields, as they are."""
    csv.field_size_limit(2**31 - 1)
    raw = storage.open(key, etag)
    try:
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="", errors="strict")
        reader = csv.reader(text, delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
        header_pending = header in ("required", "by_name")
        width, pick, blank_before = ncols, None, False
        try:
            for row in reader:
                if not row:
                    blank_before = True
                    continue
                if header_pending:
                    header_pending = False
                    if header == "by_name":
                        # utf-8-sig drops a BOM at the very start; csv-core drops it from the
                        # first record even after blank lines.
                        if blank_before and row[0].startswith("\ufeff"):
                            row[0] = row[0][1:]
                        pick = header_positions(row, declared, extra_columns, source, reader.line_num, has_null, defaulted)
                        width = len(row)
                    continue
                if len(row) != width:
                    raise JobError(
                        f"lakeline curate: {source}: the record ending on line {reader.line_num} has {len(row)} fields, expected {width} (validation accepted the file: report this)"
                    )
                yield row if pick is None else [None if i is None else row[i] for i in pick]
            if header_pending and header == "by_name":
                message = f"lakeline curate: {source}: no header line: the file has no records (validation accepted the file: report this)"
                raise JobError(message)
        except (UnicodeDecodeError, csv.Error, EOFError, gzip.BadGzipFile) as e:
            raise JobError(f"lakeline curate: {source}: cannot read the file near line {reader.line_num}: {e}") from e
    finally:
        raw.close()


def header_positions(header, declared, extra_columns, source, line, has_null=True, defaulted=()):
    """For `header: by_name`: where each declared column is in a record, by the header
    `header` (its names trimmed of whitespace, compared exactly): the index per declared
    column, None for an optional one the header lacks. A name given twice, a required column
    missing, or (with extra_columns reject) a name not declared fails the file; with
    extra_columns allow, undeclared columns are skipped. Without a null value (`null_values:
    []`, `has_null` false) a missing optional column has nothing to hold either, and fails the
    file as it does in lakeline_core's validation. A column with a default (named in
    `defaulted`) may be missing, required or not, null values or not: it holds its default."""
    names = [h.strip(RUST_WHITESPACE) for h in header]
    problem = None
    position = {}
    twice = []
    for i, n in enumerate(names):
        if n in position and n not in twice:
            twice.append(n)
        position.setdefault(n, i)
    known = {name for name, _ in declared}
    missing = [name for name, required in declared
               if (required or not has_null) and name not in defaulted and name not in position]
    extra = [n for n in names if n not in known]
    if twice:
        problem = f"names {', '.join(map(shorten, twice))} more than once"
    elif missing:
        problem = f"lacks the required column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
    elif extra and extra_columns != "allow":
        problem = f"has the undeclared column{'s' if len(extra) > 1 else ''} {', '.join(map(shorten, extra[:5]))} (extra_columns: reject)"
    if problem:
        # (Built apart from the raise: a task's traceback quotes the raising line, and the
        # driver takes the first "lakeline curate: ..." it finds for the message.)
        message = f"lakeline curate: {source}: the header on line {line} {problem} (validation accepted the file: report this)"
        raise JobError(message)
    return [position.get(name) for name, _ in declared]


def _null_mapper(null_values):
    nulls = frozenset(null_values)
    return lambda row: tuple(None if v in nulls else v for v in row)


def arrow_batches(rows, names, null_values, batch_rows=ARROW_BATCH_ROWS):
    """Rows as Arrow record batches of strings, null values already null (vectorised)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    nulls = pa.array(sorted(set(null_values)), pa.string())

    def batch(buf):
        arrays = []
        for col in zip(*buf):
            a = pa.array(col, pa.string())
            if len(nulls):
                a = pc.if_else(pc.is_in(a, value_set=nulls), pa.scalar(None, pa.string()), a)
            arrays.append(a)
        return pa.RecordBatch.from_arrays(arrays, names=names)

    buf = []
    for row in rows:
        buf.append(row)
        if len(buf) >= batch_rows:
            yield batch(buf)
            buf = []
    if buf:
        yield batch(buf)


def arrow_available():
    """Whether mapInArrow can run: it needs pyarrow and pandas (Spark checks both)."""
    try:
        import pandas  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def read_delimited(spark, ds, storage, key, etag, source, transfer="auto"):
    """A CSV/TSV object as a one-partition DataFrame of nullable string columns."""
    from pyspark.sql import types as T

    names = [c.name for c in ds.columns]
    schema = T.StructType([T.StructField(n, T.StringType(), True) for n in names])
    declared = tuple((c.name, c.required) for c in ds.columns)
    defaulted = frozenset(c.name for c in ds.columns if c.default is not None)
    args = (storage, key, etag, ds.is_gzip(key), ds.delimiter, ds.header, len(names), source, declared, ds.extra_columns,
            bool(ds.null_values), defaulted)
    null_values = ds.null_values
    use_arrow = transfer == "arrow" or (transfer == "auto" and arrow_available())
    if use_arrow:

        def parse(_batches):
            return arrow_batches(delimited_rows(*args), names, null_values)

        return spark.range(1, numPartitions=1).mapInArrow(parse, schema)
    to_tuple = _null_mapper(null_values)

    def parse_rows(_):
        return (to_tuple(r) for r in delimited_rows(*args))

    rdd = spark.sparkContext.parallelize([0], 1).mapPartitions(parse_rows)
    return spark.createDataFrame(rdd, schema, verifySchema=False)


def curate_text(df, ds, source):
    """Declared columns converted from text by the Rust rules."""
    return convert_columns(df, ds, source, lambda c, raw, stage: text_conversion(c.type, ds.timezone)(raw, stage))


def read_jsonl(spark, ds, path, source):
    """JSON Lines by Spark's JSON reader, fields by name: ints must be JSON integers (a float
    fails the read), floats any number, bools JSON booleans, strings JSON strings; dates and
    timestamps arrive as strings and are converted by the text rules. Lines end at LF only
    (a CR is whitespace, as for serde_json); blank lines are skipped; FAILFAST, so a record
    Spark cannot read fails the job instead of becoming nulls.

    A decimal column takes a JSON string by the text rules, a JSON integer exactly, and a
    number with a fraction or exponent through the double the reader makes of it (see
    _decimal_from_json_double); booleans, objects and arrays are refused. Telling a number
    from a string needs the line itself (read as a string, `12.5` and `"12.5"` look alike), so
    such datasets read lines as text and parse them with from_json, which is the same parser
    and options: the fields once with decimals as strings (their text: a string's content, an
    integer's digits, a double's Java text), and once per decimal column as a double, which
    is null for anything but a number (and the strings NaN and Infinity, refused either way).

    Timestamps without an offset are local times of the dataset's `timezone` when it has one.

    A json column is read as a string: for an object or an array that is its compact JSON
    text as Jackson writes it (keys in their order, whitespace dropped; numbers and strings as
    Jackson writes them, which tests/spark/test_json_type.py lists); JSON null or a missing field
    is null. A scalar would come out as text too (a string's content unquoted), so it is
    told apart on the line itself, read again with the field as an object or as an array (one
    of the two, by the text's first character), and refused when it is neither."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    def read_type(c):
        if c.type in ("date", "timestamp") or decimal_params(c.type) is not None:
            return T.StringType()
        return spark_type(c.type)

    schema = T.StructType([T.StructField(c.name, read_type(c), True) for c in ds.columns])
    decimals = {c.name: i for i, c in enumerate(ds.columns) if decimal_params(c.type) is not None}
    jsons = any(c.type == "json" for c in ds.columns)
    if not decimals and not jsons:
        df = spark.read.schema(schema).option("mode", "FAILFAST").option("lineSep", "\n").json(path)
    else:
        lines = spark.read.option("lineSep", "\n").text(path)
        v = F.col("value")
        # What the JSON reader skips: lines of whitespace only (a BOM at most before it).
        lines = lines.where(~v.rlike("^\ufeff?[ \t\r]*\\z"))
        # from_json reads the line's text, which Spark decoded leniently: invalid UTF-8 (which
        # the JSON reader refuses) would become U+FFFD instead of failing.
        utf8 = F.encode(v, "UTF-8") == v.cast("binary")
        bad_utf8 = f"lakeline curate: {source}: a line is not valid UTF-8, which validation accepted (validation and curation disagree: report this)"
        row = F.when(utf8, F.from_json(v, schema, {"mode": "FAILFAST"})).otherwise(F.raise_error(F.lit(bad_utf8)))
        numbers = [
            F.from_json(v, T.StructType([T.StructField(name, T.DoubleType(), True)])).getField(name).alias(f"__lakeline_jnum{i}")
            for name, i in decimals.items()
        ]
        parsed = lines.select(row.alias("__lakeline_json"), *numbers, v.alias("__lakeline_line"))
        df = parsed.select(
            *[F.col("__lakeline_json").getField(c.name).alias(c.name) for c in ds.columns],
            *[f"__lakeline_jnum{i}" for i in decimals.values()],
            "__lakeline_line",
        )

    def json_field_as(name, dtype):
        """Field `name` of the line read as `dtype`: null unless the field is one (the rest of
        the line is skipped unread)."""
        field = T.StructType([T.StructField(name, dtype, True)])
        return F.from_json(F.col("__lakeline_line"), field).getField(name)

    def convert(c, raw, stage):
        if c.type == "json":
            # Jackson's text of an object starts with `{`, of an array with `[`; only then is
            # the line parsed again (the condition's right side runs only when its left holds).
            is_object = raw.startswith("{") & json_field_as(c.name, T.StructType([])).isNotNull()
            is_array = raw.startswith("[") & json_field_as(c.name, T.ArrayType(T.StringType())).isNotNull()
            return F.when(is_object | is_array, raw)
        dec = decimal_params(c.type)
        if dec is not None:
            number = F.col(f"__lakeline_jnum{decimals[c.name]}")
            # A JSON integer's text is its digits (the reader writes them out exactly). One
            # beyond i64 and u64 is a double to serde_json, of 20 digits or more: refused there
            # as inexact, so here too.
            integer = stage(number.isNotNull() & raw.rlike(r"^-?[0-9]+\z"))
            from decimal import Decimal

            in_range = raw.cast(T.DecimalType(38, 0)).between(
                F.lit(Decimal(-(2**63))).cast(T.DecimalType(38, 0)), F.lit(Decimal(2**64 - 1)).cast(T.DecimalType(38, 0))
            )
            as_text = _decimal_from_text(*dec)(raw, stage)
            as_double = _decimal_from_json_double(number, *dec, stage)
            return (
                F.when(number.isNull(), as_text)
                .when(integer & in_range, as_text)
                .when(integer, F.lit(None).cast(T.DecimalType(*dec)))
                .otherwise(as_double)
            )
        return text_conversion(c.type, ds.timezone)(raw, stage) if c.type in ("date", "timestamp") else raw

    return convert_columns(df, ds, source, convert)


def read_parquet(spark, ds, path, source):
    """A Parquet upload re-written to the declared schema: declared columns by name, in
    declared order, cast as lakeline_core::curate::curate_batches casts (INT32 -> INT64, FLOAT and
    DECIMAL -> DOUBLE, INT96 / milli / nano timestamps -> microseconds UTC, local timestamps
    taken as UTC, whatever the dataset's `timezone`). A decimal(p,s) column takes only a DECIMAL
    of scale s and at most p digits (widened exactly); any other decimal, a float or an int is
    refused. A json column takes a string (UTF8 or JSON logical type), kept as its text."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    df = spark.read.parquet(path)
    fields = {f.name: f.dataType for f in df.schema.fields}
    allowed = {
        "int": (T.ByteType, T.ShortType, T.IntegerType, T.LongType),
        "float": (T.FloatType, T.DoubleType, T.DecimalType),
        "string": (T.StringType,),
        "bool": (T.BooleanType,),
        "date": (T.DateType,),
        "timestamp": (T.TimestampType, T.TimestampNTZType, T.LongType),
        "json": (T.StringType,),
    }
    for c in ds.columns:
        if c.name not in fields:
            raise JobError(f"lakeline curate: {source}: declared column {c.name} is not in the file")
        t = fields[c.name]
        dec = decimal_params(c.type)
        if dec is not None:
            # Exactly only: a decimal of the same scale and no more digits (another scale would
            # be rounded or rescaled, a float is not exact, an int may not fit).
            fits = isinstance(t, T.DecimalType) and t.scale == dec[1] and t.precision <= dec[0]
        else:
            fits = isinstance(t, allowed[c.type])
        if not fits:
            raise JobError(f"lakeline curate: {source}: column {c.name} is {t.simpleString()} in the file, which does not convert to {c.type}")

    def convert(c, raw, stage):
        if c.type == "timestamp" and isinstance(fields[c.name], T.LongType):
            # INT64 TIMESTAMP(NANOS): validation admits no plain INT64 here. Truncated toward
            # zero to microseconds, as arrow-cast divides.
            return F.timestamp_micros(F.expr("`" + c.name.replace("`", "``") + "` div 1000"))
        return raw.cast(spark_type(c.type))

    return convert_columns(df, ds, source, convert)


# --- the job ----------------------------------------------------------------------------------


def check_zone_in_spark(spark, ds):
    """Fails when Spark (Java's tz database) does not know the dataset's `timezone`, which
    zoneinfo does (an older database than the system's, say): the job would otherwise fail on
    its first value with Java's error."""
    jvm = spark._jvm
    try:
        jvm.java.time.ZoneId.of(ds.timezone, jvm.java.time.ZoneId.SHORT_IDS)
    except Exception as e:  # noqa: BLE001 - py4j wraps Java's DateTimeException
        try:
            versions = ", ".join(jvm.java.time.zone.ZoneRulesProvider.getVersions("UTC").keySet())
        except Exception:  # noqa: BLE001 - only for the message
            versions = "unknown"
        raise JobError(
            f"lakeline curate: dataset {ds.name}: timezone {ds.timezone} is unknown to this Spark's Java "
            f"(tz database {versions}): run the job on a Java with a newer tz database"
        ) from e


def parse_args(argv):
    p = argparse.ArgumentParser(prog="curate.py", description="lakeline curate (Spark engine)", allow_abbrev=False)
    # One file (--lakeline_source), or a batch's manifest (--lakeline_manifest: the files of one
    # partition that start-job gathered into one run; lakeline_core::batch).
    p.add_argument("--lakeline_source", "--source", dest="source")
    p.add_argument("--lakeline_manifest", "--manifest", dest="manifest")
    p.add_argument("--lakeline_target", "--target", dest="target")
    p.add_argument("--lakeline_dataset", "--dataset", dest="dataset")
    p.add_argument("--lakeline_partition", "--partition", dest="partition")
    p.add_argument("--lakeline_execution", dest="execution")
    p.add_argument("--lakeline_run_key", dest="run_key")
    p.add_argument("--lakeline_registry", "--registry", dest="registry", default=os.environ.get("LAKELINE_REGISTRY"))
    p.add_argument(
        "--lakeline_table_fields", dest="table_fields",
        help="table mode: the dataset's Iceberg table's field ids by column name (JSON); the job "
        "then stages data files for lakeline's committer instead of writing curated/",
    )
    p.add_argument("--lakeline_version", dest="version", help="table mode, one file: the delivery's version (default: its ETag)")
    p.add_argument(
        "--lakeline_etag", dest="validated_etag",
        help="one file: the ETag validation judged; the run refuses an object that is not that upload "
        "(a batch's members carry theirs in the manifest)",
    )
    p.add_argument("--lake-root", dest="lake_root", help="local runs: the folder standing in for the bucket")
    p.add_argument("--max-records-per-file", type=int, default=DEFAULT_MAX_RECORDS_PER_FILE)
    p.add_argument("--csv-transfer", choices=("auto", "arrow", "rows"), default="auto")
    p.add_argument(
        "--parallelism", type=int, default=1,
        help="CSV/TSV: spread conversion and writing over N tasks after the single-task parse "
        "(a round-robin shuffle: faster for big files, but rows lose their file order)",
    )
    args, unknown = p.parse_known_args(argv)
    if (args.source is None) == (args.manifest is None):
        p.error("pass --lakeline_source (one file) or --lakeline_manifest (a batch), exactly one")
    if unknown:
        LOG.info("ignoring arguments not meant for this job: %s", " ".join(unknown))
    return args


def same_etag(a, b):
    return (a or "").strip('"') == (b or "").strip('"')


def check_validated(head, validated, source):
    """Refuses an object that is not the upload validation judged (`--lakeline_etag`): a newer
    upload replaced it since, and that upload's own execution curates it. Nothing is read."""
    if validated and not same_etag(head.etag, validated):
        raise JobError(
            f"lakeline curate: {source} is not the upload that was validated (ETag {validated.strip(chr(34))}): "
            f"it now has ETag {head.etag.strip(chr(34))}, a newer upload that its own execution curates; nothing was written"
        )


def still_validated(storage, key, head, source):
    """After the read: the object is still the one read (a replacement during a Spark read of
    JSON Lines or Parquet, which no conditional request guards, would mix two uploads)."""
    now = storage.head(key)
    if now is None or not same_etag(now.etag, head.etag):
        raise JobError(
            f"lakeline curate: {source} was replaced while it was read (ETag {head.etag.strip(chr(34))} before, "
            f"{(now.etag.strip(chr(34)) if now else 'deleted')} after): nothing was written; the newer upload's own execution curates it"
        )


def run(spark, args):
    """Curates one object; returns the summary printed by main."""
    started = time.time()
    configure(spark)
    src_storage, key = locate(args.source, args.lake_root)
    reg = load_registry(registry_location(args.registry, src_storage))
    ds = dataset_from_registry(reg, args.dataset) if args.dataset else dataset_for_key(reg, key)
    source = src_storage.uri(key)
    head = src_storage.head(key)
    if head is None:
        raise JobError(f"lakeline curate: {source} does not exist (deleted or quarantined since it was validated?)")
    check_validated(head, args.validated_etag, source)
    if ds.timezone is not None:
        check_zone_in_spark(spark, ds)

    if args.target:
        dst_storage, prefix = locate(args.target, args.lake_root)
    else:
        partition = args.partition
        if partition is None:
            folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
            partition = folder[len(ds.key_prefix) :].strip("/") if folder.startswith(ds.key_prefix) else ""
        dst_storage, prefix = src_storage, render_prefix(ds.target_prefix, ds.name, partition)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    stem = output_stem(key)
    run_id = re.sub(r"[^A-Za-z0-9_.-]", "_", args.execution or args.run_key or uuid.uuid4().hex)
    staging = f"{STAGING_PREFIX}{stem}/{run_id}/"
    LOG.info("curating %s (dataset %s, %s, %d bytes) into %s", source, ds.name, ds.format, head.size, dst_storage.uri(prefix))

    if ds.format in ("csv", "tsv"):
        text = read_delimited(spark, ds, src_storage, key, head.etag, source, args.csv_transfer)
        if args.parallelism > 1:
            text = text.repartition(args.parallelism)
        df = curate_text(text, ds, source)
    elif ds.format == "jsonl":
        df = read_jsonl(spark, ds, src_storage.spark_path(key, read=True), source)
    elif ds.format == "parquet":
        df = read_parquet(spark, ds, src_storage.spark_path(key, read=True), source)
    else:
        raise JobError(f"dataset {ds.name} has format {ds.format!r}, which this job does not read")

    if args.table_fields:
        return stage_for_table(spark, args, ds, df, src_storage, key, head, started)

    try:
        parts = write_staged(df, dst_storage, staging, args.max_records_per_file)
        still_validated(src_storage, key, head, source)
    except Exception as e:  # noqa: BLE001 - Spark wraps our raise_error in several layers
        try:
            dst_storage.delete_prefix(staging)
        except Exception:  # noqa: BLE001 - the original failure is the news
            LOG.warning("could not clean %s", dst_storage.uri(staging))
        if isinstance(e, JobError):
            raise
        raise JobError(explain_spark_failure(e, source, ds)) from e
    if not parts:
        raise JobError(f"lakeline curate: {source}: Spark wrote no Parquet file to {dst_storage.uri(staging)}")
    outputs = publish(dst_storage, parts, prefix, stem, extra_stale=[f"{prefix}{stem}.parquet"])
    dst_storage.delete_prefix(staging)
    rows = sum(r for r, _ in read_footers(spark, [dst_storage.spark_path(k) for k in outputs]))
    return {
        "job": "curate",
        "source": source,
        "etag": head.etag,
        "dataset": ds.name,
        "rows": rows,
        "outputs": [dst_storage.uri(k) for k in outputs],
        "seconds": round(time.time() - started, 3),
    }


TABLE_STAGING_PREFIX = STAGING_PREFIX + "tables/"
SOURCE_COLUMN, VERSION_COLUMN, DATE_COLUMN = "_lakeline_source", "_lakeline_version", "_lakeline_date"


def staged_prefix(dataset, raw_key, version):
    """lakeline_core::curate::staged_prefix: where a delivery's data files are staged for the
    commit step, `_lakeline/staging/tables/<dataset>/<stem>/<version, made key-safe>/`."""
    safe = re.sub(r"[^A-Za-z0-9_.=-]", "_", version)
    return f"{TABLE_STAGING_PREFIX}{dataset}/{output_stem(raw_key)}/{safe}/"


def key_date(pattern, key):
    """The `{date}` of `key` under key pattern `pattern` (KeyPattern::matches: a placeholder's
    value runs to the next literal; `{file}` is the rest), or None when the pattern has none."""
    if "{date}" not in pattern:
        return None
    regex = ""
    for part in re.split(r"(\{date\}|\{any\}|\{file\})", pattern):
        if part == "{date}":
            regex += r"(?P<date>\d{4}-\d{2}-\d{2})"
        elif part == "{any}":
            regex += r"[^/]+?"
        elif part == "{file}":
            regex += r"[^/]+"
        else:
            regex += re.escape(part)
    m = re.fullmatch(regex, key)
    if m is None:
        raise JobError(f"lakeline curate: {key} does not match the key pattern {pattern}")
    return dt.date.fromisoformat(m.group("date"))


def table_frame(df, ds, key, version, fields):
    """`df` (the curated columns) as a data file of the dataset's table: the lineage columns of
    one delivery added (lakeline_core::table), and every column carrying the table's field id
    (`parquet.field.id`, which Spark writes into the Parquet schema), so the table reads the
    file by id, as it reads the Lambda's."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    added = [(SOURCE_COLUMN, F.lit(key)), (VERSION_COLUMN, F.lit(version))]
    day = key_date(ds.key_pattern, key)
    if day is not None:
        added.append((DATE_COLUMN, F.lit(day).cast(T.DateType())))
    for name, value in added:
        df = df.withColumn(name, value)
    missing = [f.name for f in df.schema.fields if f.name not in fields]
    if missing:
        raise JobError(f"lakeline curate: the table of dataset {ds.name} has no column {missing[0]!r}: run `lakeline registry push`")
    return df.select([
        col_ref(f.name).alias(f.name, metadata={"parquet.field.id": int(fields[f.name])})
        for f in df.schema.fields
    ])


def stage_for_table(spark, args, ds, df, storage, key, head, started):
    """Table mode: the delivery's data files, written under
    `_lakeline/staging/tables/<dataset>/<stem>/<version>/` (a table bucket refuses the listing
    Hadoop's committers need, so Spark writes to the lake bucket); lakeline's committer copies
    them into the table and commits them as one delivery, exactly once, as it does the
    Lambda's."""
    fields = json.loads(args.table_fields)
    version = args.version or head.etag
    out = table_frame(df, ds, key, version, fields)
    staging = staged_prefix(ds.name, key, version)
    source = storage.uri(key)
    try:
        parts = write_staged(out, storage, staging, args.max_records_per_file)
        still_validated(storage, key, head, source)
    except Exception as e:  # noqa: BLE001 - Spark wraps our raise_error in several layers
        try:
            storage.delete_prefix(staging)
        except Exception:  # noqa: BLE001 - the original failure is the news
            LOG.warning("could not clean %s", storage.uri(staging))
        if isinstance(e, JobError):
            raise
        raise JobError(explain_spark_failure(e, source, ds)) from e
    if not parts:
        raise JobError(f"lakeline curate: {source}: Spark wrote no Parquet file to {storage.uri(staging)}")
    rows = sum(r for r, _ in read_footers(spark, [storage.spark_path(p.key) for p in parts]))
    return {
        "job": "curate",
        "source": source,
        "key": key,
        "version": version,
        "etag": head.etag,
        "dataset": ds.name,
        "rows": rows,
        "staged": [storage.uri(p.key) for p in parts],
        "seconds": round(time.time() - started, 3),
    }


def explain_spark_failure(e, source, ds):
    """The human part of a Spark failure: our own raise_error message when there is one
    (buried in a Java stack trace, and already free of values the dataset does not show), else
    the root cause Spark names last. That cause may quote the data (a cast's input, a malformed
    record), so for a dataset that does not show values only its error class is kept."""
    text = str(e)
    m = re.search(r"lakeline curate: [^\n]*", text)
    if m:
        return m.group(0).split(". SQLSTATE")[0].rstrip()
    causes = [c for c in re.findall(r"\[[A-Z_.]+\][^\n]*", text) if not c.startswith(("[TASK_WRITE_FAILED]", "[MALFORMED_RECORD_IN_PARSING"))]
    first = causes[-1] if causes else (text.strip().splitlines() or [repr(e)])[0]
    if not ds.shows_value(None):
        cls = re.match(r"\[[A-Z_.]+\]", first)
        return (f"lakeline curate: {source}: Spark failed: {cls.group(0) if cls else type(e).__name__} "
                f"(the rest is not shown: dataset {ds.name} has sensitive columns or the lake redacts values; "
                "the job's own log has it)")
    return f"lakeline curate: {source}: Spark failed: {first[:500]}"


def manifest_sources(args):
    """The sources of a batch's manifest (written by start-job, lakeline_core::batch::Manifest):
    `s3://<bucket>/<key>` per file, in the manifest's order."""
    storage, key = locate(args.manifest, args.lake_root)
    raw = storage.get(key)
    if raw is None:
        raise JobError(f"lakeline curate: manifest {args.manifest} does not exist")
    doc = json.loads(raw)
    files = doc.get("files") or []
    if not files:
        raise JobError(f"lakeline curate: manifest {args.manifest} lists no files")
    # The files live where the manifest does (same bucket, or the same local lake root).
    return [(storage.uri(f["key"]), f.get("etag")) for f in files]


def run_all(spark, args):
    """One file, or every file of a batch's manifest (each with the one-file rules, so a batch
    writes exactly what the files' own runs would have). The first failure fails the run: its
    members' executions fail with it and `lakeline rerun` runs them again."""
    if args.manifest is None:
        return run(spark, args)
    summaries = []
    for source, etag in manifest_sources(args):
        one = argparse.Namespace(**vars(args))
        one.source, one.manifest = source, None
        # Each member is its own delivery: its version is the ETag validation judged, and the
        # object must still be that upload.
        one.version = args.version or etag
        one.validated_etag = etag
        summaries.append(run(spark, one))
    return {"job": "curate", "manifest": args.manifest, "files": summaries,
            "rows": sum(s["rows"] for s in summaries)}


def main(argv=None):
    setup_logging()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    spark = spark_session("lakeline-curate")
    try:
        summary = run_all(spark, args)
    except JobError as e:
        LOG.error("%s", e)
        raise
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    return summary


if __name__ == "__main__":
    main()
