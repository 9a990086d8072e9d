//! The check against its floor timed in one process, block after block, so that the
//! machine's drift cancels (`PRESENTATION_PAIRED=CASE` instead of criterion; run by
//! `bench/presentation/ratio.sh --paired`).
//!
//! On the 2-core machines this project is measured on, a core's speed moves by 20% within
//! seconds, so two criterion runs a few seconds apart can disagree about a ratio by more
//! than the change being measured. Here each round times a block of floors and a block of
//! checks back to back (a few milliseconds each, the order alternating), takes their
//! ratio, and the median of the rounds' ratios is reported. As with criterion's
//! `iter_batched`, the inputs of a block are made before its clock starts and its outputs
//! are dropped after it stops.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Calls per block by default: a few milliseconds of checks (`PRESENTATION_PAIRED_BLOCK`
/// sets another number).
const BLOCK: usize = 64;
/// Calls measured, after unreported rounds that warm caches and the token cache.
const CALLS: usize = 300 * 64;
const WARM_UP: usize = 20;

/// Times one block of `len` calls of `run` on inputs from `setup`.
fn block<I, O>(
    len: usize,
    setup: &mut impl FnMut() -> I,
    run: &mut impl FnMut(I) -> O,
) -> Duration {
    let inputs: Vec<I> = (0..len).map(|_| setup()).collect();
    let mut outputs = Vec::with_capacity(len);
    let start = Instant::now();
    outputs.extend(
        inputs
            .into_iter()
            .map(|input| black_box(run(black_box(input)))),
    );
    let elapsed = start.elapsed();
    drop(outputs);
    elapsed
}

/// One side of a pair: how its inputs are made, and what is timed on each.
pub(crate) struct Side<S, R> {
    pub(crate) setup: S,
    pub(crate) run: R,
}

/// Measures `check` against `floor` and prints the ratio's median and quartiles, and the
/// median time per call of each.
pub(crate) fn compare<FI, FO, CI, CO>(
    name: &str,
    mut floor: Side<impl FnMut() -> FI, impl FnMut(FI) -> FO>,
    mut check: Side<impl FnMut() -> CI, impl FnMut(CI) -> CO>,
) {
    let len = std::env::var("PRESENTATION_PAIRED_BLOCK")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(BLOCK);
    let rounds = CALLS.div_ceil(len);
    let mut ratios = Vec::with_capacity(rounds);
    let (mut floor_times, mut check_times) = (Vec::new(), Vec::new());
    for round in 0..WARM_UP + rounds {
        let (f, c) = if round.is_multiple_of(2) {
            let f = block(len, &mut floor.setup, &mut floor.run);
            (f, block(len, &mut check.setup, &mut check.run))
        } else {
            let c = block(len, &mut check.setup, &mut check.run);
            (block(len, &mut floor.setup, &mut floor.run), c)
        };
        if round >= WARM_UP {
            ratios.push(c.as_secs_f64() / f.as_secs_f64());
            floor_times.push(f.as_secs_f64() * 1e6 / len as f64);
            check_times.push(c.as_secs_f64() * 1e6 / len as f64);
        }
    }
    // The nearest rank (of an even count, the upper of the two middle values).
    let quantile = |xs: &mut Vec<f64>, q: f64| {
        xs.sort_by(f64::total_cmp);
        xs[((xs.len() - 1) as f64 * q).round() as usize]
    };
    println!(
        "{name}: check / floor median {:.3}x (quartiles {:.3}x to {:.3}x) over {rounds} rounds of \
         {len} calls; median µs per call: floor {:.2}, check {:.2}",
        quantile(&mut ratios, 0.5),
        quantile(&mut ratios, 0.25),
        quantile(&mut ratios, 0.75),
        quantile(&mut floor_times, 0.5),
        quantile(&mut check_times, 0.5),
    );
}
