//! Handing a check's JSON to whoever acts on it: a shell command (`--notify`) or an HTTP
//! endpoint (`--webhook`). A URL is never printed with the credentials it may carry.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
const WEBHOOK_ATTEMPTS: u32 = 3;

/// Runs `command` with `sh -c`, the JSON on its standard input.
pub fn notify(command: &str, json: &str) -> anyhow::Result<()> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .spawn()
        .with_context(|| format!("--notify: cannot start `{command}`"))?;
    let mut stdin = child.stdin.take().expect("piped");
    // A command that does not read its input is its own business: a closed pipe is no error.
    match stdin.write_all(json.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(e).context("--notify: writing the results to the command")
        }
        _ => {}
    }
    drop(stdin);
    let status = child.wait().context("--notify: waiting for the command")?;
    if !status.success() {
        bail!("--notify: `{command}` failed ({status}); the results are recorded in check_results");
    }
    Ok(())
}

/// POSTs the JSON to `url`, trying again after 1 s and 2 s on a network error or a 5xx.
pub async fn webhook(url: &url::Url, json: &str) -> anyhow::Result<()> {
    let shown = redacted(url);
    let client = reqwest::Client::builder()
        .timeout(WEBHOOK_TIMEOUT)
        .build()
        .context("--webhook: building an HTTP client")?;
    let mut last = String::new();
    for attempt in 0..WEBHOOK_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
        }
        let sent = client
            .post(url.clone())
            .header("content-type", "application/json")
            .body(json.to_owned())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) if !response.status().is_server_error() => {
                bail!("--webhook {shown}: the server answered {}; the results are recorded in check_results", response.status())
            }
            Ok(response) => last = format!("the server answered {}", response.status()),
            // reqwest's errors name the URL; say only what kind of error it was.
            Err(e) if e.is_timeout() => {
                last = format!("no answer within {}s", WEBHOOK_TIMEOUT.as_secs())
            }
            Err(e) if e.is_connect() => last = "cannot connect".into(),
            Err(_) => last = "the request failed".into(),
        }
    }
    bail!("--webhook {shown}: {last} ({WEBHOOK_ATTEMPTS} attempts); the results are recorded in check_results")
}

/// `url` as scheme, host and port only: its user, password, path and query may all be
/// secrets (a Slack webhook's token is its path).
pub fn redacted(url: &url::Url) -> String {
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let rest = if url.path() != "/" || url.query().is_some() {
        "/…"
    } else {
        "/"
    };
    format!(
        "{}://{}{port}{rest}",
        url.scheme(),
        url.host_str().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_not_shown() {
        let url = url::Url::parse("https://bot:s3cret@hooks.example.com/T0/B0?token=abc").unwrap();
        let shown = redacted(&url);
        assert!(
            !shown.contains("s3cret") && !shown.contains("abc") && !shown.contains("bot"),
            "{shown}"
        );
        assert_eq!(shown, "https://hooks.example.com/…");
    }
}
