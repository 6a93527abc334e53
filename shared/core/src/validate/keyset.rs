//! The set of keys a uniqueness rule has seen in one file, in bounded memory.
//!
//! Keys live in a hash table of 16-byte entries: the top 96 bits of the key's xxh3-128 hash
//! and the 32-bit position (row or line) where it was first seen. Two different keys are
//! taken for one with probability about n²/2⁹⁷ (10⁻¹⁶ at a million keys): exact for any file a
//! Lambda reads.
//!
//! Integer keys that arrive in order (each the previous key plus one, on the next position:
//! an export's `id` column) are kept as runs instead, a first key, a last key and a first
//! position each: a file of in-order ids costs one run, no table, and no hashing. A run that
//! breaks before [`RUN_MIN`] keys goes into the table key by key; longer ones are kept, and
//! each costs [`RUN_COST`] entries of the bound. Either way a key is found with the position
//! where it was first seen, so a duplicate names the same row whichever way its first copy
//! was kept.

use std::collections::BTreeMap;

use hashbrown::HashTable;
use twox_hash::XxHash3_128;

/// Position bits of a table entry; all ones means "after `u32::MAX`".
const POS_BITS: u128 = u32::MAX as u128;

/// Shortest run kept as a run when it breaks; shorter ones cost less in the table.
pub(super) const RUN_MIN: u64 = 64;

/// Entries of the bound one kept run costs: a `BTreeMap` entry of 24 bytes takes at most
/// about 64 bytes with its node's slack, under four 17-byte table slots.
pub(super) const RUN_COST: usize = 4;

/// Bytes one tracked key costs at most: a 16-byte entry and a control byte per slot, and at
/// most 16/7 slots per key (a table grows when 7/8 full, doubling): 17 × 16/7 = 38.9, just
/// after a growth; 19.4 in a table about to grow. (Measured by `bytes_per_key_is_bounded`.)
pub const BYTES_PER_KEY_MAX: usize = 39;

/// What [`KeySet::insert_int`] and [`KeySet::insert_bytes`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Seen {
    /// A key not seen before; now kept.
    New,
    /// Seen before, first at this position (`None`: a position after `u32::MAX`).
    Dup(Option<u64>),
    /// A new key, but keeping it would pass the bound: nothing more is kept.
    Full,
}

/// Keys lo..=hi, first seen at positions pos..=pos + (hi - lo).
#[derive(Debug, Clone, Copy)]
struct Run {
    lo: i64,
    hi: i64,
    pos: u64,
}

impl Run {
    fn len(&self) -> u64 {
        self.hi.abs_diff(self.lo) + 1
    }

    fn first(&self, v: i64) -> Option<u64> {
        (self.lo <= v && v <= self.hi).then(|| self.pos + v.abs_diff(self.lo))
    }
}

/// One rule's keys in one file.
pub(super) struct KeySet {
    table: HashTable<u128>,
    /// The smallest and largest integer key in `table`: a key outside needs no lookup.
    table_ints: Option<(i64, i64)>,
    /// The run the last integer key extended or opened.
    open: Option<Run>,
    /// Broken runs of at least [`RUN_MIN`] keys, by first key.
    runs: BTreeMap<i64, Run>,
    /// The smallest and largest key in `runs`.
    runs_span: Option<(i64, i64)>,
    /// Entries the bound allows: table entries plus [`RUN_COST`] per kept run.
    limit: usize,
}

impl KeySet {
    /// An empty set that keeps at most `limit` entries.
    pub(super) fn new(limit: usize) -> Self {
        KeySet {
            table: HashTable::new(),
            table_ints: None,
            open: None,
            runs: BTreeMap::new(),
            runs_span: None,
            limit,
        }
    }

    /// Entries the bound allows.
    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// Entries held against the bound.
    pub(super) fn entries(&self) -> usize {
        self.table.len() + RUN_COST * self.runs.len()
    }

    /// Takes the integer key `v` first seen at `pos` (rows and lines only grow).
    #[inline]
    pub(super) fn insert_int(&mut self, v: i64, pos: u64) -> Seen {
        if let Some(run) = &mut self.open {
            let next = run.hi.checked_add(1) == Some(v) && run.pos + run.len() == pos;
            if next && !in_span(self.runs_span, v) && !in_span(self.table_ints, v) {
                run.hi = v;
                return Seen::New;
            }
        }
        self.insert_int_apart(v, pos)
    }

