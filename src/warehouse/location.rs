//! Parsing a warehouse location and building its object store.
//!
//! S3 settings (credentials, region, endpoint, `AWS_ALLOW_HTTP`) come from the standard
//! `AWS_*` environment variables; none of them is ever printed.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{ClientConfigKey, ObjectStore, RetryConfig};
use url::Url;

use super::local_store::LocalStore;
use super::WarehouseError;

/// Where a warehouse lives.
#[derive(Clone, Debug, PartialEq)]
pub enum Location {
    /// An absolute local directory.
    Local(std::path::PathBuf),
    /// A bucket and a prefix inside it (no leading or trailing slash).
    S3 { bucket: String, prefix: String },
}

impl Location {
    pub fn parse(text: &str) -> Result<Self, WarehouseError> {
        let error = |reason: &str| WarehouseError::Open {
            location: text.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(error(
                    "an S3 warehouse is s3://BUCKET/PREFIX: the bucket is missing",
                ));
            }
            return Ok(Location::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(error(&format!(
                "the scheme {scheme}:// is not supported: use a local path or s3://BUCKET/PREFIX"
            )));
        }
        if text.is_empty() {
            return Err(error("the warehouse path is empty"));
        }
        let path = std::path::absolute(text).map_err(|e| error(&e.to_string()))?;
        Ok(Location::Local(path))
    }

    pub(super) fn build_store(&self) -> Result<(Arc<dyn ObjectStore>, Path), WarehouseError> {
        match self {
            Location::Local(dir) => {
                let root = Path::from_absolute_path(dir).map_err(|e| WarehouseError::Open {
                    location: self.to_string(),
                    reason: e.to_string(),
                })?;
                Ok((Arc::new(LocalStore::new()), root))
            }
            Location::S3 { bucket, prefix } => {
                // Timeouts through config keys: replacing the client options would drop the
                // ones the AWS_* variables set (AWS_ALLOW_HTTP among them).
                let timeout = seconds_from_env("STICKERLAKE_S3_TIMEOUT_SECS", 120);
                let store = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry_config())
                    .with_config(
                        AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                        format!("{}ms", timeout.as_millis()),
                    )
                    .with_config(
                        AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                        "10s",
                    )
                    .build()
                    .map_err(|e| WarehouseError::Open {
                        location: self.to_string(),
                        reason: format!("{e} (check the AWS_* environment variables)"),
                    })?;
                Ok((Arc::new(store), Path::from(prefix.as_str())))
            }
        }
    }

    /// The URL of a folder inside the warehouse, ending with `/`, as DataFusion lists it.
    pub fn folder_url(&self, relative: &str) -> Url {
        let relative = relative.trim_matches('/');
        let base = match self {
            Location::Local(dir) => {
                Url::from_directory_path(dir).expect("a warehouse directory is absolute")
            }
            Location::S3 { bucket, prefix } if prefix.is_empty() => {
                Url::parse(&format!("s3://{bucket}/")).expect("bucket names are valid hosts")
            }
            Location::S3 { bucket, prefix } => {
                Url::parse(&format!("s3://{bucket}/{prefix}/")).expect("valid S3 URL")
            }
        };
        if relative.is_empty() {
            base
        } else {
            base.join(&format!("{relative}/"))
                .expect("relative folder joins")
        }
    }

    /// The URL of an object inside the warehouse.
    pub fn object_url(&self, relative: &str) -> Url {
        let folder = self.folder_url(relative);
        Url::parse(folder.as_str().trim_end_matches('/'))
            .expect("a folder URL without its slash is valid")
    }

    /// The URL that identifies the object store (scheme and bucket) for DataFusion.
    pub fn store_url(&self) -> Url {
        match self {
            Location::Local(_) => Url::parse("file:///").expect("valid"),
            Location::S3 { bucket, .. } => Url::parse(&format!("s3://{bucket}")).expect("valid"),
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Location::Local(_))
    }
}

/// Retries with exponential backoff for transient failures (5xx, timeouts, resets), for at
/// most `STICKERLAKE_S3_RETRY_SECS` per request (default 180).
fn retry_config() -> RetryConfig {
    RetryConfig {
        max_retries: 10,
        retry_timeout: retry_window(),
        ..RetryConfig::default()
    }
}

/// How long a failing S3 request keeps being retried.
pub fn retry_window() -> Duration {
    seconds_from_env("STICKERLAKE_S3_RETRY_SECS", 180)
}

fn seconds_from_env(name: &str, default: u64) -> Duration {
    let secs = std::env::var(name).ok().and_then(|v| v.parse::<f64>().ok());
    Duration::from_secs_f64(secs.filter(|s| *s > 0.0).unwrap_or(default as f64))
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(dir) => write!(f, "{}", dir.display()),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_split_into_bucket_and_prefix() {
        assert_eq!(
            Location::parse("s3://lake/prod/events/").unwrap(),
            Location::S3 {
                bucket: "lake".into(),
                prefix: "prod/events".into()
            }
        );
        assert_eq!(
            Location::parse("s3://lake").unwrap(),
            Location::S3 {
                bucket: "lake".into(),
                prefix: String::new()
            }
        );
        assert!(Location::parse("s3:///x").is_err());
        assert!(Location::parse("gs://b/p")
            .unwrap_err()
            .to_string()
            .contains("not supported"));
    }

    #[test]
    fn folder_urls_end_with_a_slash() {
        let s3 = Location::parse("s3://lake/prod").unwrap();
        assert_eq!(
            s3.folder_url("raw_events").as_str(),
            "s3://lake/prod/raw_events/"
        );
        let local = Location::parse("/tmp/wh").unwrap();
        assert_eq!(
            local.folder_url("raw_events").as_str(),
            "file:///tmp/wh/raw_events/"
        );
        assert_eq!(local.folder_url("").as_str(), "file:///tmp/wh/");
    }
}
