//! The query engine every command shares: the warehouse's tables registered in a DataFusion
//! session ([`catalog`]) and read-only execution of SQL, streamed ([`execute`]). `sql`,
//! `run`, `search` and `eval` all sit on it; none of them imports another command. `sql` and
//! `run` may send their statements to a Ballista cluster instead ([`Engine`]).

mod bounded;
mod catalog;
mod execute;
pub mod job_catalog;
mod remote;
pub mod scan;
mod snapshot;

pub use catalog::{
    date_between, date_literal, days_since_epoch, register_functions, NotYet, SessionOptions,
    TableInfo, WarehouseTables,
};
pub use execute::{int_column, parse_statements, query_all, read_only, string_column, Query};
pub use remote::{scheduler_address, Engine, EngineArg, DEFAULT_SCHEDULER_PORT};
