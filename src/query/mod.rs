//! Ad-hoc SQL (`stickerlake sql`).
use crate::warehouse::Warehouse;
use clap::Args;

#[derive(Debug, Args)]
pub struct SqlArgs {}

pub async fn run(_args: SqlArgs, _warehouse: Warehouse) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