    /// [`KeySet::insert_int`] for a key that does not extend the open run (out of line: the
    /// in-order case is the one every row of an id column takes).
    #[inline(never)]
    fn insert_int_apart(&mut self, v: i64, pos: u64) -> Seen {
        if let Some(first) = self.first_int(v) {
            return Seen::Dup(first);
        }
        if let Some(run) = self.open {
            if run.hi.checked_add(1) == Some(v) && run.pos + run.len() == pos {
                // In order, but a kept key lies inside the run's span (it cannot be `v`,
                // looked up above): the run still grows.
                self.open = Some(Run { hi: v, ..run });
                return Seen::New;
            }
            if let Err(full) = self.close(run) {
                self.open = None;
                return full;
            }
        }
        if self.entries() >= self.limit {
            self.open = None;
            return Seen::Full;
        }
        self.open = Some(Run { lo: v, hi: v, pos });
        Seen::New
    }

    /// Takes any other key, as bytes (see `encode` in the rules), first seen at `pos`.
    pub(super) fn insert_bytes(&mut self, key: &[u8], pos: u64) -> Seen {
        let h = XxHash3_128::oneshot(key);
        if let Some(&e) = self.table.find((h >> 64) as u64, |&e| same(e, h)) {
            return Seen::Dup(position(e));
        }
        if self.entries() >= self.limit {
            return Seen::Full;
        }
        self.put(h, pos);
        Seen::New
    }

    /// Where integer key `v` was first seen, if it was: `Some(None)` for a position after
    /// `u32::MAX`.
    fn first_int(&self, v: i64) -> Option<Option<u64>> {
        if let Some(p) = self.open.and_then(|r| r.first(v)) {
            return Some(Some(p));
        }
        if in_span(self.runs_span, v) {
            if let Some(p) = self
                .runs
                .range(..=v)
                .next_back()
                .and_then(|(_, r)| r.first(v))
            {
                return Some(Some(p));
            }
        }
        if in_span(self.table_ints, v) {
            let h = XxHash3_128::oneshot(&v.to_le_bytes());
            if let Some(&e) = self.table.find((h >> 64) as u64, |&e| same(e, h)) {
                return Some(position(e));
            }
        }
        None
    }

    /// Keeps a run that ended: as a run when long, else key by key in the table.
    fn close(&mut self, run: Run) -> Result<(), Seen> {
        if run.len() >= RUN_MIN {
            if self.entries() + RUN_COST > self.limit {
                return Err(Seen::Full);
            }
            self.runs.insert(run.lo, run);
            self.runs_span = Some(widen(self.runs_span, run.lo, run.hi));
            return Ok(());
        }
        for (k, v) in (run.lo..=run.hi).enumerate() {
            if self.entries() >= self.limit {
                return Err(Seen::Full);
            }
            let h = XxHash3_128::oneshot(&v.to_le_bytes());
            self.put(h, run.pos + k as u64);
            self.table_ints = Some(widen(self.table_ints, v, v));
        }
        Ok(())
    }

    fn put(&mut self, h: u128, pos: u64) {
        let p = u128::from(u32::try_from(pos).unwrap_or(u32::MAX));
        self.table
            .insert_unique((h >> 64) as u64, (h & !POS_BITS) | p, |&e| (e >> 64) as u64);
    }
}

fn same(entry: u128, hash: u128) -> bool {
    entry & !POS_BITS == hash & !POS_BITS
}

fn position(entry: u128) -> Option<u64> {
    let p = entry & POS_BITS;
    (p != POS_BITS).then_some(p as u64)
}

fn in_span(span: Option<(i64, i64)>, v: i64) -> bool {
    span.is_some_and(|(lo, hi)| lo <= v && v <= hi)
}

