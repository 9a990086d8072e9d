//! Fixed-base multiplication in variable time, for verification only: `[s]P + [t]Q`
//! for two points with tables ([`Comb`]), as a comb of signed digits (radix 16 for a
//! key, 256 for the base point) over curve25519-dalek's public point arithmetic
//! (additions and subtractions of `EdwardsPoint`s). Every input is public (a
//! signature's `S`, its challenge `k`, the base point and a public key), so skipping a
//! zero digit and indexing the table by digit leak nothing.
//!
//! Why not curve25519-dalek's `EdwardsBasepointTable`: its multiplication is
//! constant-time, and for each of its 64 digits reads all 8 entries of a row and
//! selects one with masks. Those selections were a quarter of the CPU of an Ed25519
//! check under the gateway's load (`perf`, BENCHMARKS.md, "Issue 18: the Ed25519 table
//! read in variable time"); this comb reads the one entry it adds, at the price of a
//! full point addition instead of dalek's cheaper addition of an affine point (which it
//! keeps private).

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;

/// The most digits a scalar has in the narrowest radix used (`2^4`: 64).
const MAX_DIGITS: usize = 64;

/// The table of a point `P` for signed digits of `width` bits (radix `2^width`): row `i`
/// holds `m · 2^(2·width·i) · P` for `m` in `1..=2^(width − 1)`, one row for each pair of
/// digits (the digit at an odd position is added from the row below it, and the sum
/// multiplied by `2^width` once: see [`double_mul`]).
///
/// | width | additions per scalar | rows × multiples | size |
/// |---|---|---|---|
/// | 4 (a key's table) | 64 | 32 × 8 | 40 KiB |
/// | 8 (the base point's) | 32 | 16 × 128 | 320 KiB |
///
/// A wider table saves additions (each about 0.1 µs) and costs memory, and a read from
/// it is more likely to miss the caches.
pub(crate) struct Comb {
    width: u32,
    /// Row after row, `2^(width − 1)` points each (160 bytes a point).
    points: Box<[EdwardsPoint]>,
}

impl Comb {
    /// The table of `point` for digits of `width` bits (4 to 8): per row, the multiples
    /// by repeated addition, then the row's point times `2^(2·width)` for the next row
    /// ([`times_power_of_two`]). Width 4 takes 224 additions and 31 multiplications by
    /// 256 (about 0.1 ms); width 8 takes about 2,000 additions (about 0.3 ms).
    pub(crate) fn new(point: &EdwardsPoint, width: u32) -> Self {
        assert!((4..=8).contains(&width), "a comb's digits are 4 to 8 bits");
        let multiples = multiples(width);
        let rows = digits_of(width).div_ceil(2);
        let mut points = Vec::with_capacity(rows * multiples);
        let mut base = *point;
        for row in 0..rows {
            let mut multiple = base;
            points.push(multiple);
            for _ in 1..multiples {
                multiple += &base;
                points.push(multiple);
            }
            if row + 1 < rows {
                base = times_power_of_two(base, 2 * width);
            }
        }
        Self {
            width,
            points: points.into_boxed_slice(),
        }
    }

    /// The bytes the table holds.
    #[cfg(test)]
    fn size(&self) -> usize {
        std::mem::size_of_val(&*self.points)
    }

    /// `sum + digit · 2^(2·width·row) · P`. The entry is added by reference: by value,
    /// each addition first copied its 160 bytes (about 1% of a check's instructions).
    fn add_digit(&self, sum: &mut EdwardsPoint, row: usize, digit: i16) {
        let magnitude = usize::from(digit.unsigned_abs());
        if magnitude == 0 {
            return;
        }
        let entry = &self.points[row * multiples(self.width) + magnitude - 1];
        if digit > 0 {
            *sum += entry;
        } else {
            *sum -= entry;
        }
    }

    /// Adds the digits of `digits` at odd (`odd`) or even positions.
    fn add_digits(&self, sum: &mut EdwardsPoint, digits: &[i16; MAX_DIGITS], odd: bool) {
        let count = digits_of(self.width);
        for (row, position) in (usize::from(odd)..count).step_by(2).enumerate() {
            self.add_digit(sum, row, digits[position]);
        }
    }
}

