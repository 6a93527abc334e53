//! Data-quality rules beyond types, as the registry declares them: per column `allowed`,
//! `min`/`max`, `pattern`, `length`, `unique`; per dataset `rows`, `unique_key`,
//! `partition_freshness` and the bound on distinct keys uniqueness tracks.
//!
//! Everything is resolved once, at registry load: bounds are parsed into the column's type,
//! patterns compiled, and a rule that makes no sense for its column's type is refused there
//! (naming the dataset, the column and the field), never discovered while a file is read. The
//! per-file checks live in `validate::rules`.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::types::ColumnType;
use crate::types::{
    parse_date, parse_decimal, parse_float, parse_int, parse_timestamp, DecimalError,
};

/// Distinct keys one uniqueness rule tracks per file by default: the most a hash table of
/// 2 Mi slots holds (7/8 of them), 17 bytes a slot, so at most 34 MiB per rule (51 MiB for the
/// instant the table grows into it). Raise it per dataset with `max_unique_keys`.
pub const DEFAULT_MAX_UNIQUE_KEYS: u64 = 1_835_008;

/// The largest `max_unique_keys` accepted: 2^27 keys (a 2 GiB table at worst); beyond that a
/// Lambda cannot hold the set, and the file should be checked in Spark.
pub const MAX_UNIQUE_KEYS_LIMIT: u64 = 1 << 27;

/// A scalar as written in the registry YAML.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Scalar {
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A number with a fraction or exponent.
    Float(f64),
    /// Text (dates and timestamps are text in YAML 1.2).
    Text(String),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Text(s) => f.write_str(s),
        }
    }
}

impl Scalar {
    /// The scalar as the text a file would hold.
    fn text(&self) -> String {
        self.to_string()
    }
}

/// `length: {min, max}` in characters (Unicode scalar values), both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LengthBounds {
    /// Fewest characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    /// Most characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
}

/// `rows: {min, max}`: data rows per file (header not counted), both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RowBounds {
    /// Fewest rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    /// Most rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
}

/// `partition_freshness: {max_age_days: N}`: the key's `{date}` is neither after today nor more
/// than N days before it (UTC). Judged on arrival only, against "today" given by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Freshness {
    /// Oldest accepted partition, in days before today (0: only today).
    pub max_age_days: u32,
}

/// A bound resolved into the column's type, with the text the registry gave (for messages).
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// The value in the column's domain.
    pub value: Num,
    /// As written in the registry.
    pub text: String,
}

/// A comparable value of a column: the domain `min`/`max` work in.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub enum Num {
    /// int.
    Int(i64),
    /// float (never NaN in a bound).
    Float(f64),
    /// date: days since 1970-01-01.
    Date(i32),
    /// timestamp: microseconds since the epoch, UTC.
    Timestamp(i64),
    /// decimal: the unscaled value at the column's scale (exact).
    Decimal(i128),
}

/// `allowed`, resolved into the column's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Allowed {
    /// A string column's values, exactly (no trimming, case-sensitive).
    Text(TextSet),
    /// An int column's values, as numbers (`007` is 7).
    Int(HashSet<i64>),
    /// A decimal column's values, unscaled at its scale (`1.5` is `1.50`).
    Decimal(HashSet<i128>),
}

/// A set of strings checked once per row: the typical `allowed` list (a few short codes) is
/// a perfect hash of integers, which beats hashing or comparing strings; a long list is hashed.
#[derive(Debug, Clone, PartialEq)]
pub enum TextSet {
    /// Up to [`TextSet::SMALL_MAX`] values: those of at most 7 bytes packed ([`pack`]) in a
    /// [`PackedSet`], the others as text (scanned).
    Small(PackedSet, Vec<Box<str>>),
    /// More.
    Large(HashSet<String>),
}

/// Packed strings ([`pack`]) in a table where each has a slot of its own, found by one
/// multiply and shift (a perfect hash, chosen when the set is built): a lookup is one
/// comparison, where a scan of eleven currencies took a dozen.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedSet {
    mul: u64,
    shift: u32,
    /// [`PackedSet::EMPTY`] where no value hashes.
    slots: Box<[u64]>,
}

