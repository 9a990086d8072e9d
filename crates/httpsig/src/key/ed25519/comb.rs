//! Fixed-base multiplication in variable time, for verification only: `[s]P + [t]Q`
//! for two points with tables ([`Comb`]), as a signed radix-16 comb over
//! curve25519-dalek's public point arithmetic (additions and subtractions of
//! `EdwardsPoint`s). Every input is public (a signature's `S`, its challenge `k`, the
//! base point and a public key), so skipping a zero digit and indexing the table by
//! digit leak nothing.
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

/// Rows of a table: one per byte of a scalar.
const ROWS: usize = 32;

/// The multiples a row holds: `1..=8` times its point (a signed radix-16 digit is in
/// `-8..8`, its sign applied by subtracting).
const MULTIPLES: usize = 8;

/// The table of a point `P`: row `i` holds `m · 256^i · P` for `m` in `1..=8` (32 × 8
/// points of 160 bytes: 40 KiB).
pub(crate) struct Comb(Box<[[EdwardsPoint; MULTIPLES]; ROWS]>);

impl Comb {
    /// The table of `point`: 224 additions, and 31 multiplications by 256 (six doublings
    /// and two additions each); about 0.1 ms.
    pub(crate) fn new(point: &EdwardsPoint) -> Self {
        let mut rows = Box::new([[EdwardsPoint::identity(); MULTIPLES]; ROWS]);
        let mut base = *point;
        for (i, row) in rows.iter_mut().enumerate() {
            let mut multiple = base;
            row[0] = multiple;
            for entry in &mut row[1..] {
                multiple += base;
                *entry = multiple;
            }
            if i + 1 < ROWS {
                // × 256: × 8 twice (dalek's doublings), then × 2 twice.
                base = base.mul_by_cofactor().mul_by_cofactor();
                base += base;
                base += base;
            }
        }
        Self(rows)
    }
}

/// `[s]P + [t]Q`, where `p` is the table of `P` and `q` that of `Q`.
///
/// With the digits `d` of a scalar in signed radix 16 (`scalar = Σ d_j · 16^j`), the
/// digits at odd positions `2i + 1` are added from row `i` first, the sum multiplied by
/// 16, then the digits at even positions `2i` added from row `i`: `Σ_i d_{2i+1} ·
/// 256^i · 16 + Σ_i d_{2i} · 256^i`. Both scalars share the one accumulator and its
/// four doublings.
pub(crate) fn double_mul(s: &Scalar, p: &Comb, t: &Scalar, q: &Comb) -> EdwardsPoint {
    let (s, t) = (radix_16(s), radix_16(t));
    let mut sum = EdwardsPoint::identity();
    for i in 0..ROWS {
        add_digit(&mut sum, &p.0[i], s[2 * i + 1]);
        add_digit(&mut sum, &q.0[i], t[2 * i + 1]);
    }
    // × 16: × 8 (three doublings) and once more.
    sum = sum.mul_by_cofactor();
    sum += sum;
    for i in 0..ROWS {
        add_digit(&mut sum, &p.0[i], s[2 * i]);
        add_digit(&mut sum, &q.0[i], t[2 * i]);
    }
    sum
}

/// `sum + digit · row[0]`, from the row's multiples.
fn add_digit(sum: &mut EdwardsPoint, row: &[EdwardsPoint; MULTIPLES], digit: i8) {
    let index = usize::from(digit.unsigned_abs());
    if digit > 0 {
        *sum += row[index - 1];
    } else if digit < 0 {
        *sum -= row[index - 1];
    }
}

