//! Compact encodings of a store's vectors (`vector_storage: f16 | int8`): the codes of every
//! row, contiguous and row-major like the f32 rows, and how rows are encoded, decoded and moved.
//! Knows nothing of indexes: the kernels that read codes live in `index::distance`.

use half::f16;

use crate::aligned::AlignedVec;

/// The largest magnitude an f16 holds; larger values are refused at write time.
pub(crate) const F16_MAX: f32 = 65_504.0;

/// The codes of one store's rows, if it keeps any.
#[derive(Debug, Clone, Default)]
pub(crate) enum Codes {
    /// The rows are the f32 vectors themselves.
    #[default]
    None,
    /// IEEE half floats, as bits.
    F16(AlignedVec<u16>),
    /// Bytes within per-dimension ranges.
    Int8(Int8Codes),
}

/// One byte per value: value = `lo[d] + step[d] * code`. The ranges are learned from the rows
/// and widened when a row falls outside them (every row is then re-encoded, from the f32 rows
/// when the store keeps them, else from its own codes).
#[derive(Debug, Clone, Default)]
pub(crate) struct Int8Codes {
    dim: usize,
    lo: Vec<f32>,
    step: Vec<f32>,
    codes: AlignedVec<u8>,
    /// Per row, the squared L2 norm of the decoded row (for euclidean distances).
    sq_norms: Vec<f32>,
}

/// Widened ranges get this fraction of their width as headroom on each side, so a stream of
/// ever larger values re-encodes the rows a logarithmic number of times.
const HEADROOM: f32 = 1.0 / 6.0;

impl Codes {
    /// Empty codes for `storage`.
    pub(crate) fn new(storage: crate::config::VectorStorage, dim: usize) -> Self {
        use crate::config::VectorStorage;
        match storage {
            VectorStorage::F32 => Codes::None,
            VectorStorage::F16 => Codes::F16(AlignedVec::default()),
            VectorStorage::Int8 => Codes::Int8(Int8Codes {
                dim,
                lo: vec![0.0; dim],
                step: vec![0.0; dim],
                ..Int8Codes::default()
            }),
        }
    }

    /// Empty codes in the same encoding (for int8, the same ranges), for a copy of the store.
    pub(crate) fn empty_like(&self) -> Self {
        match self {
            Codes::None => Codes::None,
            Codes::F16(_) => Codes::F16(AlignedVec::default()),
            Codes::Int8(c) => Codes::Int8(Int8Codes {
                codes: AlignedVec::default(),
                sq_norms: Vec::new(),
                lo: c.lo.clone(),
                step: c.step.clone(),
                dim: c.dim,
            }),
        }
    }

    /// Appends the codes of `row`. `exact` is the store's f32 rows before this one, if it keeps
    /// them (int8 re-encodes from them when its ranges widen).
    pub(crate) fn push(&mut self, row: &[f32], exact: Option<&[f32]>) {
        match self {
            Codes::None => {}
            Codes::F16(bits) => {
                use half::slice::HalfFloatSliceExt;
                let start = bits.len();
                bits.resize(start + row.len(), 0);
                half::slice::HalfBitsSliceExt::reinterpret_cast_mut::<f16>(&mut bits[start..])
                    .convert_from_f32_slice(row);
            }
            Codes::Int8(c) => c.push(row, exact),
        }
    }