impl PackedSet {
    /// No packed string: its length byte would be 0xff.
    const EMPTY: u64 = u64::MAX;

    /// A table for `values` with no two in one slot, if one of 2^(⌈log2 n⌉+1) to 2^16
    /// slots and a few hundred multipliers gives one (for up to [`TextSet::SMALL_MAX`]
    /// values, the first few tries do).
    fn new(values: &[u64]) -> Option<PackedSet> {
        let need = values.len().max(1).next_power_of_two().trailing_zeros() + 1;
        // Multipliers from splitmix64 on a fixed seed: a registry loads the same way every
        // time.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) | 1
        };
        for bits in need..=16 {
            for _ in 0..64 {
                let mut set = PackedSet {
                    mul: next(),
                    shift: 64 - bits,
                    slots: vec![Self::EMPTY; 1 << bits].into_boxed_slice(),
                };
                let placed = values.iter().all(|&v| {
                    let i = set.slot(v);
                    let free = set.slots[i] == Self::EMPTY || set.slots[i] == v;
                    set.slots[i] = v;
                    free
                });
                if placed {
                    return Some(set);
                }
            }
        }
        None
    }

    #[inline]
    fn slot(&self, v: u64) -> usize {
        (v.wrapping_mul(self.mul) >> self.shift) as usize
    }

    #[inline]
    fn contains(&self, v: u64) -> bool {
        self.slots[self.slot(v)] == v
    }

    fn values(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots.iter().copied().filter(|&v| v != Self::EMPTY)
    }
}

/// A string of at most 7 bytes as one integer (its bytes and its length): equal integers,
/// equal strings.
#[inline]
fn pack(s: &[u8]) -> Option<u64> {
    if s.len() > 7 {
        return None;
    }
    Some(crate::types::load_word(s)? | (s.len() as u64) << 56)
}

impl TextSet {
    /// Sets up to this size are [`TextSet::Small`].
    pub const SMALL_MAX: usize = 32;

    fn new(values: HashSet<String>) -> TextSet {
        if values.len() <= Self::SMALL_MAX {
            let (mut short, mut long) = (Vec::new(), Vec::new());
            for v in &values {
                match pack(v.as_bytes()) {
                    Some(p) => short.push(p),
                    None => long.push(v.clone().into_boxed_str()),
                }
            }
            long.sort();
            if let Some(packed) = PackedSet::new(&short) {
                return TextSet::Small(packed, long);
            }
        }
        TextSet::Large(values)
    }

    /// Whether `s` is in the set.
    #[inline]
    pub fn contains(&self, s: &str) -> bool {
        self.contains_bytes(s.as_bytes())
    }

    /// Whether the text whose UTF-8 bytes are `b` is in the set (bytes that are not UTF-8
    /// are in no set).
    #[inline]
    pub fn contains_bytes(&self, b: &[u8]) -> bool {
        match self {
            TextSet::Small(short, long) => match pack(b) {
                Some(p) => short.contains(p),
                None => long.iter().any(|x| x.as_bytes() == b),
            },
            TextSet::Large(h) => std::str::from_utf8(b).is_ok_and(|s| h.contains(s)),
        }
    }

    /// The values, sorted (for messages).
    pub fn sorted(&self) -> Vec<String> {
        let mut v: Vec<String> = match self {
            TextSet::Small(short, long) => short
                .values()
                .map(|p| {
                    let b = p.to_le_bytes();
                    String::from_utf8_lossy(&b[..usize::from(b[7])]).into_owned()
                })
                .chain(long.iter().map(|s| s.to_string()))
                .collect(),
            TextSet::Large(h) => h.iter().cloned().collect(),
        };
        v.sort();
        v
    }
}

