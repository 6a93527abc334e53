"""lakeline compact: merges the small curated Parquet files of one partition into a few files
of about the target size, without ever losing or doubling a row.

Why a protocol: a compaction deletes its inputs, and a job can die at any moment (spot loss,
timeout, a bug). So the job writes down what it is about to do before doing it, in a manifest
the Rust compactor writes the same way, and whoever runs next finishes or undoes it:

  group id  first 16 hex of sha256 over the sorted lines "<key>\\t<etag>\\n" of the inputs
            (ETags without quotes, as the Rust side keeps them)
  manifest  _lakeline/compaction/<dataset>/<partition>/<group id>.json in the bucket:
            {"version":1,"dataset","partition","group","inputs":[{"key","etag","size"}],
             "outputs":[keys],"rows_in":N,"state":"writing"|"committed"}
  outputs   <partition prefix>compacted-<group id>-<nnnnn>.parquet

  1. write the manifest, state writing
  2. write the outputs (staged, then copied to their names); rows out must equal rows in
     (summed from the input footers), else roll back (delete outputs and manifest) and fail
  3. rewrite the manifest, state committed: from here on the outputs are the truth
  4. delete every input, conditionally on its ETag (S3 If-Match where boto3 supports it), so a
     file replaced meanwhile by a newer upload survives
  5. delete the manifest

Before planning, every manifest of the partition is recovered: `writing` -> its outputs and the
manifest are deleted (the inputs were never touched); `committed` -> steps 4 and 5 are
finished. Inputs whose schemas differ (names, types, nullability) are refused, naming the files
that differ: merging them would silently null or cast columns.

Arguments (unknown ones, such as Glue's own, are ignored):

  --input s3://b/curated/ds/dt=.../   the partition: its *.parquet files (direct children whose
                                      names do not start with _ or .); also --source,
                                      --lakeline_source (how start-job passes it)
  --inputs k1,k2,...                  or exactly these keys (or URIs), all in one folder
  --output-files N                    files to write (default: ceil(input bytes / target size))
  --target-file-size BYTES            (default: the dataset's compaction.target_file_size)
  --dataset, --partition              (default: from the registry's compaction prefixes)
  --registry path|s3://uri            (start-job passes its registry snapshot, .json; default:
                                      $LAKELINE_REGISTRY, else the bucket's
                                      config/datasets.yaml; used to derive the dataset and the
                                      target size; without one the dataset is the folder after
                                      curated/)
  --lake-root DIR                     local runs: the folder standing in for the bucket

Prints one JSON line with what was done.
"""

import argparse
import math

# ==== lakeline shared: begin ====
# Everything between these markers is identical in jobs/curate.py and jobs/compact.py (a test
# holds them equal). Each job stays one self-contained file because that is what Glue's script
# location and EMR Serverless' entry point take: the registry's compaction job names a single
# `compact.py` and has no place for --py-files.

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

#: Where jobs keep their scratch objects, relative to the bucket. `_` makes every lister of the
#: lake (Spark, Athena, check-compaction) skip it.
LAKELINE_DIR = "_lakeline/"
STAGING_PREFIX = LAKELINE_DIR + "staging/"
COMPACTION_PREFIX = LAKELINE_DIR + "compaction/"

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
    the jobs read files by exactly the rules validation judged them by."""

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
    unknown keys and bad values at deploy time, so this only reads what the jobs need and
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
# in both, so every step of the jobs runs the same code locally and on S3.
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


def same_storage(a, b):
    return type(a) is type(b) and getattr(a, "bucket", None) == getattr(b, "bucket", None) and getattr(a, "root", None) == getattr(b, "root", None)


# ---------------------------------------------------------------------------------------------
# Spark
# ---------------------------------------------------------------------------------------------

#: Session settings both jobs rely on; set at run time, so they hold in Glue's and EMR's
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
    # Conversions yield null on failure and the jobs turn that null into a named error; ANSI
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
    """Applies the settings the jobs rely on to a running session (each run does, so they
    hold whoever made the session)."""
    for k, v in SPARK_SQL_CONF.items():
        spark.conf.set(k, v)
    # No _SUCCESS marker in staging folders: the jobs list staging themselves.
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

    Spark's readers make every column nullable; the footer keeps REQUIRED, so compaction can
    tell and keep it."""
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


