//! The checks' settings: every default, and `checks.toml` (in `check --checks DIR`), which
//! overrides any of them and turns checks on or off. Each default's reason is in
//! `docs/design.md` ("Checks: what normal is").

use serde::Deserialize;

use super::band::Tolerance;
use super::results::Status;

const fn tolerance(sigmas: f64, relative: f64, counts: f64, minimum: f64) -> Tolerance {
    Tolerance {
        sigmas,
        relative,
        counts,
        minimum,
    }
}

/// Everything `check` needs to know besides the days.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckConfig {
    /// How many earlier weeks make a baseline (`--baseline-weeks` wins over this).
    pub baseline_weeks: u32,
    /// Fewer usable baseline days than this and a check only learns (passes, saying so).
    pub min_baseline_days: usize,
    pub volume: VolumeConfig,
    pub freshness: FreshnessConfig,
    pub schema: SchemaConfig,
    pub distribution: DistributionConfig,
    pub plan: Switch,
    pub sql: Switch,
}

impl Default for CheckConfig {
    fn default() -> Self {
        Self {
            baseline_weeks: 4,
            min_baseline_days: 2,
            volume: VolumeConfig::default(),
            freshness: FreshnessConfig::default(),
            schema: SchemaConfig::default(),
            distribution: DistributionConfig::default(),
            plan: Switch::default(),
            sql: Switch::default(),
        }
    }
}

impl CheckConfig {
    /// `DIR/checks.toml` over the defaults, or the defaults when there is none.
    pub fn load(dir: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let Some(path) = dir.map(|d| d.join("checks.toml")).filter(|p| p.exists()) else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: {e}\nsee docs/design.md (\"Checks: what normal is\") for the settings",
                path.display()
            )
        })
    }
}

/// A check that is only on or off, and how bad its finding is.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Switch {
    pub enabled: bool,
    pub severity: Status,
}

impl Default for Switch {
    fn default() -> Self {
        Self {
            enabled: true,
            severity: Status::Fail,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VolumeConfig {
    pub enabled: bool,
    pub warn: Tolerance,
    pub fail: Tolerance,
}

impl Default for VolumeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            warn: tolerance(3.0, 0.2, 3.0, 5.0),
            fail: tolerance(5.0, 0.35, 5.0, 10.0),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FreshnessConfig {
    pub enabled: bool,
    /// Sources that sent nothing for this many days are gone, not late.
    pub active_days: u32,
}

impl Default for FreshnessConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            active_days: 7,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchemaConfig {
    pub enabled: bool,
    pub new_key: Status,
    pub new_type: Status,
    pub missing_key: Status,
    /// A key on every baseline day is missed when at least this many events would have
    /// held it.
    pub min_expected: f64,
    /// A new key or value type on fewer events than this only warns: one odd client's
    /// event is not a release.
    pub min_events: u64,
}

impl Default for SchemaConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            new_key: Status::Fail,
            new_type: Status::Fail,
            missing_key: Status::Fail,
            min_expected: 10.0,
            min_events: 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistributionConfig {
    pub enabled: bool,
    /// Terms compared one by one; the rest are "other".
    pub top_terms: usize,
    /// The day's Jensen–Shannon distance, against the baseline days' own distances.
    pub warn: Tolerance,
    pub fail: Tolerance,
    /// One term's searches from one source, against the same on the baseline days.
    pub term_warn: Tolerance,
    pub term_fail: Tolerance,
    /// A term is looked at alone once it is this share of the day's searches.
    pub min_term_share: f64,
    pub report_rate_warn: Tolerance,
    pub report_rate_fail: Tolerance,
}

impl Default for DistributionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            top_terms: 50,
            warn: tolerance(3.0, 0.5, 0.0, 0.02),
            fail: tolerance(6.0, 1.0, 0.0, 0.05),
            term_warn: tolerance(3.0, 0.5, 3.0, 10.0),
            term_fail: tolerance(5.0, 1.0, 5.0, 20.0),
            min_term_share: 0.01,
            report_rate_warn: tolerance(3.0, 0.25, 0.0, 0.0),
            report_rate_fail: tolerance(5.0, 0.5, 0.0, 0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_file_overrides_what_it_names() {
        let config: CheckConfig = toml::from_str(
            "baseline_weeks = 6\n[volume]\nfail = { sigmas = 4.0, relative = 0.5 }\n[schema]\nnew_key = \"warn\"\n[sql]\nenabled = false\n",
        )
        .unwrap();
        assert_eq!(config.baseline_weeks, 6);
        assert_eq!(config.volume.fail.relative, 0.5);
        assert_eq!(config.volume.warn, VolumeConfig::default().warn);
        assert_eq!(config.schema.new_key, Status::Warn);
        assert!(!config.sql.enabled && config.plan.enabled);
        assert!(toml::from_str::<CheckConfig>("[volume]\nsigma = 1").is_err());
    }
}
