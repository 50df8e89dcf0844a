//! Where statements run: in this process, or on an Apache Ballista cluster
//! (`--engine df://HOST:PORT`, cargo feature `ballista`).
//!
//! Ballista runs the same DataFusion version, so a job's SQL and an analyst's query need no
//! translation: the session that plans them is the one `sql` and `run` use locally (tables,
//! JSON functions), with Ballista's query planner in front, which sends the logical plan to
//! the scheduler. Results stream back here, so every output is still written by this
//! process, exactly as with the local engine. Checks happen before anything runs: a bad
//! address or a build without the feature is refused before a file is read or written.

use std::time::Duration;

use datafusion::prelude::SessionContext;

/// Ballista's own default scheduler port.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// How long `--engine` waits for the scheduler to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The engine statements run on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Engine {
    /// DataFusion in this process.
    #[default]
    Local,
    /// A Ballista scheduler.
    Ballista { host: String, port: u16 },
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Engine::Local => f.write_str("local"),
            Engine::Ballista { host, port } => write!(f, "df://{host}:{port}"),
        }
    }
}

/// `--engine`, for the commands that run statements (`run`, `sql`).
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArg {
    /// Where statements run: `local` (this process) or df://HOST:PORT, an Apache Ballista
    /// scheduler (needs a build with `--features ballista`; results come back here).
    #[arg(
        long = "engine",
        value_name = "local|df://HOST:PORT",
        env = "STICKERLAKE_ENGINE",
        default_value = "local",
        value_parser = parse_engine
    )]
    pub engine: Engine,
}

/// Parses `--engine`: `local`, or `df://HOST[:PORT]` for a Ballista scheduler.
fn parse_engine(text: &str) -> Result<Engine, String> {
    if text == "local" {
        return Ok(Engine::Local);
    }
    let usage = "give df://HOST:PORT (a Ballista scheduler, e.g. df://127.0.0.1:50050) or `local`";
    let Some(rest) = text.strip_prefix("df://") else {
        return Err(format!("unknown engine {text:?}: {usage}"));
    };
    let (host, port) = scheduler_address(rest.strip_suffix('/').unwrap_or(rest))
        .map_err(|why| format!("engine {text:?}: {why}; {usage}"))?;
    Ok(Engine::Ballista { host, port })
}

/// `HOST[:PORT]` of a Ballista scheduler (the port defaults to Ballista's own).
pub fn scheduler_address(address: &str) -> Result<(String, u16), String> {
    let (host, port) = match address.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{port:?} is not a port"))?;
            (host, port)
        }
        None => (address, DEFAULT_SCHEDULER_PORT),
    };
    if host.is_empty() || host.contains(['/', '?', '#', '@']) {
        return Err("no host name".to_owned());
    }
    Ok((host.to_owned(), port))
}

impl Engine {
    /// Fails unless statements can run on this engine: the build has it and, for Ballista,
    /// the scheduler accepts connections. Called before anything is read or written.
    pub async fn check(&self) -> anyhow::Result<()> {
        let Engine::Ballista { host, port } = self else {
            return Ok(());
        };
        if !cfg!(feature = "ballista") {
            anyhow::bail!(
                "--engine {self}: this stickerlake was built without Ballista; build it with `cargo build --release --features ballista` (or leave --engine out to run here)"
            );
        }
        let address = format!("{host}:{port}");
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&address)).await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => anyhow::bail!(
                "cannot reach the Ballista scheduler at {self} ({e}): start one (`stickerlake ballista scheduler --bind {address}`) or fix --engine; nothing was run"
            ),
            Err(_) => anyhow::bail!(
                "cannot reach the Ballista scheduler at {self}: no answer in {} s; check the address and the network, nothing was run",
                CONNECT_TIMEOUT.as_secs()
            ),
        }
    }

    /// `ctx` (its tables, functions and settings) with its statements sent to this engine.
    pub fn attach(&self, ctx: SessionContext) -> anyhow::Result<SessionContext> {
        match self {
            Engine::Local => Ok(ctx),
            Engine::Ballista { host, port } => attach_ballista(ctx, host, *port),
        }
    }
}

#[cfg(feature = "ballista")]
fn attach_ballista(ctx: SessionContext, host: &str, port: u16) -> anyhow::Result<SessionContext> {
    use anyhow::Context;
    use ballista_core::extension::SessionStateExt;
    let state = ctx
        .state()
        .upgrade_for_ballista(format!("http://{host}:{port}"))
        .with_context(|| format!("setting up --engine df://{host}:{port}"))?;
    let mut remote = SessionContext::new_with_state(state);
    // Ballista's upgrade replaces the session's scalar functions with DataFusion's own.
    crate::engine::register_functions(&mut remote)?;
    Ok(remote)
}

#[cfg(not(feature = "ballista"))]
fn attach_ballista(_ctx: SessionContext, host: &str, port: u16) -> anyhow::Result<SessionContext> {
    anyhow::bail!("--engine df://{host}:{port}: this stickerlake was built without Ballista")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ballista(host: &str, port: u16) -> Engine {
        Engine::Ballista {
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn engines_parse() {
        assert_eq!(parse_engine("local"), Ok(Engine::Local));
        assert_eq!(
            parse_engine("df://127.0.0.1:50050"),
            Ok(ballista("127.0.0.1", 50050))
        );
        assert_eq!(
            parse_engine("df://scheduler.internal"),
            Ok(ballista("scheduler.internal", DEFAULT_SCHEDULER_PORT))
        );
        assert_eq!(parse_engine("df://h:7/"), Ok(ballista("h", 7)));
        assert_eq!(ballista("h", 7).to_string(), "df://h:7");
    }

    #[test]
    fn bad_engines_say_what_to_give() {
        for bad in [
            "spark://h:1",
            "df://",
            "df://:50050",
            "df://h:port",
            "df://h:0",
            "df://h:1/x",
            "h:1",
        ] {
            let error = parse_engine(bad).unwrap_err();
            assert!(error.contains("df://HOST:PORT"), "{bad}: {error}");
        }
    }
}