# ==== lakeline shared: end ====


# ---------------------------------------------------------------------------------------------
# Compaction
# ---------------------------------------------------------------------------------------------

MANIFEST_VERSION = 1
WRITING = "writing"
COMMITTED = "committed"


def group_id(inputs):
    """First 16 hex chars of sha256 over the sorted `"<key>\\t<etag>\\n"` lines of the inputs:
    the same files in the same versions always make the same group."""
    lines = sorted(f"{o.key}\t{o.etag}\n" for o in inputs)
    return sha256_hex("".join(lines))[:16]


def manifest_key(dataset, partition, group):
    return re.sub(r"/{2,}", "/", f"{COMPACTION_PREFIX}{dataset}/{partition}/{group}.json")


def manifest_folder(dataset, partition):
    return re.sub(r"/{2,}", "/", f"{COMPACTION_PREFIX}{dataset}/{partition}/")


def output_stem(group):
    return f"compacted-{group}"


def is_input_name(name):
    """A data file of the partition (lakeline_core::compaction::is_data_file, and Parquet)."""
    return bool(name) and not name.startswith(("_", ".")) and name.endswith(".parquet")


@dataclass
class Partition:
    """What one run works on."""

    storage: object
    prefix: str  # the partition folder, bucket-relative, ending in /
    dataset: str
    partition: str
    target_file_size: int
    registry_dataset: object = None  # Dataset, when the registry is known

    def uri(self, key):
        return self.storage.uri(key)


@dataclass
class Plan:
    manifest: dict
    schema: object  # Spark StructType shared by the inputs (nullability from their footers)
    output_files: int

    @property
    def key(self):
        m = self.manifest
        return manifest_key(m["dataset"], m["partition"], m["group"])


def list_inputs(part):
    return [o for o in part.storage.list(part.prefix, recursive=False) if "/" not in o.key[len(part.prefix):] and is_input_name(o.key[len(part.prefix):])]


def _describe(schema):
    return "[" + ", ".join(f"{f.name}: {f.dataType.simpleString()}{'' if f.nullable else ' not null'}" for f in schema.fields) + "]"


def check_schemas(part, inputs, footers):
    """The schema every input shares, or a JobError naming the inputs that differ from the
    rest (from the registry's schema when one group matches it, else from the majority)."""
    groups = {}
    for o, (_, schema) in zip(inputs, footers):
        sig = tuple((f.name, f.dataType.simpleString(), f.nullable) for f in schema.fields)
        groups.setdefault(sig, []).append((o, schema))
    if len(groups) == 1:
        return next(iter(groups.values()))[0][1]
    reference = None
    if part.registry_dataset is not None:
        want = tuple((f.name, f.dataType.simpleString(), f.nullable) for f in curated_schema(part.registry_dataset).fields)
        if want in groups:
            reference = want
    if reference is None:
        reference = max(groups, key=lambda s: (len(groups[s]), -min(inputs.index(o) for o, _ in groups[s])))
    ref_schema = groups[reference][0][1]
    odd = [(o, s) for sig, members in groups.items() if sig != reference for o, s in members]
    shown = "; ".join(f"{part.uri(o.key)} has {_describe(s)}" for o, s in odd[:5])
    more = f" (and {len(odd) - 5} more)" if len(odd) > 5 else ""
    raise JobError(
        f"lakeline compact: {part.uri(part.prefix)}: schema drift, refusing to merge: {shown}{more}; "
        f"the other {len(groups[reference])} inputs have {_describe(ref_schema)}"
    )