/// `[s]P + [t]Q`, where `p` is the table of `P` and `q` that of `Q`.
///
/// With the digits `d` of a scalar in signed radix `2^w` (`scalar = Σ d_j · 2^(w·j)`),
/// the digits at odd positions `2i + 1` are added from row `i` first, the sum
/// multiplied by `2^w`, then the digits at even positions `2i` are added from row `i`:
/// `Σ_i d_{2i+1} · 2^(2w·i) · 2^w + Σ_i d_{2i} · 2^(2w·i)`. The two scalars share the
/// one accumulator: the odd digits of the wider table's scalar go in first and are
/// multiplied by `2^(w − w')` before the other's go in, then both by `2^w'`.
pub(crate) fn double_mul(s: &Scalar, p: &Comb, t: &Scalar, q: &Comb) -> EdwardsPoint {
    let (wide, wide_scalar, narrow, narrow_scalar) = if p.width >= q.width {
        (p, s, q, t)
    } else {
        (q, t, p, s)
    };
    let wide_digits = signed_digits(wide_scalar, wide.width);
    let narrow_digits = signed_digits(narrow_scalar, narrow.width);
    let mut sum = EdwardsPoint::identity();
    wide.add_digits(&mut sum, &wide_digits, true);
    sum = times_power_of_two(sum, wide.width - narrow.width);
    narrow.add_digits(&mut sum, &narrow_digits, true);
    sum = times_power_of_two(sum, narrow.width);
    wide.add_digits(&mut sum, &wide_digits, false);
    narrow.add_digits(&mut sum, &narrow_digits, false);
    sum
}

/// `2^k · point`: dalek's doublings by three (`mul_by_cofactor`, its one public
/// doubling), then an addition of the point to itself for each doubling left.
fn times_power_of_two(mut point: EdwardsPoint, mut k: u32) -> EdwardsPoint {
    while k >= 3 {
        point = point.mul_by_cofactor();
        k -= 3;
    }
    for _ in 0..k {
        point = point + point;
    }
    point
}

/// The multiples a row holds: a signed digit of `width` bits is at most `2^(width − 1)`
/// in magnitude, its sign applied by subtracting.
const fn multiples(width: u32) -> usize {
    1 << (width - 1)
}

/// The digits of a 256-bit scalar in radix `2^width`.
const fn digits_of(width: u32) -> usize {
    256usize.div_ceil(width as usize)
}

