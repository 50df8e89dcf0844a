//! The contract's low floor: the warehouse tables (names, schemas, partition columns, the
//! table-name rule), the term normalization, the tailers' checkpoints and the reserved
//! paths ([`paths`]). Everything that reads or writes the warehouse takes them from here; this module depends on nothing else of ours.

pub mod checkpoint;
pub mod paths;
pub mod source;
mod tables;
pub mod term;

pub use tables::{
    is_table_name, Table, EVENT_DATE, QUARANTINE_SCHEMA, RAW_EVENTS_SCHEMA, REPORTED_STICKER_DAILY,
    SEARCH_TERM_DAILY, VIOLATIONS_SCHEMA,
};
pub use term::normalize_term;