def plan(spark, part, inputs, output_files=None):
    """The manifest of a compaction of `inputs` (state writing, not yet written), after
    checking that they share one schema and counting their rows from the footers."""
    footers = read_footers(spark, [part.storage.spark_path(o.key) for o in inputs])
    schema = check_schemas(part, inputs, footers)
    rows_in = sum(r for r, _ in footers)
    total = sum(o.size for o in inputs)
    n = int(output_files) if output_files else max(1, math.ceil(total / part.target_file_size))
    n = max(1, min(n, rows_in)) if rows_in else 1
    group = group_id(inputs)
    manifest = {
        "version": MANIFEST_VERSION,
        "dataset": part.dataset,
        "partition": part.partition,
        "group": group,
        "inputs": [{"key": o.key, "etag": o.etag, "size": o.size} for o in inputs],
        "outputs": [numbered_key(part.prefix, output_stem(group), i) for i in range(n)],
        "rows_in": rows_in,
        "state": WRITING,
    }
    return Plan(manifest, schema, n)


def write_manifest(part, manifest):
    key = manifest_key(manifest["dataset"], manifest["partition"], manifest["group"])
    part.storage.put(key, json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
    return key


def step_begin(part, p):
    """Step 1: the manifest, state writing."""
    p.manifest["state"] = WRITING
    write_manifest(part, p.manifest)


def _staging(group):
    return f"{STAGING_PREFIX}{output_stem(group)}/"


def step_write(spark, part, p):
    """Step 2: the outputs, then rows out == rows in (from the written footers), else roll
    back and fail. Returns the output keys (also put into the manifest)."""
    m = p.manifest
    paths = [part.storage.spark_path(i["key"], read=True) for i in m["inputs"]]
    from pyspark.sql import functions as F

    df = spark.read.schema(p.schema).parquet(*paths)
    cols = []
    for f in p.schema.fields:
        c = F.col(f"`{f.name}`")
        if f.nullable:
            cols.append(c)
        else:
            msg = f"lakeline compact: {part.uri(part.prefix)}: required column {f.name} holds a null"
            cols.append(not_null(c, f.name, type_default(f.dataType), msg))
    df = df.select(*cols).repartition(p.output_files)
    staging = _staging(m["group"])
    try:
        parts = write_staged(df, part.storage, staging)
        outputs = publish(part.storage, parts, part.prefix, output_stem(m["group"]))
        rows_out = sum(r for r, _ in read_footers(spark, [part.storage.spark_path(k) for k in outputs]))
    except Exception as e:
        rollback(part, m)
        if isinstance(e, JobError):
            raise
        raise JobError(f"lakeline compact: {part.uri(part.prefix)}: writing group {m['group']} failed and was rolled back: {str(e).strip().splitlines()[0][:500]}") from e
    part.storage.delete_prefix(staging)
    m["outputs"] = outputs
    if rows_out != m["rows_in"]:
        rollback(part, m)
        raise JobError(
            f"lakeline compact: {part.uri(part.prefix)}: group {m['group']} wrote {rows_out} rows from {m['rows_in']} input rows; rolled back, inputs untouched"
        )
    return outputs


def step_commit(part, p):
    """Step 3: from here on the outputs are the data and the inputs are garbage."""
    p.manifest["state"] = COMMITTED
    write_manifest(part, p.manifest)


def step_delete_inputs(part, manifest):
    """Step 4: each input, only while it is the version compacted. Returns the keys kept
    because a newer upload replaced them."""
    kept = []
    for i in manifest["inputs"]:
        if not part.storage.delete(i["key"], if_match=i["etag"]):
            LOG.warning("kept %s: it changed since it was compacted (a newer file under the same name)", part.uri(i["key"]))
            kept.append(i["key"])
    return kept


def step_finish(part, manifest):
    """Step 5."""
    part.storage.delete_prefix(_staging(manifest["group"]))
    part.storage.delete(manifest_key(manifest["dataset"], manifest["partition"], manifest["group"]))


def rollback(part, manifest):
    """Undoes an uncommitted group: its outputs (listed, and any other part of the same group
    a crashed run may have copied), its staging folder, then the manifest."""
    stem = output_stem(manifest["group"])
    keys = set(manifest.get("outputs", []))
    pattern = re.compile(re.escape(part.prefix + stem) + r"-\d{5,}\.parquet$")
    keys.update(o.key for o in part.storage.list(part.prefix + stem, recursive=False) if pattern.fullmatch(o.key))
    for k in sorted(keys):
        part.storage.delete(k)
    part.storage.delete_prefix(_staging(manifest["group"]))
    part.storage.delete(manifest_key(manifest["dataset"], manifest["partition"], manifest["group"]))


def recover(part):
    """Finishes or undoes every compaction of the partition a previous run left behind.
    Returns [(group, what was done)]."""
    done = []
    for o in part.storage.list(manifest_folder(part.dataset, part.partition), recursive=False):
        if not o.key.endswith(".json"):
            continue
        data = part.storage.get(o.key)
        if data is None:
            continue
        try:
            m = json.loads(data)
        except ValueError as e:
            raise JobError(f"lakeline compact: manifest {part.uri(o.key)} is not JSON ({e}); inspect it by hand") from e
        if m.get("version") != MANIFEST_VERSION:
            raise JobError(f"lakeline compact: manifest {part.uri(o.key)} has version {m.get('version')!r}; this job reads version {MANIFEST_VERSION}")
        if m.get("state") == COMMITTED:
            kept = step_delete_inputs(part, m)
            step_finish(part, m)
            done.append((m["group"], "finished" + (f" (kept {len(kept)} replaced inputs)" if kept else "")))
        elif m.get("state") == WRITING:
            rollback(part, m)
            done.append((m["group"], "rolled back"))
        else:
            raise JobError(f"lakeline compact: manifest {part.uri(o.key)} has unknown state {m.get('state')!r}")
        LOG.info("recovered compaction group %s of %s: %s", m["group"], part.uri(part.prefix), done[-1][1])
    return done


def parse_args(argv):
    p = argparse.ArgumentParser(prog="compact.py", description="lakeline compact (Spark)", allow_abbrev=False)
    p.add_argument("--input", "--source", "--lakeline_source", dest="input")
    p.add_argument("--inputs", dest="inputs", help="comma-separated keys or URIs, all in one folder")
    p.add_argument("--target", "--lakeline_target", dest="target", help="accepted for start-job; must be the input folder")
    p.add_argument("--output-files", dest="output_files", type=int)
    p.add_argument("--target-file-size", dest="target_file_size")
    p.add_argument("--dataset", "--lakeline_dataset", dest="dataset")
    p.add_argument("--partition", "--lakeline_partition", dest="partition")
    p.add_argument("--registry", "--lakeline_registry", dest="registry", default=os.environ.get("LAKELINE_REGISTRY"))
    p.add_argument("--lake-root", dest="lake_root")
    args, unknown = p.parse_known_args(argv)
    if unknown:
        LOG.info("ignoring arguments not meant for this job: %s", " ".join(unknown))
    if not args.input and not args.inputs:
        p.error("pass --input (the partition folder) or --inputs")
    return args


def resolve(args):
    """The partition and the inputs named by the arguments (inputs None: list the folder)."""
    explicit = None
    if args.inputs:
        base_storage, base_key = locate(args.input or args.target, args.lake_root) if (args.input or args.target) else (None, None)
        explicit = []
        for item in [s.strip() for s in args.inputs.split(",") if s.strip()]:
            if "://" in item or os.path.isabs(item):
                st, key = locate(item, args.lake_root)
            elif base_storage is not None:
                st, key = base_storage, item
            else:
                raise JobError(f"--inputs names the key {item!r} without a bucket: pass URIs or --input")
            if base_storage is not None and not same_storage(st, base_storage):
                raise JobError("--inputs must all be in the bucket of --input")
            base_storage = st
            explicit.append(key)
        folders = {k.rsplit("/", 1)[0] + "/" for k in explicit}
        if len(folders) != 1:
            raise JobError(f"--inputs must all be in one partition folder, not {sorted(folders)}")
        storage, prefix = base_storage, folders.pop()
    else:
        storage, prefix = locate(args.input, args.lake_root)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
    ds = None
    dataset, partition = args.dataset, args.partition
    location = registry_location(args.registry, storage)
    reg = None
    if location:
        try:
            reg = load_registry(location)
        except JobError:
            if args.registry:
                raise
            LOG.warning("no registry at %s: the dataset comes from the arguments or the folder name", location)
    if reg is not None:
        if dataset:
            ds = dataset_from_registry(reg, dataset)
        else:
            owners = [dataset_from_registry(reg, n) for n in reg["datasets"]]
            owners = [d for d in owners if prefix.startswith(d.compaction_prefix)]
            if owners:
                ds = max(owners, key=lambda d: len(d.compaction_prefix))
                dataset = ds.name
    if not dataset:
        m = re.match(r"^curated/([^/]+)/", prefix)
        dataset = m.group(1) if m else None
    if not dataset:
        raise JobError(f"cannot tell the dataset of {storage.uri(prefix)}: pass --dataset (or --registry)")
    if partition is None:
        base = ds.compaction_prefix if ds is not None else f"curated/{dataset}/"
        partition = prefix[len(base):].strip("/") if prefix.startswith(base) else prefix.rstrip("/").rsplit("/", 1)[-1]
    size = args.target_file_size
    target = parse_size(size) if size else (ds.target_file_size if ds is not None else 128 << 20)
    part = Partition(storage, prefix, dataset, partition, target, ds)
    return part, explicit


def run(spark, args):
    """One compaction of one partition; returns the summary printed by main."""
    started = time.time()
    configure(spark)
    part, explicit = resolve(args)
    recovered = recover(part)
    if explicit is None:
        inputs = list_inputs(part)
    else:
        inputs = []
        for key in explicit:
            o = part.storage.head(key)
            if o is None:
                raise JobError(f"lakeline compact: input {part.uri(key)} does not exist")
            inputs.append(o)
    summary = {
        "job": "compact",
        "partition": part.uri(part.prefix),
        "dataset": part.dataset,
        "recovered": [f"{g}: {what}" for g, what in recovered],
        "inputs": len(inputs),
    }
    if len(inputs) < 2:
        return {**summary, "done": "nothing to merge", "outputs": [], "seconds": round(time.time() - started, 3)}
    p = plan(spark, part, inputs, args.output_files)
    if p.output_files >= len(inputs):
        return {**summary, "done": f"nothing to merge: {len(inputs)} files would become {p.output_files}", "outputs": [], "seconds": round(time.time() - started, 3)}
    LOG.info("compacting %d files (%d bytes, %d rows) of %s into %d: group %s", len(inputs), sum(o.size for o in inputs), p.manifest["rows_in"], part.uri(part.prefix), p.output_files, p.manifest["group"])
    step_begin(part, p)
    outputs = step_write(spark, part, p)
    step_commit(part, p)
    kept = step_delete_inputs(part, p.manifest)
    step_finish(part, p.manifest)
    return {
        **summary,
        "done": "compacted",
        "group": p.manifest["group"],
        "rows": p.manifest["rows_in"],
        "outputs": [part.uri(k) for k in outputs],
        "kept_replaced_inputs": [part.uri(k) for k in kept],
        "seconds": round(time.time() - started, 3),
    }


def main(argv=None):
    setup_logging()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    spark = spark_session("lakeline-compact")
    try:
        summary = run(spark, args)
    except JobError as e:
        LOG.error("%s", e)
        raise
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    return summary


if __name__ == "__main__":
    main()
