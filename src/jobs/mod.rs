//! Daily SQL jobs (`stickerlake run`).
use crate::warehouse::Warehouse;
use clap::Args;

#[derive(Debug, Args)]
pub struct RunArgs {}

pub async fn run(_args: RunArgs, _warehouse: Warehouse) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
