//! What "normal" is for a number seen on earlier days: a robust band around their median.
//! Pure arithmetic, unit-tested.
//!
//! The band's half-width is the widest of three floors, so that no single one of them makes a
//! short or quiet history alarm:
//! - `sigmas` × the MAD scaled to a standard deviation (1.4826 × MAD): the spread the history
//!   itself shows, robust to one odd day among the baseline days (a mean and a standard
//!   deviation are not);
//! - `relative` × the median: four baseline days that happen to agree closely would otherwise
//!   make an ordinary 5% wobble an alarm;
//! - `counts` × √median: the Poisson noise of a count, which dominates small counts (20
//!   purchases a day move by ±4.5 with nothing wrong).

use serde::{Deserialize, Serialize};

/// How wide a band is; see the module's doc.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    pub sigmas: f64,
    #[serde(default)]
    pub relative: f64,
    #[serde(default)]
    pub counts: f64,
    /// The smallest half-width at all (a history of zeros still allows this much).
    #[serde(default)]
    pub minimum: f64,
}

/// The expected range of a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub median: f64,
    pub low: f64,
    pub high: f64,
}

impl Band {
    pub fn holds(&self, value: f64) -> bool {
        (self.low..=self.high).contains(&value)
    }
}

pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(match sorted.len() % 2 {
        1 => sorted[mid],
        _ => (sorted[mid - 1] + sorted[mid]) / 2.0,
    })
}

/// The median absolute deviation from the median.
pub fn mad(values: &[f64]) -> Option<f64> {
    let center = median(values)?;
    let deviations: Vec<f64> = values.iter().map(|v| (v - center).abs()).collect();
    median(&deviations)
}

/// The band `tolerance` allows around `history` (none without history). Never below 0: the
/// values are counts, rates and distances.
pub fn band(history: &[f64], tolerance: Tolerance) -> Option<Band> {
    let center = median(history)?;
    let spread = 1.4826 * mad(history)?;
    let half = (tolerance.sigmas * spread)
        .max(tolerance.relative * center.abs())
        .max(tolerance.counts * center.max(0.0).sqrt())
        .max(tolerance.minimum);
    Some(Band {
        median: center,
        low: (center - half).max(0.0),
        high: center + half,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Tolerance = Tolerance {
        sigmas: 3.0,
        relative: 0.0,
        counts: 0.0,
        minimum: 0.0,
    };

    #[test]
    fn median_and_mad() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        // One wild value moves neither.
        assert_eq!(mad(&[10.0, 11.0, 9.0, 1000.0]), Some(1.0));
    }

    #[test]
    fn an_odd_baseline_day_does_not_widen_the_band() {
        let b = band(&[100.0, 102.0, 98.0, 0.0], T).unwrap();
        assert_eq!(b.median, 99.0);
        assert!(b.holds(95.0) && !b.holds(50.0) && !b.holds(150.0));
    }

    #[test]
    fn floors_keep_a_flat_or_small_history_from_alarming() {
        let flat = [1000.0; 4];
        assert_eq!(band(&flat, T).unwrap().high, 1000.0);
        let relative = Tolerance { relative: 0.2, ..T };
        let b = band(&flat, relative).unwrap();
        assert_eq!((b.low, b.high), (800.0, 1200.0));
        let counts = Tolerance { counts: 3.0, ..T };
        let b = band(&[16.0; 4], counts).unwrap();
        assert_eq!((b.low, b.high), (4.0, 28.0));
        let minimum = Tolerance { minimum: 5.0, ..T };
        assert_eq!(band(&[0.0; 4], minimum).unwrap().high, 5.0);
    }

    #[test]
    fn never_below_zero() {
        let b = band(&[1.0, 5.0, 9.0], T).unwrap();
        assert_eq!(b.low, 0.0);
    }
}