    /// Widens int8 ranges once to hold every row of a batch about to be pushed, so the batch
    /// costs at most one re-encoding instead of one per row that falls outside. `exact` as
    /// for [`push`](Self::push).
    pub(crate) fn prepare<'r>(&mut self, rows: impl Iterator<Item = &'r [f32]>, exact: Option<&[f32]>) {
        if let Codes::Int8(c) = self {
            let mut bounds = vec![(f32::INFINITY, f32::NEG_INFINITY); c.dim];
            for row in rows {
                for (b, &x) in bounds.iter_mut().zip(row) {
                    *b = (b.0.min(x), b.1.max(x));
                }
            }
            if bounds.iter().all(|b| b.0 <= b.1) && !c.holds(bounds.iter().copied()) {
                c.widen(&bounds, exact);
            }
        }
    }

    /// Appends row `slot` of `other` (`d` values per row) without decoding it when both
    /// encode alike; false when they do not (the caller then pushes the decoded row).
    pub(crate) fn push_raw(&mut self, other: &Codes, slot: usize, d: usize) -> bool {
        match (self, other) {
            (Codes::None, Codes::None) => true,
            (Codes::F16(to), Codes::F16(from)) => {
                to.extend_from_slice(&from[slot * d..(slot + 1) * d]);
                true
            }
            (Codes::Int8(to), Codes::Int8(from)) if to.lo == from.lo && to.step == from.step => {
                to.codes.extend_from_slice(&from.codes[slot * d..(slot + 1) * d]);
                to.sq_norms.push(from.sq_norms[slot]);
                true
            }
            _ => false,
        }
    }

    /// The codes of rows `slots`, next to each other in that order, in the same encoding.
    pub(crate) fn gather(&self, slots: &[crate::store::Slot], d: usize) -> Codes {
        let mut gathered = self.empty_like();
        gathered.reserve(slots.len(), d);
        for slot in slots {
            gathered.push_raw(self, slot.index(), d);
        }
        gathered
    }

    /// Row `slot` decoded into `out` (its length is the dimension).
    pub(crate) fn decode_into(&self, slot: usize, out: &mut [f32]) {
        let d = out.len();
        match self {
            Codes::None => {}
            Codes::F16(bits) => {
                use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
                // `half` converts slices with F16C where the CPU has it.
                bits[slot * d..(slot + 1) * d].reinterpret_cast::<f16>().convert_to_f32_slice(out);
            }
            Codes::Int8(c) => c.decode_into(slot, out),
        }
    }

    /// Moves row `from` over row `to` (`d` values per row).
    pub(crate) fn copy_row(&mut self, from: usize, to: usize, d: usize) {
        match self {
            Codes::None => {}
            Codes::F16(bits) => bits.copy_within(from * d..(from + 1) * d, to * d),
            Codes::Int8(c) => {
                c.codes.copy_within(from * d..(from + 1) * d, to * d);
                c.sq_norms[to] = c.sq_norms[from];
            }
        }
    }

    /// Keeps the first `rows` rows (`d` values per row).
    pub(crate) fn truncate(&mut self, rows: usize, d: usize) {
        match self {
            Codes::None => {}
            Codes::F16(bits) => bits.truncate(rows * d),
            Codes::Int8(c) => {
                c.codes.truncate(rows * d);
                c.sq_norms.truncate(rows);
            }
        }
    }

    /// Makes room for `rows` more rows (`d` values per row).
    pub(crate) fn reserve(&mut self, rows: usize, d: usize) {
        match self {
            Codes::None => {}
            Codes::F16(bits) => bits.reserve(rows * d),
            Codes::Int8(c) => {
                c.codes.reserve(rows * d);
                c.sq_norms.reserve(rows);
            }
        }
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        match self {
            Codes::None => {}
            Codes::F16(bits) => bits.shrink_to_fit(),
            Codes::Int8(c) => {
                c.codes.shrink_to_fit();
                c.sq_norms.shrink_to_fit();
            }
        }
    }

    /// Heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        match self {
            Codes::None => 0,
            Codes::F16(bits) => bits.heap_bytes(),
            Codes::Int8(c) => c.codes.heap_bytes() + c.sq_norms.capacity() * 4 + c.lo.capacity() * 8,
        }
    }
}