/// A `pattern`, compiled once at load.
///
/// The whole value must match: the pattern is compiled as `\A(?:PATTERN)\z`, so `^`/`$` are
/// implied and a value with a line break matches only when the pattern itself allows one (`.`
/// never matches `\n` unless the pattern says `(?s)`). The `regex` crate guarantees search time
/// linear in the value; the compiled program is capped at [`Pattern::SIZE_LIMIT`].
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    re: regex::Regex,
    /// The same pattern as a full DFA when it is small enough (at most
    /// [`Pattern::DFA_LIMIT`]) and has no Unicode word boundary: a match of a short value is
    /// then a tight loop over its bytes.
    dfa: Option<(
        regex_automata::dfa::dense::DFA<Vec<u32>>,
        regex_automata::util::primitives::StateID,
    )>,
    /// The pattern as a byte table, when it is one ASCII class repeated.
    class_run: Option<ClassRun>,
}

/// A pattern that is one ASCII-only class repeated (`[A-Z]{3}`, `[a-z0-9_]+`,
/// `[A-Za-z0-9 ,.'&-]+`), the commonest shape of a column pattern: a value matches when
/// every byte is in the class and their count is within the repetition. No character of the
/// class takes more than one byte, so bytes are characters, and any other byte (a part of a
/// multi-byte character too) fails the table.
#[derive(Debug, Clone)]
struct ClassRun {
    table: [bool; 256],
    min: usize,
    max: usize,
}

impl ClassRun {
    fn of(text: &str) -> Option<ClassRun> {
        use regex_syntax::hir::{Class, HirKind};
        let hir = regex_syntax::Parser::new().parse(text).ok()?;
        let (sub, min, max) = match hir.kind() {
            HirKind::Repetition(r) => (&*r.sub, r.min, r.max),
            HirKind::Class(_) => (&hir, 1, Some(1)),
            _ => return None,
        };
        let HirKind::Class(class) = sub.kind() else {
            return None;
        };
        let ranges: Vec<(u32, u32)> = match class {
            Class::Unicode(c) => c
                .ranges()
                .iter()
                .map(|r| (u32::from(r.start()), u32::from(r.end())))
                .collect(),
            Class::Bytes(c) => c
                .ranges()
                .iter()
                .map(|r| (u32::from(r.start()), u32::from(r.end())))
                .collect(),
        };
        if ranges.iter().any(|&(_, end)| end > 0x7f) {
            return None;
        }
        let mut table = [false; 256];
        for (lo, hi) in ranges {
            for b in lo..=hi {
                table[b as usize] = true;
            }
        }
        Some(ClassRun {
            table,
            min: usize::try_from(min).ok()?,
            max: max.map_or(Some(usize::MAX), |m| usize::try_from(m).ok())?,
        })
    }

    #[inline]
    fn matches(&self, v: &[u8]) -> bool {
        let t = &self.table;
        // Eight bytes a step with no branch between them: a branch per byte cost seven
        // instructions a byte.
        let mut chunks = v.chunks_exact(8);
        let mut ok = true;
        for c in &mut chunks {
            ok &= c.iter().fold(true, |ok, &b| ok & t[usize::from(b)]);
        }
        for &b in chunks.remainder() {
            ok &= t[usize::from(b)];
        }
        ok && self.min <= v.len() && v.len() <= self.max
    }
}

impl Pattern {
    /// The most memory one compiled pattern may take: a registry cannot make every function
    /// allocate without limit at cold start.
    pub const SIZE_LIMIT: usize = 1 << 20;

    /// The most memory a pattern's full DFA may take; larger ones use the regex engine alone.
    pub const DFA_LIMIT: usize = 256 << 10;