/// The signed digits of `scalar` in radix `2^width` (`scalar = Σ d_j · 2^(width·j)`),
/// each in `-2^(width−1)..2^(width−1)`, the last in `0..=2^(width−1)`; past
/// [`digits_of`]`(width)` they are 0. Every scalar here is below `2^253` (reduced or
/// canonical, so below ℓ), so the last digit takes the carries without overflowing.
fn signed_digits(scalar: &Scalar, width: u32) -> [i16; MAX_DIGITS] {
    let bytes = scalar.as_bytes();
    debug_assert!(bytes[31] <= 127, "a scalar of 2^255 or more");
    let count = digits_of(width);
    let mask = (1u16 << width) - 1;
    let mut digits = [0i16; MAX_DIGITS];
    for (j, digit) in digits.iter_mut().enumerate().take(count) {
        // The `width` bits from bit `width·j`, within this byte and the next.
        let bit = j * width as usize;
        let low = u16::from(bytes[bit / 8]);
        let high = bytes.get(bit / 8 + 1).map_or(0, |&b| u16::from(b));
        // At most 8 bits, masked: it fits.
        *digit = (((low | high << 8) >> (bit % 8)) & mask) as i16;
    }
    // From 0..2^width to -2^(width−1)..2^(width−1), carrying into the next digit.
    let half = 1i16 << (width - 1);
    for j in 0..count - 1 {
        let carry = (digits[j] + half) >> width;
        digits[j] -= carry << width;
        digits[j + 1] += carry;
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::digest;
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, ED25519_BASEPOINT_TABLE};

    /// The `n`th of a fixed sequence of scalars spread over the whole range (SHA-512 of
    /// `n`, reduced), so that a failure names its case.
    fn scalar(n: u32) -> Scalar {
        let wide = digest::digest(&digest::SHA512, &n.to_le_bytes());
        Scalar::from_bytes_mod_order_wide(&wide.as_ref().try_into().expect("64 bytes"))
    }

    /// Scalars whose digits reach the ends of their range: 0, 1, ℓ − 1, 2^252 − 1 (just
    /// below ℓ), and for radix 16 and radix 256 one whose digits are all the lowest (−8:
    /// bytes 0x78, 0x77…, 0x07, each 8 carrying into the next nibble; −128: bytes 0x80,
    /// 0x7f…, 0x0f) and one whose digits are all the highest (7: bytes 0x77…, 0x07; 127:
    /// bytes 0x7f…, 0x0f), the last digit aside. The patterns are checked in the first
    /// test.
    fn edge_scalars() -> Vec<Scalar> {
        let pattern = |first: u8, rest: u8, last: u8| {
            let mut bytes = [rest; 32];
            bytes[0] = first;
            bytes[31] = last;
            Scalar::from_bytes_mod_order(bytes)
        };
        vec![
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE,
            pattern(0xff, 0xff, 0x0f),
            pattern(0x78, 0x77, 0x07),
            pattern(0x77, 0x77, 0x07),
            pattern(0x80, 0x7f, 0x0f),
            pattern(0x7f, 0x7f, 0x0f),
        ]
    }

    #[test]
    fn the_digits_sum_to_the_scalar_and_stay_in_range() {
        let edges = edge_scalars();
        let all = |scalar: &Scalar, width: u32, digit: i16| {
            signed_digits(scalar, width)[..digits_of(width) - 1]
                .iter()
                .all(|&d| d == digit)
        };
        assert!(all(&edges[4], 4, -8) && all(&edges[5], 4, 7));
        assert!(all(&edges[6], 8, -128) && all(&edges[7], 8, 127));
        for width in 4..=8 {
            let (count, half) = (digits_of(width), 1i16 << (width - 1));
            let radix = Scalar::from(1u64 << width);
            for scalar in edges.iter().copied().chain((0..200).map(scalar)) {
                let digits = signed_digits(&scalar, width);
                let context = format!("width {width}: {digits:?}");
                assert!(
                    digits[..count - 1]
                        .iter()
                        .all(|d| (-half..half).contains(d)),
                    "{context}"
                );
                assert!((0..=half).contains(&digits[count - 1]), "{context}");
                assert!(digits[count..].iter().all(|&d| d == 0), "{context}");
                let sum = digits.iter().rev().fold(Scalar::ZERO, |sum, &d| {
                    let magnitude = Scalar::from(d.unsigned_abs());
                    sum * radix + if d < 0 { -magnitude } else { magnitude }
                });
                assert_eq!(sum, scalar, "{context}");
            }
        }
    }

    /// The sizes the type's documentation gives.
    #[test]
    fn a_table_is_40_kib_at_width_4_and_320_kib_at_width_8() {
        let point = ED25519_BASEPOINT_POINT;
        assert_eq!(Comb::new(&point, 4).size(), 40 * 1024);
        assert_eq!(Comb::new(&point, 8).size(), 320 * 1024);
    }

    /// The widths of `(p, q)` tested: the verifier's (8 for `B`, 4 for a key), the same
    /// width on both sides, the wider table second, and widths that do not divide 256 (5:
    /// 52 digits; 6 and 7: 43 and 37 digits, their last row holding one).
    const WIDTHS: [(u32, u32); 6] = [(8, 4), (4, 4), (4, 8), (6, 5), (7, 7), (8, 7)];

    /// The comb computes what dalek's own multiplications compute, for random points
    /// and scalars and for the edge scalars in both places.
    #[test]
    fn double_mul_equals_dalek_for_random_and_edge_scalars() {
        for (p_width, q_width) in WIDTHS {
            let b = Comb::new(&ED25519_BASEPOINT_POINT, p_width);
            for point in 0..4 {
                let q_point = ED25519_BASEPOINT_TABLE * &scalar(1000 + point);
                let q = Comb::new(&q_point, q_width);
                let n = 2000 + 100 * point;
                let mut pairs: Vec<(Scalar, Scalar)> = (0..16)
                    .map(|i| (scalar(n + 2 * i), scalar(n + 2 * i + 1)))
                    .collect();
                for e in edge_scalars() {
                    pairs.push((e, scalar(n + 50)));
                    pairs.push((scalar(n + 51), e));
                    pairs.push((e, e));
                }
                for (s, t) in pairs {
                    let expected =
                        EdwardsPoint::vartime_double_scalar_mul_basepoint(&t, &q_point, &s);
                    assert_eq!(
                        double_mul(&s, &b, &t, &q).compress(),
                        expected.compress(),
                        "widths {p_width}, {q_width}"
                    );
                }
            }
        }
    }

    /// A point with a torsion component (not in the prime-order subgroup) is multiplied
    /// as dalek multiplies it: the comb assumes nothing of its points.
    #[test]
    fn double_mul_equals_dalek_for_a_point_of_mixed_order() {
        let torsion = curve25519_dalek::constants::EIGHT_TORSION[1];
        let q_point = ED25519_BASEPOINT_TABLE * &scalar(3000) + torsion;
        for (p_width, q_width) in WIDTHS {
            let b = Comb::new(&ED25519_BASEPOINT_POINT, p_width);
            let q = Comb::new(&q_point, q_width);
            let mut pairs: Vec<(Scalar, Scalar)> = (0..32)
                .map(|i| (scalar(3001 + 2 * i), scalar(3002 + 2 * i)))
                .collect();
            pairs.extend(edge_scalars().into_iter().map(|e| (scalar(3100), e)));
            for (s, t) in pairs {
                let expected = s * ED25519_BASEPOINT_POINT + t * q_point;
                assert_eq!(
                    double_mul(&s, &b, &t, &q).compress(),
                    expected.compress(),
                    "widths {p_width}, {q_width}"
                );
            }
        }
    }
}
