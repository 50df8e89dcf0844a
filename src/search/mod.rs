//! Offline batch search and its evaluation: `embed` (texts to a vector file), `search`
//! (exact top-k of query texts over a vector file) and `eval` (results scored against what
//! users selected and reported, from the warehouse).
//!
//! Guarantees: exact top-k (no approximation), ties broken by `sticker_id`, memory bounded
//! by three blocks of the vector file (one scored, two read ahead) plus `k` candidates per
//! query (and the sticker ids).

mod embed;
mod eval;
mod eval_page;
mod gate;
mod kernel;
pub mod metrics;
pub mod model;
mod pages;
mod run;
mod stats;
pub mod topk;
pub mod vectors;

pub use embed::{run as run_embed, EmbedArgs};
pub use eval::{run as run_eval, EvalArgs};
pub use run::{run as run_search, SearchArgs};

use std::path::PathBuf;

/// Where `make model` puts the default encoder, so an installed binary finds it from any
/// directory: `$XDG_DATA_HOME/stickerlake/models/all-MiniLM-L6-v2`, by default under
/// `~/.local/share`. `--model` or `$STICKERLAKE_MODEL` choose another.
pub fn default_model_dir() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("stickerlake/models/all-MiniLM-L6-v2")
}