    /// Compiles `text` with whole-value semantics.
    pub fn new(text: &str) -> Result<Pattern, String> {
        let anchored = format!(r"\A(?:{text})\z");
        let re = regex::RegexBuilder::new(&anchored)
            .size_limit(Self::SIZE_LIMIT)
            .build()
            .map_err(|e| format!("invalid regular expression {text:?}: {e}"))?;
        use regex_automata::dfa::{dense, StartKind};
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Anchored)
                    .dfa_size_limit(Some(Self::DFA_LIMIT))
                    .determinize_size_limit(Some(Self::DFA_LIMIT)),
            )
            .build(&anchored)
            .ok()
            .and_then(|dfa| {
                use regex_automata::dfa::Automaton;
                use regex_automata::util::start;
                // A whole value is a whole haystack: the start state of "at the beginning".
                let config = start::Config::new().anchored(regex_automata::Anchored::Yes);
                let s = dfa.start_state(&config).ok()?;
                Some((dfa, s))
            });
        Ok(Pattern {
            text: text.to_string(),
            re,
            dfa,
            class_run: ClassRun::of(text),
        })
    }

    /// Whether the whole value matches.
    #[inline]
    pub fn matches(&self, v: &str) -> bool {
        self.matches_bytes(v.as_bytes())
    }

    /// Whether the whole value matches, given as the bytes of valid UTF-8.
    ///
    /// With a DFA this is one table step per byte: a value is short, and a search's setup
    /// (`try_search_fwd`) cost more than the walk itself.
    #[inline]
    pub fn matches_bytes(&self, v: &[u8]) -> bool {
        use regex_automata::dfa::Automaton;
        if let Some(run) = &self.class_run {
            return run.matches(v);
        }
        if let Some((dfa, start)) = &self.dfa {
            let mut s = *start;
            let mut walked = true;
            for &b in v {
                s = dfa.next_state(s, b);
                if dfa.is_special_state(s) {
                    if dfa.is_dead_state(s) {
                        return false;
                    }
                    if dfa.is_quit_state(s) {
                        walked = false;
                        break;
                    }
                }
            }
            if walked {
                // Match states come one step late: the end-of-input step decides. `\z` ends
                // every match at the value's end, so a match is a whole-value match.
                return dfa.is_match_state(dfa.next_eoi_state(s));
            }
        }
        std::str::from_utf8(v).is_ok_and(|s| self.re.is_match(s))
    }

    /// The pattern as the registry wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.text == other.text
    }
}

/// The rules of one column, resolved into its type.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ColumnRules {
    /// The set of accepted values (string and int columns).
    pub allowed: Option<Allowed>,
    /// Smallest accepted value (int, float, date, timestamp).
    pub min: Option<Bound>,
    /// Largest accepted value (int, float, date, timestamp).
    pub max: Option<Bound>,
    /// A regular expression the whole value matches (string columns).
    pub pattern: Option<Pattern>,
    /// Length in characters (string columns).
    pub length: Option<LengthBounds>,
    /// No two non-null values alike in one file.
    pub unique: bool,
}

impl ColumnRules {
    /// Why the text `v` may not be a value of a column of type `ty` with these rules (a
    /// timestamp without an offset read in `zone`): the first problem, or `None`. For what
    /// the registry itself declares, such as a column's `default`, checked once at load; the
    /// per-row checks are `validate::rules`' (its rule tables hold the two to the same
    /// verdicts).
    pub fn refusal(
        &self,
        ty: ColumnType,
        zone: Option<&crate::types::Zone>,
        v: &str,
    ) -> Option<String> {
        let b = v.as_bytes();
        if !ty.accepts(b) {
            return Some(ty.refusal(b));
        }
        let num = match ty {
            ColumnType::Int => parse_int(b).map(Num::Int),
            ColumnType::Float => parse_float(b).map(Num::Float),
            ColumnType::Date => parse_date(b).map(Num::Date),
            ColumnType::Decimal { precision, scale } => {
                parse_decimal(b, precision, scale).ok().map(Num::Decimal)
            }
            ColumnType::Timestamp => match crate::types::parse_timestamp_in(b, zone) {
                Err(e) => return zone.map(|z| e.describe(z)),
                Ok(t) => t.map(Num::Timestamp),
            },
            _ => None,
        };
        let allowed = match (&self.allowed, num) {
            (Some(Allowed::Text(set)), _) => set.contains(v),
            (Some(Allowed::Int(set)), Some(Num::Int(i))) => set.contains(&i),
            (Some(Allowed::Decimal(set)), Some(Num::Decimal(d))) => set.contains(&d),
            _ => true,
        };
        if !allowed {
            return Some("not one of the allowed values".into());
        }
        if let Some(n) = num {
            if let Some(lo) = self.min.as_ref().filter(|b| n < b.value) {
                return Some(format!("below the minimum (min {})", lo.text));
            }
            if let Some(hi) = self.max.as_ref().filter(|b| n > b.value) {
                return Some(format!("above the maximum (max {})", hi.text));
            }
        }
        if let Some(p) = self.pattern.as_ref().filter(|p| !p.matches(v)) {
            return Some(format!(
                "does not match the pattern {:?} (the whole value must match)",
                p.as_str()
            ));
        }
        if let Some(l) = self.length {
            let n = v.chars().count() as u64;
            if l.min.is_some_and(|m| n < m) || l.max.is_some_and(|m| n > m) {
                return Some(format!("{n} characters outside the allowed length"));
            }
        }
        None
    }

