//! The tailer's log lines on stderr: `tailer: …` for a person, or with `--log-format json`
//! one JSON object per line (`ts`, `level`, `message`) for journald and log collectors.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{SecondsFormat, Utc};

static JSON: AtomicBool = AtomicBool::new(false);

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn set_format(format: LogFormat) {
    JSON.store(format == LogFormat::Json, Ordering::Relaxed);
}

pub fn info(message: impl std::fmt::Display) {
    emit("info", "", &message.to_string());
}

pub fn warn(message: impl std::fmt::Display) {
    emit("warn", "warning: ", &message.to_string());
}

pub fn error(message: impl std::fmt::Display) {
    emit("error", "error: ", &message.to_string());
}

fn emit(level: &str, prefix: &str, message: &str) {
    eprintln!(
        "{}",
        line(JSON.load(Ordering::Relaxed), level, prefix, message)
    );
}

/// One log line. Pure but for the clock.
fn line(json: bool, level: &str, prefix: &str, message: &str) -> String {
    match json {
        false => format!("tailer: {prefix}{message}"),
        true => serde_json::json!({
            "ts": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            "level": level,
            "target": "stickerlake::tailer",
            "message": message,
        })
        .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_for_people_or_one_json_object() {
        assert_eq!(line(false, "warn", "warning: ", "x"), "tailer: warning: x");
        let json: serde_json::Value =
            serde_json::from_str(&line(true, "warn", "warning: ", "a \"quoted\"\nline")).unwrap();
        assert_eq!(json["level"], "warn");
        assert_eq!(json["message"], "a \"quoted\"\nline");
        assert!(json["ts"].as_str().unwrap().ends_with('Z'));
    }
}