/// The 64 signed radix-16 digits of `scalar`, each in `-8..8` (the last in `0..=8`):
/// `scalar = Σ d_j · 16^j`. Every scalar here is below `2^253` (reduced or canonical,
/// so below ℓ), so the last digit takes the carries without overflowing.
fn radix_16(scalar: &Scalar) -> [i8; 64] {
    let bytes = scalar.as_bytes();
    debug_assert!(bytes[31] <= 127, "a scalar of 2^255 or more");
    let mut digits = [0i8; 64];
    for (i, byte) in bytes.iter().enumerate() {
        // Each half is 0..=15: it fits.
        digits[2 * i] = (byte & 15) as i8;
        digits[2 * i + 1] = (byte >> 4) as i8;
    }
    // From 0..=15 to -8..8, carrying into the next digit.
    for i in 0..63 {
        let carry = (digits[i] + 8) >> 4;
        digits[i] -= carry << 4;
        digits[i + 1] += carry;
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

    /// Scalars whose digits reach the ends of their range: 0, 1, ℓ − 1, one whose digits
    /// are all −8 but the last (bytes 0x78, 0x77…, 0x07: each 8 carries into the next
    /// nibble), one whose digits are all 7 (bytes 0x77…, 0x07), and 2^252 − 1, just
    /// below ℓ. The two patterns of digits are checked in the first test.
    fn edge_scalars() -> Vec<Scalar> {
        let mut eights = [0x77u8; 32];
        eights[0] = 0x78;
        eights[31] = 0x07;
        let mut sevens = [0x77u8; 32];
        sevens[31] = 0x07;
        let mut top = [0xffu8; 32];
        top[31] = 0x0f;
        vec![
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE,
            Scalar::from_bytes_mod_order(eights),
            Scalar::from_bytes_mod_order(sevens),
            Scalar::from_bytes_mod_order(top),
        ]
    }

    #[test]
    fn the_digits_sum_to_the_scalar_and_stay_in_range() {
        let scalars = edge_scalars().into_iter().chain((0..200).map(scalar));
        let edges = edge_scalars();
        assert!(radix_16(&edges[3])[..63].iter().all(|&d| d == -8));
        assert_eq!(radix_16(&edges[3])[63], 1);
        assert!(radix_16(&edges[4]).iter().take(63).all(|&d| d == 7));
        for scalar in scalars {
            let digits = radix_16(&scalar);
            assert!(
                digits[..63].iter().all(|d| (-8..8).contains(d)),
                "{digits:?}"
            );
            assert!((0..=8).contains(&digits[63]), "{digits:?}");
            let sixteen = Scalar::from(16u8);
            let sum = digits.iter().rev().fold(Scalar::ZERO, |sum, &d| {
                let magnitude = Scalar::from(d.unsigned_abs());
                sum * sixteen + if d < 0 { -magnitude } else { magnitude }
            });
            assert_eq!(sum, scalar);
        }
    }

    /// The comb computes what dalek's own multiplications compute, for random points
    /// and scalars and for the edge scalars in both places.
    #[test]
    fn double_mul_equals_dalek_for_random_and_edge_scalars() {
        let b = Comb::new(&ED25519_BASEPOINT_POINT);
        for point in 0..8 {
            let q_point = ED25519_BASEPOINT_TABLE * &scalar(1000 + point);
            let q = Comb::new(&q_point);
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
                let expected = EdwardsPoint::vartime_double_scalar_mul_basepoint(&t, &q_point, &s);
                assert_eq!(double_mul(&s, &b, &t, &q).compress(), expected.compress());
            }
        }
    }

    /// A point with a torsion component (not in the prime-order subgroup) is multiplied
    /// as dalek multiplies it: the comb assumes nothing of its points.
    #[test]
    fn double_mul_equals_dalek_for_a_point_of_mixed_order() {
        let torsion = curve25519_dalek::constants::EIGHT_TORSION[1];
        let q_point = ED25519_BASEPOINT_TABLE * &scalar(3000) + torsion;
        let (b, q) = (Comb::new(&ED25519_BASEPOINT_POINT), Comb::new(&q_point));
        let mut pairs: Vec<(Scalar, Scalar)> = (0..32)
            .map(|i| (scalar(3001 + 2 * i), scalar(3002 + 2 * i)))
            .collect();
        pairs.extend(edge_scalars().into_iter().map(|e| (scalar(3100), e)));
        for (s, t) in pairs {
            let expected = s * ED25519_BASEPOINT_POINT + t * q_point;
            assert_eq!(double_mul(&s, &b, &t, &q).compress(), expected.compress());
        }
    }
}
