//! Offline batch search and its evaluation: `embed` (texts to a vector file), `search`
//! (exact top-k of query texts over a vector file) and `eval` (results scored against what
//! users selected and reported, from the warehouse).
//!
//! Guarantees: exact top-k (no approximation), ties broken by `sticker_id`, memory bounded
//! by one block of the vector file plus `k` candidates per query (and the sticker ids).

mod embed;
mod eval;
pub mod metrics;
pub mod model;
mod run;
pub mod topk;
pub mod vectors;

pub use embed::{run as run_embed, EmbedArgs};
pub use eval::{run as run_eval, EvalArgs};
pub use run::{run as run_search, SearchArgs};

/// Where `make model` puts the default encoder.
pub const DEFAULT_MODEL: &str = "models/all-MiniLM-L6-v2";