fn widen(span: Option<(i64, i64)>, lo: i64, hi: i64) -> (i64, i64) {
    span.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi)))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Feeds `keys` (one per position from 1) and returns what each got.
    fn feed(limit: usize, keys: &[i64]) -> Vec<Seen> {
        let mut s = KeySet::new(limit);
        keys.iter()
            .zip(1..)
            .map(|(&k, pos)| s.insert_int(k, pos))
            .collect()
    }

    /// The same verdicts from a plain map, the reference (no bound).
    fn reference(keys: &[i64]) -> Vec<Seen> {
        let mut first = HashMap::new();
        keys.iter()
            .zip(1u64..)
            .map(|(&k, pos)| match first.get(&k) {
                Some(&p) => Seen::Dup(Some(p)),
                None => {
                    first.insert(k, pos);
                    Seen::New
                }
            })
            .collect()
    }

    #[test]
    fn runs_and_table_agree_with_a_map() {
        let up: Vec<i64> = (1..=200).collect();
        let cases: Vec<(&str, Vec<i64>)> = vec![
            ("in order", up.clone()),
            (
                "in order, then all again",
                [up.clone(), up.clone()].concat(),
            ),
            ("in order, then one old id", [up.clone(), vec![57]].concat()),
            ("two long runs, then ids of both", {
                let mut v: Vec<i64> = (1000..1100).collect();
                v.extend(1..=100);
                v.extend([1000, 1099, 1, 100, 101, 999, 1100]);
                v
            }),
            (
                "short runs go to the table",
                vec![5, 6, 7, 1, 2, 3, 6, 2, 8, 4, 4],
            ),
            ("descending", (1..=100).rev().chain([50, 1, 100]).collect()),
            (
                "a run grows over a kept key",
                vec![10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
            ),
            (
                "extremes",
                vec![
                    i64::MAX - 1,
                    i64::MAX,
                    i64::MIN,
                    i64::MIN + 1,
                    i64::MAX,
                    i64::MIN,
                ],
            ),
            (
                "interleaved sequences",
                (0..300)
                    .map(|i| if i % 2 == 0 { i } else { 10_000 + i })
                    .chain([0, 10_001, 298])
                    .collect(),
            ),
        ];
        for (name, keys) in cases {
            assert_eq!(feed(usize::MAX, &keys), reference(&keys), "{name}");
        }
    }

    #[test]
    fn a_run_needs_consecutive_positions() {
        // Key 3 at position 4 (a null key skipped position 3): not a run of 1..=3, yet the
        // duplicate still names position 4.
        let mut s = KeySet::new(usize::MAX);
        assert_eq!(s.insert_int(1, 1), Seen::New);
        assert_eq!(s.insert_int(2, 2), Seen::New);
        assert_eq!(s.insert_int(3, 4), Seen::New);
        assert_eq!(s.insert_int(4, 5), Seen::New);
        assert_eq!(s.insert_int(3, 6), Seen::Dup(Some(4)));
        assert_eq!(s.insert_int(2, 7), Seen::Dup(Some(2)));
        assert_eq!(s.insert_int(4, 8), Seen::Dup(Some(5)));
    }

    #[test]
    fn random_keys_match_a_map() {
        // A fixed LCG: keys from a small range, so duplicates and short runs both occur.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut keys = Vec::new();
        for i in 0..20_000i64 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            keys.push(if (x >> 60) < 6 {
                i
            } else {
                (x >> 40) as i64 % 30_000
            });
        }
        assert_eq!(feed(usize::MAX, &keys), reference(&keys));
    }

    #[test]
    fn the_bound_holds() {
        // In-order ids of any count cost nothing.
        let up: Vec<i64> = (1..=100_000).collect();
        assert!(feed(3, &up).iter().all(|s| *s == Seen::New));
        // Scattered ids: three kept, the fourth is Full.
        let got = feed(3, &[10, 20, 30, 40]);
        assert_eq!(got, [Seen::New, Seen::New, Seen::New, Seen::Full]);
        let mut s = KeySet::new(3);
        for (k, pos) in [(b"a", 1), (b"b", 2), (b"c", 3)] {
            assert_eq!(s.insert_bytes(k, pos), Seen::New);
        }
        assert_eq!(s.insert_bytes(b"b", 4), Seen::Dup(Some(2)));
        assert_eq!(s.insert_bytes(b"d", 5), Seen::Full);
        // A kept run costs RUN_COST entries.
        let mut s = KeySet::new(usize::MAX);
        for (pos, k) in (1..=RUN_MIN as i64).chain([1000]).enumerate() {
            s.insert_int(k, pos as u64 + 1);
        }
        assert_eq!(s.entries(), RUN_COST);
    }

    #[test]
    fn positions_past_u32_are_named_as_such() {
        let mut s = KeySet::new(usize::MAX);
        let far = u64::from(u32::MAX) + 10;
        s.insert_bytes(b"x", far);
        assert_eq!(s.insert_bytes(b"x", far + 1), Seen::Dup(None));
        // A run keeps exact positions.
        s.insert_int(7, far);
        assert_eq!(s.insert_int(7, far + 2), Seen::Dup(Some(far)));
    }

    #[test]
    fn bytes_per_key_is_bounded() {
        let mut t: HashTable<u128> = HashTable::new();
        let mut worst = 0.0f64;
        for i in 0..300_000u128 {
            let h = XxHash3_128::oneshot(&i.to_le_bytes());
            t.insert_unique((h >> 64) as u64, h, |&e| (e >> 64) as u64);
            let len = t.len() as f64;
            // hashbrown: capacity = 7/8 of the slots (slots a power of two, ≥ 8).
            let slots = ((t.capacity() * 8).div_ceil(7)).next_power_of_two() as f64;
            if len >= 1000.0 {
                worst = worst.max(slots * 17.0 / len);
            }
        }
        assert!(worst <= BYTES_PER_KEY_MAX as f64, "{worst}");
        assert!(worst > 38.0, "{worst}: a table just grown is half empty");
    }
}
