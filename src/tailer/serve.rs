//! `tailer --metrics-addr HOST:PORT`: `GET /metrics` (Prometheus text format) and `GET
//! /health` (200 or 503, JSON). Two fixed answers to plain GETs need no framework: a
//! request's head is read (at most 8 KiB, for 5 s), answered, and the connection closed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::observe::{health, HealthLimits, Observed};

const MAX_HEAD: usize = 8 << 10;
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Binds `address` now (a taken port is an error at start, not later) and answers on a task
/// of its own for as long as the process runs.
pub async fn serve(
    address: &str,
    observed: Arc<Observed>,
    limits: HealthLimits,
    lost_races: impl Fn() -> u64 + Send + Sync + 'static,
) -> anyhow::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("--metrics-addr {address}: cannot listen there"))?;
    let bound = listener.local_addr()?;
    let lost_races = Arc::new(lost_races);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (observed, lost_races) = (observed.clone(), lost_races.clone());
            tokio::spawn(async move {
                let _ = answer(stream, &observed, limits, &*lost_races).await;
            });
        }
    });
    Ok(bound)
}

async fn answer(
    mut stream: TcpStream,
    observed: &Observed,
    limits: HealthLimits,
    lost_races: &(dyn Fn() -> u64 + Send + Sync),
) -> std::io::Result<()> {
    let head = tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream))
        .await
        .unwrap_or(Ok(Vec::new()))?;
    let (status, kind, body) = respond(&head, observed, limits, lost_races);
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(reply.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(head)
}

/// The status line, content type and body for a request head.
fn respond(
    head: &[u8],
    observed: &Observed,
    limits: HealthLimits,
    lost_races: &(dyn Fn() -> u64 + Send + Sync),
) -> (&'static str, &'static str, String) {
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut words = std::str::from_utf8(line).unwrap_or("").split(' ');
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    const TEXT: &str = "text/plain; charset=utf-8";
    match (method, path) {
        ("GET", "/metrics") => {
            super::observe::Metrics::mirror(&observed.metrics.commit_conflicts, lost_races());
            let body = observed.metrics.text();
            ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body)
        }
        ("GET", "/health") => {
            let state = observed.health.lock().expect("not poisoned").clone();
            let answer = health(&state, limits, Utc::now());
            let status = match answer.status {
                "ok" => "200 OK",
                _ => "503 Service Unavailable",
            };
            let body = serde_json::to_string(&answer).expect("serializes") + "\n";
            (status, "application/json", body)
        }
        ("GET", _) => ("404 Not Found", TEXT, "try /metrics or /health\n".into()),
        _ => ("405 Method Not Allowed", TEXT, "only GET\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HealthLimits = HealthLimits {
        stall_after: Duration::from_secs(300),
        max_lag: None,
    };

    #[test]
    fn routes() {
        let observed = Observed::default();
        let get = |head: &str| respond(head.as_bytes(), &observed, LIMITS, &|| 0).0;
        assert_eq!(get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), "200 OK");
        assert_eq!(get("GET /health?verbose HTTP/1.1\r\n\r\n"), "200 OK");
        assert_eq!(get("GET / HTTP/1.1\r\n\r\n"), "404 Not Found");
        assert_eq!(
            get("POST /metrics HTTP/1.1\r\n\r\n"),
            "405 Method Not Allowed"
        );
        observed.write_failed(&anyhow::anyhow!("S3 said no"));
        let (status, _, body) = respond(b"GET /health HTTP/1.1\r\n\r\n", &observed, LIMITS, &|| 0);
        assert_eq!(status, "503 Service Unavailable");
        assert!(body.contains("S3 said no"), "{body}");
    }
}
