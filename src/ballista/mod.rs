//! `stickerlake ballista scheduler|executor` (cargo feature `ballista`): Apache Ballista's
//! own scheduler and executor, started with what the warehouse needs, so a cluster answers
//! `--engine df://HOST:PORT` exactly as the local engine does.
//!
//! They are Ballista 55's processes (`ballista-scheduler`, `ballista-executor`), not a
//! scheduler of ours. Two things are added, because a plan may need them and stock binaries
//! do not have them: the JSON functions (`json_get_str`, `->>`, …), which every process
//! decoding a plan must know by name; and the warehouse's store (`--warehouse`), read
//! through the same compaction view as every stickerlake reader, with the same S3 settings
//! (`AWS_*`), so the scheduler lists a table as `stickerlake sql` would.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::utils::default_session_builder;
use ballista_core::RuntimeProducer;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use clap::{Args, Subcommand};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionContext;

use crate::engine::{register_functions, scheduler_address, DEFAULT_SCHEDULER_PORT};
use crate::units::parse_interval;
use crate::warehouse::Warehouse;

/// Arguments of `stickerlake ballista`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples (one scheduler, two executors, then the jobs on them):
  stickerlake --warehouse s3://lake/prod ballista scheduler --bind 127.0.0.1:50050 &
  stickerlake --warehouse s3://lake/prod ballista executor --scheduler 127.0.0.1:50050 --port 50051 &
  stickerlake --warehouse s3://lake/prod ballista executor --scheduler 127.0.0.1:50050 --port 50061 &
  stickerlake --warehouse s3://lake/prod run all --date yesterday --engine df://127.0.0.1:50050"
)]
pub struct BallistaArgs {
    #[command(subcommand)]
    pub process: Process,
    /// Ballista's own log on stderr, from this level up: what a lost executor or a
    /// rescheduled task leaves behind.
    #[arg(long, value_enum, default_value_t = LogLevel::Warn, global = true)]
    pub log_level: LogLevel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

impl From<LogLevel> for tracing_subscriber::filter::LevelFilter {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => Self::ERROR,
            LogLevel::Warn => Self::WARN,
            LogLevel::Info => Self::INFO,
            LogLevel::Debug => Self::DEBUG,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Process {
    /// Run a Ballista scheduler (it plans statements and hands tasks to executors).
    #[command(after_help = "Example:
  stickerlake --warehouse ./warehouse ballista scheduler --bind 127.0.0.1:50050 --executor-timeout 30s")]
    Scheduler(SchedulerArgs),
    /// Run a Ballista executor (it runs tasks from a scheduler and serves their results).
    #[command(after_help = "Example:
  stickerlake --warehouse ./warehouse ballista executor --scheduler 127.0.0.1:50050 --port 50051 --heartbeat-interval 10s")]
    Executor(ExecutorArgs),
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on (what `--engine df://HOST:PORT` names).
    #[arg(long, value_name = "HOST:PORT", default_value_t = SocketAddr::from(([127, 0, 0, 1], DEFAULT_SCHEDULER_PORT)))]
    pub bind: SocketAddr,
    /// An executor silent this long is dead: its tasks run again elsewhere, and with no
    /// executor left after it, running jobs fail. Longer than the executors'
    /// --heartbeat-interval (two or three of them).
    #[arg(long, value_name = "DURATION", default_value = "180s", value_parser = parse_interval)]
    pub executor_timeout: Duration,
    /// How tasks reach executors; the executors must say the same.
    #[arg(long, value_enum, default_value_t = Scheduling::Push)]
    pub scheduling: Scheduling,
}

/// Ballista's task scheduling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheduling {
    /// The scheduler launches tasks on executors (Ballista's default; lower latency).
    Push,
    /// Executors ask the scheduler for tasks. Survives an executor lost mid-job where push
    /// can hang: Ballista 55 may drop a task whose launch failed on a dying executor.
    Pull,
}

impl From<Scheduling> for TaskSchedulingPolicy {
    fn from(scheduling: Scheduling) -> Self {
        match scheduling {
            Scheduling::Push => TaskSchedulingPolicy::PushStaged,
            Scheduling::Pull => TaskSchedulingPolicy::PullStaged,
        }
    }
}

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler to register with.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50050", value_parser = scheduler_address)]
    pub scheduler: (String, u16),
    /// Address the executor listens on and tells the scheduler.
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    pub bind: String,
    /// Port of its Arrow Flight service (results and shuffle data); the task service listens
    /// on the next port up.
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// Tasks run at once (default: this machine's cores).
    #[arg(long, value_name = "N")]
    pub concurrent_tasks: Option<usize>,
    /// Folder for shuffle files (default: a folder of its own under the temp dir).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// How often it tells the scheduler it is alive (shorter than the scheduler's
    /// --executor-timeout).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_interval)]
    pub heartbeat_interval: Duration,
    /// How tasks reach it: as the scheduler's --scheduling says.
    #[arg(long, value_enum, default_value_t = Scheduling::Push)]
    pub scheduling: Scheduling,
}