impl Int8Codes {
    /// Codes read from a file: the ranges must be finite and increasing, there must be one
    /// code per value, and every decoded row must stay within the norm limit (twice
    /// [`crate::vector::MAX_NORM`], leaving room for rounding).
    pub(crate) fn from_parts(
        dim: usize,
        lo: Vec<f32>,
        step: Vec<f32>,
        codes: Vec<u8>,
    ) -> Result<Self, String> {
        if dim == 0 || lo.len() != dim || step.len() != dim || !codes.len().is_multiple_of(dim) {
            return Err("int8 ranges or codes do not match the dimension".into());
        }
        let bad = |d: usize| !(lo[d].is_finite() && step[d] >= 0.0 && (lo[d] + 255.0 * step[d]).is_finite());
        if let Some(d) = (0..dim).find(|&d| bad(d)) {
            return Err(format!("the int8 range of dimension {d} is not finite and increasing"));
        }
        let mut c = Int8Codes { dim, lo, step, codes: codes.into(), sq_norms: Vec::new() };
        let mut row = vec![0f32; dim];
        for r in 0..c.codes.len() / dim {
            c.decode_into(r, &mut row);
            let norm = crate::vector::norm(&row);
            if norm > 2.0 * crate::vector::MAX_NORM {
                return Err(format!("int8 row {r} decodes to a norm of {norm:e}"));
            }
            c.sq_norms.push((norm * norm) as f32);
        }
        Ok(c)
    }

    /// Per dimension, the value of code 0.
    pub(crate) fn lo(&self) -> &[f32] {
        &self.lo
    }

    /// Per dimension, the value between two consecutive codes.
    pub(crate) fn step(&self) -> &[f32] {
        &self.step
    }

    /// Every row's codes, row-major.
    pub(crate) fn codes(&self) -> &[u8] {
        &self.codes
    }

    /// Per row, the squared norm of the decoded row.
    pub(crate) fn sq_norms(&self) -> &[f32] {
        &self.sq_norms
    }

    fn decode_into(&self, slot: usize, out: &mut [f32]) {
        let d = self.dim;
        for (i, (o, &c)) in out.iter_mut().zip(&self.codes[slot * d..(slot + 1) * d]).enumerate() {
            *o = self.lo[i] + self.step[i] * f32::from(c);
        }
    }

    /// Appends `row`'s codes and decoded squared norm, widening the ranges first if needed.
    fn push(&mut self, row: &[f32], exact: Option<&[f32]>) {
        // Bounds are only collected (allocated) when the row does not fit: the rare case.
        if !self.holds(row.iter().map(|&x| (x, x))) {
            let bounds: Vec<(f32, f32)> = row.iter().map(|&x| (x, x)).collect();
            self.widen(&bounds, exact);
        }
        self.append(row);
    }

    /// True when the ranges hold every `(low, high)` (per dimension) and some row has set them.
    fn holds(&self, bounds: impl Iterator<Item = (f32, f32)>) -> bool {
        !self.sq_norms.is_empty()
            && bounds
                .enumerate()
                .all(|(d, (low, high))| low >= self.lo[d] && high <= self.lo[d] + 255.0 * self.step[d])
    }

    fn append(&mut self, row: &[f32]) {
        let start = self.codes.len();
        let (lo, step) = (&self.lo, &self.step);
        // Clamped first, so adding a half and truncating rounds (and `round` is a libm call).
        self.codes.resize(start + row.len(), 0);
        for (d, (code, &x)) in self.codes[start..].iter_mut().zip(row).enumerate() {
            *code = if step[d] > 0.0 { (((x - lo[d]) / step[d]).clamp(0.0, 255.0) + 0.5) as u8 } else { 0 };
        }
        let sq: f64 = self.codes[start..]
            .iter()
            .enumerate()
            .map(|(d, &c)| f64::from(lo[d] + step[d] * f32::from(c)).powi(2))
            .sum();
        self.sq_norms.push(sq as f32);
    }