    /// Whether any value rule (everything but `unique`) is set.
    pub fn has_value_rules(&self) -> bool {
        self.allowed.is_some()
            || self.min.is_some()
            || self.max.is_some()
            || self.pattern.is_some()
            || self.length.is_some()
    }
}

/// The rule fields of a column as written in the registry (the serialised form).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
pub struct RuleSpec {
    /// `allowed: [a, b, …]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<Scalar>>,
    /// `min: …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Scalar>,
    /// `max: …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Scalar>,
    /// `pattern: "…"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `length: {min, max}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<LengthBounds>,
    /// `unique: true`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unique: bool,
    /// `default: value` (kept with the rules so the registry serialises as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Scalar>,
}

/// Resolves a column's rule fields against its type. `Err` names the field and says why.
pub fn resolve(ty: ColumnType, spec: &RuleSpec) -> Result<ColumnRules, String> {
    let t = ty.as_str();
    if ty == ColumnType::Json && spec.unique {
        return Err(
            "unique: does not apply to json columns (their text is not a value to compare)".into(),
        );
    }
    let mut out = ColumnRules {
        unique: spec.unique,
        ..ColumnRules::default()
    };
    if let Some(values) = &spec.allowed {
        if values.is_empty() {
            return Err("allowed: give at least one value".into());
        }
        out.allowed = Some(match ty {
            ColumnType::String => {
                Allowed::Text(TextSet::new(values.iter().map(Scalar::text).collect()))
            }
            ColumnType::Int => Allowed::Int(
                values
                    .iter()
                    .map(|v| match v {
                        Scalar::Int(i) => Ok(*i),
                        Scalar::Text(s) => parse_int(s.as_bytes())
                            .ok_or_else(|| format!("allowed: {s:?} is not an int")),
                        other => Err(format!("allowed: {other} is not an int")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            ColumnType::Decimal { precision, scale } => Allowed::Decimal(
                values
                    .iter()
                    .map(|v| {
                        decimal_scalar(v, precision, scale)
                            .map_err(|e| format!("allowed: {v}: {}", e.describe(ty)))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => {
                return Err(format!(
                    "allowed: applies to string, int and decimal columns, not {t} (use min/max for ranges)"
                ))
            }
        });
    }
    for (field, v, slot) in [
        ("min", &spec.min, &mut out.min),
        ("max", &spec.max, &mut out.max),
    ] {
        if let Some(v) = v {
            *slot = Some(bound(ty, field, v)?);
        }
    }
    if let (Some(lo), Some(hi)) = (&out.min, &out.max) {
        if lo.value > hi.value {
            return Err(format!("min {} is above max {}", lo.text, hi.text));
        }
    }
    if let Some(p) = &spec.pattern {
        if ty != ColumnType::String {
            return Err(format!(
                "pattern: applies to string columns, not {t} (the type already fixes its syntax)"
            ));
        }
        out.pattern = Some(Pattern::new(p).map_err(|e| format!("pattern: {e}"))?);
    }
    if let Some(l) = spec.length {
        if ty != ColumnType::String {
            return Err(format!("length: applies to string columns, not {t}"));
        }
        if l.min.is_none() && l.max.is_none() {
            return Err("length: give min, max or both".into());
        }
        if let (Some(lo), Some(hi)) = (l.min, l.max) {
            if lo > hi {
                return Err(format!("length: min {lo} is above max {hi}"));
            }
        }
        out.length = Some(l);
    }
    Ok(out)
}

/// A registry scalar as an unscaled decimal: YAML reads `0.01` as a float, whose shortest text
/// is what was written, so it is taken by that text, never by its binary value.
fn decimal_scalar(v: &Scalar, precision: u8, scale: u8) -> Result<i128, DecimalError> {
    match v {
        Scalar::Bool(_) => Err(DecimalError::Syntax),
        Scalar::Float(x) if !x.is_finite() => Err(DecimalError::Syntax),
        other => parse_decimal(other.text().as_bytes(), precision, scale),
    }
}

/// A `min`/`max` scalar in the column's domain.
fn bound(ty: ColumnType, field: &str, v: &Scalar) -> Result<Bound, String> {
    let text = v.text();
    let value = match (ty, v) {
        (ColumnType::Int, Scalar::Int(i)) => Some(Num::Int(*i)),
        (ColumnType::Int, Scalar::Text(s)) => parse_int(s.as_bytes()).map(Num::Int),
        (ColumnType::Float, Scalar::Int(i)) => Some(Num::Float(*i as f64)),
        (ColumnType::Float, Scalar::Float(x)) => Some(Num::Float(*x)),
        (ColumnType::Float, Scalar::Text(s)) => parse_float(s.as_bytes()).map(Num::Float),
        (ColumnType::Date, Scalar::Text(s)) => parse_date(s.as_bytes()).map(Num::Date),
        (ColumnType::Timestamp, Scalar::Text(s)) => {
            if crate::types::is_timestamp(s.as_bytes()) {
                parse_timestamp(s.as_bytes()).map(Num::Timestamp)
            } else {
                None
            }
        }
        (ColumnType::Decimal { precision, scale }, v) => Some(Num::Decimal(
            decimal_scalar(v, precision, scale)
                .map_err(|e| format!("{field}: {text}: {}", e.describe(ty)))?,
        )),
        (ColumnType::String | ColumnType::Bool | ColumnType::Json, _) => {
            return Err(format!(
                "{field}: applies to int, float, decimal, date and timestamp columns, not {} (use length or allowed)",
                ty.as_str()
            ))
        }
        _ => None,
    };
    match value {
        Some(Num::Float(x)) if x.is_nan() => Err(format!("{field}: NaN is not a bound")),
        Some(value) => Ok(Bound { value, text }),
        None => Err(format!("{field}: {text:?} is not a valid {}", ty.as_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> RuleSpec {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn rules_that_fit_their_type_resolve() {
        use ColumnType::*;
        let cases: &[(ColumnType, &str)] = &[
            (String, "{allowed: [EUR, USD, 1]}"),
            (Int, "{allowed: [1, 2, \"3\"]}"),
            (Int, "{min: 0, max: 10}"),
            (Int, "{min: -5, max: -5}"),
            (Float, "{min: 0, max: 1.5e3}"),
            (Float, "{min: \"-inf\"}"),
            (Date, "{min: 2020-01-01, max: \"2030-12-31\"}"),
            (
                Timestamp,
                "{min: \"2020-01-01T00:00:00Z\", max: \"2030-01-01 00:00+01:00\"}",
            ),
            (
                String,
                "{pattern: \"[A-Z]{3}-[0-9]+\", length: {min: 1, max: 40}}",
            ),
            (String, "{length: {max: 3}}"),
            (Bool, "{unique: true}"),
            (Float, "{unique: true}"),
        ];
        for (ty, yaml) in cases {
            resolve(*ty, &spec(yaml)).unwrap_or_else(|e| panic!("{ty:?} {yaml}: {e}"));
        }
    }

    #[test]
    fn decimal_bounds_and_allowed_values_resolve_exactly() {
        let ty = ColumnType::Decimal {
            precision: 12,
            scale: 2,
        };
        // YAML reads 0.1 as the double nearest it; the bound is the 0.1 written.
        let r = resolve(
            ty,
            &spec("{min: 0.1, max: \"999.99\", allowed: [1.5, \"2.25\", 3]}"),
        )
        .unwrap();
        assert_eq!(r.min.unwrap().value, Num::Decimal(10));
        assert_eq!(r.max.unwrap().value, Num::Decimal(99_999));
        let Some(Allowed::Decimal(set)) = r.allowed else {
            panic!("decimal allowed")
        };
        let mut got: Vec<i128> = set.into_iter().collect();
        got.sort_unstable();
        assert_eq!(got, [150, 225, 300]);
    }

    #[test]
    fn rules_that_do_not_fit_are_refused_naming_the_field() {
        use ColumnType::*;
        let cases: &[(ColumnType, &str, &str)] = &[
            (
                Float,
                "{allowed: [1.5]}",
                "allowed: applies to string, int and decimal",
            ),
            (
                Date,
                "{allowed: [2020-01-01]}",
                "allowed: applies to string, int and decimal",
            ),
            (Int, "{allowed: [1.5]}", "allowed: 1.5 is not an int"),
            (Int, "{allowed: [x]}", "allowed: \"x\" is not an int"),
            (String, "{allowed: []}", "allowed: give at least one value"),
            (
                String,
                "{min: a}",
                "min: applies to int, float, decimal, date and timestamp",
            ),
            (Bool, "{max: true}", "max: applies to int"),
            (Int, "{min: 1.5}", "min: \"1.5\" is not a valid int"),
            (
                Int,
                "{max: \"99999999999999999999\"}",
                "max: \"99999999999999999999\" is not a valid int",
            ),
            (Float, "{min: .nan}", "min: NaN is not a bound"),
            (Float, "{max: \"NaN\"}", "max: NaN is not a bound"),
            (
                Date,
                "{min: 2026-02-30}",
                "min: \"2026-02-30\" is not a valid date",
            ),
            (Date, "{min: 20260101}", "not a valid date"),
            (
                Timestamp,
                "{max: yesterday}",
                "max: \"yesterday\" is not a valid timestamp",
            ),
            (Int, "{min: 5, max: 1}", "min 5 is above max 1"),
            (Date, "{min: 2026-02-01, max: 2026-01-01}", "is above max"),
            (
                Int,
                "{pattern: \"[0-9]+\"}",
                "pattern: applies to string columns, not int",
            ),
            (
                String,
                "{pattern: \"[a-\"}",
                "pattern: invalid regular expression",
            ),
            (
                String,
                "{pattern: \"(a{1000}){1000}\"}",
                "pattern: invalid regular expression",
            ),
            (
                Int,
                "{length: {max: 3}}",
                "length: applies to string columns",
            ),
            (String, "{length: {}}", "length: give min, max or both"),
            (
                Decimal {
                    precision: 12,
                    scale: 2,
                },
                "{min: 0.001}",
                "min: 0.001: 3 digits after the point, decimal(12,2) allows at most 2",
            ),
            (
                Decimal {
                    precision: 4,
                    scale: 2,
                },
                "{allowed: [1.5, 100]}",
                "allowed: 100: 3 digits before the point",
            ),
            (
                Decimal {
                    precision: 4,
                    scale: 2,
                },
                "{max: 1e2}",
                "max: 100: 3 digits before the point",
            ),
            (
                Decimal {
                    precision: 4,
                    scale: 2,
                },
                "{pattern: \"1\"}",
                "pattern: applies to string columns, not decimal",
            ),
            (
                String,
                "{length: {min: 4, max: 3}}",
                "length: min 4 is above max 3",
            ),
        ];
        for (ty, yaml, needle) in cases {
            let e = resolve(*ty, &spec(yaml)).expect_err(yaml);
            assert!(e.contains(needle), "{ty:?} {yaml}: {e:?} lacks {needle:?}");
        }
    }

    #[test]
    fn allowed_sets_short_and_long() {
        let values = ["EUR", "", "a", "seven77", "eight888", "ünï", "a\u{0}"];
        let set = TextSet::new(values.iter().map(|s| s.to_string()).collect());
        for v in values {
            assert!(set.contains(v), "{v:?}");
        }
        for v in [
            "EU",
            "EURO",
            "eur",
            "seven7",
            "eight88",
            "eight8888",
            "b",
            "a\u{0}\u{0}",
            "ün",
        ] {
            assert!(!set.contains(v), "{v:?}");
        }
        let mut want: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(set.sorted(), want);
    }

    /// `pack` is the bytes and the length, as a byte loop gives them; a packed set of any
    /// size up to the scan bound answers as a hash set does.
    #[test]
    fn packed_sets_agree_with_a_hash_set() {
        let reference = |s: &[u8]| {
            s.iter()
                .enumerate()
                .fold(0u64, |x, (i, &b)| x | u64::from(b) << (8 * i))
                | (s.len() as u64) << 56
        };
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Short strings over a small alphabet, so sets and probes overlap.
        let pool: Vec<String> = (0..400)
            .map(|_| {
                let len = rand() % 9;
                (0..len)
                    .map(|_| ['A', 'B', 'é', '0'][(rand() % 4) as usize])
                    .collect()
            })
            .collect();
        for s in &pool {
            let want = (s.len() <= 7).then(|| reference(s.as_bytes()));
            assert_eq!(pack(s.as_bytes()), want, "{s:?}");
        }
        for n in 1..=TextSet::SMALL_MAX {
            let values: HashSet<String> = (0..n)
                .map(|_| pool[(rand() % 400) as usize].clone())
                .collect();
            let set = TextSet::new(values.clone());
            assert!(matches!(set, TextSet::Small(..)), "{n} values");
            for probe in &pool {
                assert_eq!(
                    set.contains(probe),
                    values.contains(probe),
                    "{probe:?} in {values:?}"
                );
            }
        }
    }

    #[test]
    fn patterns_match_whole_values_and_never_across_lines() {
        let cases: &[(&str, &str, bool)] = &[
            ("[A-Z]{3}", "EUR", true),
            ("[A-Z]{3}", "EURO", false),
            ("[A-Z]{3}", "xEUR", false),
            ("[A-Z]{3}", "EUR\nUSD", false),
            ("(?m)^[A-Z]{3}$", "EUR\nUSD", false),
            ("(?m)^[A-Z]{3}$", "EUR\n", false),
            (".*", "one\ntwo", false),
            (".+", "", false),
            ("(?s).*", "one\ntwo", true),
            (r"[A-Z]{3}\n[A-Z]{3}", "EUR\nUSD", true),
            ("a|b", "ab", false),
            ("a|b", "b", true),
            (r"\d{4}", "٢٠٢٦", true),
            (r"(?-u:\d){4}", "٢٠٢٦", false),
            ("", "", true),
            ("", "a", false),
            ("[a-z]*", "", true),
            ("é+", "éé", true),
            ("é+", "e", false),
            (r"(?-u:\b)ab(?-u:\b)", "ab", true),
            ("a$", "a", true),
            ("(?m)a$", "a\n", false),
        ];
        for (p, v, want) in cases {
            let pat = Pattern::new(p).unwrap();
            assert_eq!(pat.matches(v), *want, "{p:?} on {v:?}");
            // The class table or DFA (when there is one) and the regex engine agree.
            assert_eq!(pat.re.is_match(v), *want, "{p:?} on {v:?} (regex)");
        }
        // One ASCII class repeated is a byte table; anything else is not.
        let shapes = [
            ("[A-Z]{3}", true),
            ("[A-Za-z0-9 ,.'&-]+", true),
            ("(?i-u)[a-f]{2,4}", true),
            ("(?-u:\\d)*", true),
            ("x", false),
            ("[a-z]+x", false),
            (r"\d+", false),
            ("[^,]+", false),
            ("[a-zé]+", false),
            ("(?s).", false),
        ];
        for (p, table) in shapes {
            assert_eq!(Pattern::new(p).unwrap().class_run.is_some(), table, "{p}");
        }
        let values = [
            "", "a", "AB", "ABC", "ABCD", "abc", "aBc", "a b", "ab\n", "é", "aé", "0123", "a,b.c",
            "ff", "FFFF", "fffff", "x'y&z-", "\u{7f}", "AB\u{0}",
        ];
        for (p, _) in shapes {
            let pat = Pattern::new(p).unwrap();
            for v in values {
                assert_eq!(pat.matches(v), pat.re.is_match(v), "{p:?} on {v:?}");
            }
        }
        assert!(Pattern::new("[A-Z]{3}").unwrap().dfa.is_some());
        // A Unicode word boundary has no DFA: the regex engine decides alone.
        let wb = Pattern::new(r"\bé\b").unwrap();
        assert!(wb.dfa.is_none());
        assert!(wb.matches("é"));
    }
}