/// Ballista counts in whole seconds: a duration rounded up, at least one.
fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs_f64().ceil().max(1.0) as u64
}

pub async fn run(args: BallistaArgs, warehouse: Warehouse) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_max_level(args.log_level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    match args.process {
        Process::Scheduler(args) => scheduler(args, warehouse).await,
        Process::Executor(args) => executor(args, warehouse).await,
    }
}

async fn scheduler(args: SchedulerArgs, warehouse: Warehouse) -> anyhow::Result<()> {
    let host = args.bind.ip().to_string();
    let defaults = SchedulerConfig::default();
    let timeout = whole_seconds(args.executor_timeout);
    let config = SchedulerConfig {
        bind_host: host.clone(),
        external_host: host,
        bind_port: args.bind.port(),
        executor_timeout_seconds: timeout,
        // Looked for often enough that a dead executor is found within the timeout's order.
        expire_dead_executor_interval_seconds: defaults
            .expire_dead_executor_interval_seconds
            .min(timeout.div_ceil(2)),
        // With every executor gone, running jobs fail after one more timeout, not never.
        no_executors_grace_period_seconds: timeout,
        scheduling_policy: args.scheduling.into(),
        ..defaults
    }
    .with_override_session_builder(Arc::new(move |config| {
        let mut ctx = SessionContext::new_with_state(default_session_builder(config)?);
        register_functions(&mut ctx)
            .map_err(|e| datafusion::error::DataFusionError::External(e.into()))?;
        ctx.register_object_store(&warehouse.location().store_url(), warehouse.store().clone());
        Ok(ctx.state())
    }));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .context("setting up the Ballista scheduler's state")?;
    eprintln!(
        "ballista scheduler: listening on {} (clients: --engine df://{})",
        args.bind, args.bind
    );
    start_server(cluster, args.bind, Arc::new(config))
        .await
        .with_context(|| format!("the Ballista scheduler on {} stopped", args.bind))
}

async fn executor(args: ExecutorArgs, warehouse: Warehouse) -> anyhow::Result<()> {
    let (scheduler_host, scheduler_port) = args.scheduler;
    let grpc_port = args
        .port
        .checked_add(1)
        .context("--port must leave room for the next port")?;
    let work_dir = match args.work_dir {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!("stickerlake-ballista-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("cannot create the work dir {}", work_dir.display()))?;
    let work_dir = work_dir.to_string_lossy().into_owned();
    let temp_dir = work_dir.clone();
    let runtime: RuntimeProducer = Arc::new(move |_config| {
        let runtime = RuntimeEnvBuilder::new()
            .with_temp_file_path(temp_dir.clone())
            .build()?;
        runtime.register_object_store(&warehouse.location().store_url(), warehouse.store().clone());
        Ok(Arc::new(runtime))
    });
    let config = ExecutorProcessConfig {
        bind_host: args.bind.clone(),
        external_host: Some(args.bind.clone()),
        port: args.port,
        grpc_port,
        scheduler_host,
        scheduler_port,
        // The scheduler may still be starting: wait for it rather than fail at once.
        scheduler_connect_timeout_seconds: 30,
        vcores: args.concurrent_tasks.unwrap_or(0),
        work_dir: Some(work_dir),
        executor_heartbeat_interval_seconds: whole_seconds(args.heartbeat_interval),
        task_scheduling_policy: args.scheduling.into(),
        override_function_registry: Some(Arc::new(function_registry()?)),
        override_runtime_producer: Some(runtime),
        ..ExecutorProcessConfig::default()
    };
    eprintln!(
        "ballista executor: serving on {}:{} (tasks on {grpc_port}), scheduler {}:{}",
        args.bind, args.port, config.scheduler_host, config.scheduler_port
    );
    start_executor_process(Arc::new(config))
        .await
        .with_context(|| {
            format!(
                "the Ballista executor on {}:{} stopped",
                args.bind, args.port
            )
        })
}

/// Ballista's default functions plus the JSON ones, by name (how a task's plan finds them).
fn function_registry() -> anyhow::Result<ballista_core::registry::BallistaFunctionRegistry> {
    let mut registry = ballista_core::registry::BallistaFunctionRegistry::default();
    let mut ctx = SessionContext::new();
    register_functions(&mut ctx)?;
    let state = ctx.state();
    for (name, function) in state.scalar_functions() {
        registry
            .scalar_functions
            .entry(name.clone())
            .or_insert_with(|| function.clone());
    }
    Ok(registry)
}