    /// Grows the ranges to hold every `(low, high)` (per dimension, with headroom) and
    /// re-encodes every row held.
    fn widen(&mut self, bounds: &[(f32, f32)], exact: Option<&[f32]>) {
        let (d, rows) = (self.dim, self.sq_norms.len());
        let (mut lo, mut step) = (self.lo.clone(), self.step.clone());
        for (i, &(x_low, x_high)) in bounds.iter().enumerate() {
            let (mut low, mut high) =
                if rows == 0 { (x_low, x_high) } else { (lo[i], lo[i] + 255.0 * step[i]) };
            if rows > 0 && x_low >= low && x_high <= high {
                continue;
            }
            (low, high) = (low.min(x_low), high.max(x_high));
            let width = (high - low).max(low.abs().max(high.abs()) * 1e-3).max(f32::MIN_POSITIVE);
            lo[i] = low - width * HEADROOM;
            step[i] = (high + width * HEADROOM - lo[i]) / 255.0;
        }
        let mut codes = AlignedVec::default();
        codes.reserve(self.codes.capacity().max((rows + 1) * d));
        let sq_norms = Vec::with_capacity(rows + 1);
        let old = std::mem::replace(self, Int8Codes { dim: d, lo, step, codes, sq_norms });
        // Re-encode from the f32 rows when kept; otherwise from the codes themselves, each row
        // decoded with the old ranges (a second rounding, at most half a new step).
        let mut buf = vec![0f32; d];
        for r in 0..rows {
            match exact {
                Some(all) => self.append(&all[r * d..(r + 1) * d]),
                None => {
                    old.decode_into(r, &mut buf);
                    self.append(&buf);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VectorStorage;

    fn rows(n: usize, d: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n * d)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                // Each dimension its own scale, and the scale of later rows grows: ranges widen.
                let scale = (1 + i % d) as f32 * (1.0 + (i / d) as f32 / 50.0);
                ((s % 20_001) as f32 / 10_000.0 - 1.0) * scale
            })
            .collect()
    }

    fn decoded(c: &Codes, r: usize, d: usize) -> Vec<f32> {
        let mut out = vec![0.0; d];
        c.decode_into(r, &mut out);
        out
    }

    /// Rows pushed one by one into int8 codes, with ranges widening as they come, all decode
    /// within half a step of their value when re-encoded from f32 rows. Without them, each
    /// re-encoding adds half of its own step; a widening grows the range by at least a third
    /// (the headroom), so those steps sum to at most two final steps.
    #[test]
    fn int8_codes_stay_within_a_step_of_every_row_as_ranges_widen() {
        let (n, d) = (300, 7);
        let data = rows(n, d, 5);
        for keep_f32 in [true, false] {
            let mut codes = Codes::new(VectorStorage::Int8, d);
            for r in 0..n {
                codes.push(&data[r * d..(r + 1) * d], keep_f32.then_some(&data[..r * d]));
            }
            let Codes::Int8(c) = &codes else { panic!("int8 codes") };
            let mut checked = 0;
            for r in 0..n {
                let got = decoded(&codes, r, d);
                for (j, (&x, &y)) in data[r * d..(r + 1) * d].iter().zip(&got).enumerate() {
                    let slack = if keep_f32 { 0.5 } else { 2.0 };
                    assert!(
                        (x - y).abs() <= slack * c.step()[j] * 1.001 + 1e-6,
                        "keep {keep_f32} row {r} dim {j}: {x} vs {y}, step {}",
                        c.step()[j]
                    );
                    checked += 1;
                }
                let sq: f32 = got.iter().map(|v| v * v).sum();
                assert!((c.sq_norms()[r] - sq).abs() <= 1e-3 * sq.max(1.0));
            }
            assert_eq!(checked, n * d);
            // The ranges hold every row, with headroom, and never more than twice the data's.
            for j in 0..d {
                let (lo, hi) = data
                    .iter()
                    .skip(j)
                    .step_by(d)
                    .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
                let (clo, chi) = (c.lo()[j], c.lo()[j] + 255.0 * c.step()[j]);
                assert!(clo <= lo && chi >= hi, "dim {j}");
                assert!(chi - clo <= 2.0 * (hi - lo), "dim {j}: range {clo}..{chi} for data {lo}..{hi}");
            }
        }
    }

    /// A batch prepared at once widens the ranges once: pushing its rows then re-encodes
    /// nothing, and every row decodes within half a step.
    #[test]
    fn a_prepared_batch_widens_the_ranges_once() {
        let (n, d) = (200, 5);
        let data = rows(n, d, 11);
        let mut codes = Codes::new(VectorStorage::Int8, d);
        codes.push(&data[..d], None);
        codes.prepare(data.chunks(d).skip(1), Some(&data[..d]));
        let Codes::Int8(before) = codes.clone() else { panic!("int8 codes") };
        for r in 1..n {
            codes.push(&data[r * d..(r + 1) * d], Some(&data[..r * d]));
        }
        let Codes::Int8(c) = &codes else { panic!("int8 codes") };
        assert_eq!((&before.lo, &before.step), (&c.lo, &c.step), "no row fell outside the prepared ranges");
        for r in 0..n {
            for (j, (x, y)) in data[r * d..(r + 1) * d].iter().zip(decoded(&codes, r, d)).enumerate() {
                assert!((x - y).abs() <= 0.5 * c.step()[j] * 1.001, "row {r} dim {j}");
            }
        }
    }

    #[test]
    fn codes_move_copy_and_truncate_by_row() {
        let d = 4;
        let data = rows(10, d, 9);
        for storage in [VectorStorage::F16, VectorStorage::Int8] {
            let mut codes = Codes::new(storage, d);
            (0..10).for_each(|r| codes.push(&data[r * d..(r + 1) * d], Some(&data[..r * d])));
            let (row7, row2) = (decoded(&codes, 7, d), decoded(&codes, 2, d));
            codes.copy_row(7, 2, d);
            assert_eq!(decoded(&codes, 2, d), row7, "{storage}");
            codes.truncate(5, d);
            let mut copy = codes.empty_like();
            assert!(copy.push_raw(&codes, 2, d), "{storage}: same encoding copies raw");
            assert_eq!(decoded(&copy, 0, d), row7);
            assert_ne!(row2, row7);
        }
        // Different int8 ranges do not copy raw.
        let mut a = Codes::new(VectorStorage::Int8, 1);
        a.push(&[1.0], None);
        let mut b = Codes::new(VectorStorage::Int8, 1);
        b.push(&[100.0], None);
        assert!(!a.push_raw(&b, 0, 1));
    }

    #[test]
    fn hostile_int8_parts_are_refused() {
        assert!(Int8Codes::from_parts(2, vec![0.0; 2], vec![0.1; 2], vec![1, 2, 3]).is_err(), "ragged codes");
        assert!(Int8Codes::from_parts(2, vec![f32::NAN, 0.0], vec![0.1; 2], vec![]).is_err());
        assert!(Int8Codes::from_parts(2, vec![0.0; 2], vec![-1.0, 0.1], vec![]).is_err(), "decreasing");
        assert!(
            Int8Codes::from_parts(2, vec![0.0; 2], vec![f32::MAX, 0.1], vec![]).is_err(),
            "overflowing range"
        );
        let big = Int8Codes::from_parts(1, vec![0.0], vec![1e17], vec![255]);
        assert!(big.is_err_and(|e| e.contains("norm")));
        let ok = Int8Codes::from_parts(2, vec![-1.0, 0.0], vec![0.01, 0.02], vec![0, 255, 100, 50])
            .expect("valid");
        assert_eq!(ok.sq_norms().len(), 2);
        assert!((ok.sq_norms()[0] - (1.0 + 5.1f32 * 5.1)).abs() < 1e-3);
    }
}
