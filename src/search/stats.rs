//! The statistics of an evaluation, as IR practice does them (trec_eval with paired tests,
//! ranx): a percentile bootstrap for each mean, and for two models over the same queries a
//! two-sided paired t-test and a two-sided paired randomization (sign-flip) test, with
//! Holm's correction over several metrics. Pure and seeded: the same input gives the same
//! intervals and p-values on every run.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Bootstrap resamples and sign-flip permutations.
pub const RESAMPLES: usize = 10_000;
/// The seed of both, so a run repeats.
pub const SEED: u64 = 20_261_203;
/// Significance level, after Holm's correction.
pub const ALPHA: f64 = 0.05;

pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// The 95% percentile-bootstrap interval of the mean of `values`.
pub fn bootstrap_interval(values: &[f64], resamples: usize, seed: u64) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let n = values.len();
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    (percentile(&means, 0.025), percentile(&means, 0.975))
}

/// The `q` quantile of sorted values, interpolated linearly between the two nearest ranks.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

/// Two-sided p-value of the paired t-test of the differences `diffs` (model − baseline per
/// query). No difference at all gives 1; a constant nonzero difference gives 0.
pub fn paired_t_test(diffs: &[f64]) -> f64 {
    let n = diffs.len();
    if n < 2 {
        return 1.0;
    }
    let m = mean(diffs);
    let variance = diffs.iter().map(|d| (d - m).powi(2)).sum::<f64>() / (n - 1) as f64;
    if variance == 0.0 {
        return if m == 0.0 { 1.0 } else { 0.0 };
    }
    let t = m / (variance / n as f64).sqrt();
    let df = (n - 1) as f64;
    // P(|T| >= |t|) for Student's t with df degrees of freedom.
    incomplete_beta(df / 2.0, 0.5, df / (df + t * t)).clamp(0.0, 1.0)
}

/// Two-sided p-value of the paired randomization test: the share of sign flips of `diffs`
/// whose mean is at least as far from 0 as the observed one (the observed counted in).
pub fn randomization_test(diffs: &[f64], permutations: usize, seed: u64) -> f64 {
    if diffs.is_empty() {
        return 1.0;
    }
    let observed = mean(diffs).abs();
    // Sums compare with a tolerance: float noise must not separate equal sums.
    let tolerance = 1e-12 * diffs.iter().map(|d| d.abs()).sum::<f64>().max(1.0);
    let n = diffs.len() as f64;
    let mut rng = StdRng::seed_from_u64(seed);
    let as_extreme = (0..permutations)
        .filter(|_| {
            let flipped: f64 = diffs
                .iter()
                .map(|d| if rng.random::<bool>() { *d } else { -*d })
                .sum();
            (flipped / n).abs() >= observed - tolerance / n
        })
        .count();
    (as_extreme + 1) as f64 / (permutations + 1) as f64
}

/// Holm's step-down correction of `p_values` (one family): each adjusted p-value is at
/// least every smaller one's, and at most 1.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p_values[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// The regularized incomplete beta function I_x(a, b), by its continued fraction.
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The fraction converges fast below the mean; above it, use the symmetry.
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// Lentz's evaluation of the incomplete beta continued fraction.
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    d = 1.0 / if d.abs() < TINY { TINY } else { d };
    let mut h = d;
    for m in 1..=300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        for numerator in [
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ] {
            d = 1.0 + numerator * d;
            d = 1.0 / if d.abs() < TINY { TINY } else { d };
            c = 1.0 + numerator / c;
            c = if c.abs() < TINY { TINY } else { c };
            h *= d * c;
        }
        if (d * c - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9: about 15 significant digits).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = G[0];
    for (i, g) in G.iter().enumerate().skip(1) {
        sum += g / (x + i as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_test_matches_known_values() {
        // t = -2.8204 on 4 degrees of freedom; the p-value by numerical integration of the
        // t density (Simpson, 200,000 steps).
        let diffs = [-0.5, 0.1, -0.6, -0.4, -0.9];
        let p = paired_t_test(&diffs);
        assert!((p - 0.047_806_704_458_884_686).abs() < 1e-9, "{p}");
        // t distribution with 1 degree of freedom is Cauchy: P(|T| >= 1) = 0.5.
        assert!((paired_t_test(&[0.0, 2.0]) - 0.5).abs() < 1e-12);
        assert_eq!(paired_t_test(&[0.0; 6]), 1.0);
        assert_eq!(paired_t_test(&[0.3; 6]), 0.0);
    }

    #[test]
    fn ln_gamma_is_exact_enough() {
        assert!(ln_gamma(1.0).abs() < 1e-14);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-13);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
    }

    #[test]
    fn randomization_of_no_difference_is_one_and_of_a_clear_one_small() {
        assert_eq!(randomization_test(&[0.0; 20], 1000, 1), 1.0);
        let clear = [0.2; 30];
        let p = randomization_test(&clear, 10_000, 1);
        // Only the all-positive and all-negative flips are as extreme: 2^-29 each.
        assert!(p < 0.001, "{p}");
        // The same seed, the same p-value.
        assert_eq!(p, randomization_test(&clear, 10_000, 1));
    }

    #[test]
    fn bootstrap_interval_brackets_the_mean_and_shrinks_with_n() {
        let small: Vec<f64> = (0..20).map(|i| (i % 5) as f64 / 4.0).collect();
        let large: Vec<f64> = (0..2000).map(|i| (i % 5) as f64 / 4.0).collect();
        let (lo, hi) = bootstrap_interval(&small, RESAMPLES, SEED);
        assert!(lo < mean(&small) && mean(&small) < hi, "{lo} {hi}");
        let (lo2, hi2) = bootstrap_interval(&large, RESAMPLES, SEED);
        assert!(hi2 - lo2 < (hi - lo) / 5.0);
        let (lo, hi) = bootstrap_interval(&[0.7; 10], 100, 1);
        assert!((lo - 0.7).abs() < 1e-12 && (hi - 0.7).abs() < 1e-12);
    }

    #[test]
    fn holm_steps_down() {
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
        // Sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 -> 0.02, 0.03, 0.06, 0.06 (monotone).
        let expected = [0.03, 0.06, 0.06, 0.02];
        for (a, e) in adjusted.iter().zip(expected) {
            assert!((a - e).abs() < 1e-12, "{adjusted:?}");
        }
    }
}
