//! Text encoders: a model is a folder holding `model.onnx`, `tokenizer.json` and, optionally,
//! `stickerlake-model.json` (pooling, normalization, maximum length, input and output
//! names), so another encoder (a CLIP text tower, say) drops in without code changes. The
//! defaults fit sentence-transformers models such as all-MiniLM-L6-v2.
//!
//! ONNX Runtime is loaded at run time from `$ORT_DYLIB_PATH`, or from `onnxruntime/` next to
//! the model folder (where `make model` unpacks it from the `onnxruntime` wheel).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use ndarray::Array2;
use ort::session::Session;
use ort::value::Tensor;
use serde::Deserialize;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

pub const CONFIG_FILE: &str = "stickerlake-model.json";
/// The oldest ONNX Runtime this build's `ort` accepts.
const MIN_ORT: (u32, u32) = (1, 31);

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean of the token vectors, weighted by the attention mask.
    Mean,
    /// The first token's vector.
    Cls,
    /// The output is already one vector per text (`[batch, dim]`).
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    pub pooling: Pooling,
    pub normalize: bool,
    pub max_length: usize,
    pub batch_size: usize,
    pub input_ids: String,
    pub attention_mask: Option<String>,
    pub token_type_ids: Option<String>,
    pub output: String,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            pooling: Pooling::Mean,
            normalize: true,
            max_length: 256,
            batch_size: 64,
            input_ids: "input_ids".into(),
            attention_mask: Some("attention_mask".into()),
            token_type_ids: Some("token_type_ids".into()),
            output: "last_hidden_state".into(),
        }
    }
}

pub struct Encoder {
    // Field order: the session must go before the environment it was built in.
    session: Session,
    _environment: ort::environment::Environment,
    tokenizer: Tokenizer,
    pub config: ModelConfig,
}

impl Encoder {
    pub fn load(model_dir: &Path) -> anyhow::Result<Self> {
        let config = load_config(model_dir)?;
        let model = require(model_dir, "model.onnx")?;
        let tokenizer_path = require(model_dir, "tokenizer.json")?;
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| anyhow::anyhow!("cannot load {}: {e}", tokenizer_path.display()))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: config.max_length,
                ..Default::default()
            }))
            .map_err(|e| anyhow::anyhow!("{}: {e}", tokenizer_path.display()))?;

        let library = onnxruntime_library(model_dir)?;
        let environment = ort::init_from(&library)
            .map_err(|e| {
                anyhow::anyhow!("cannot load ONNX Runtime from {}: {e}", library.display())
            })?
            .with_name("stickerlake")
            .build()
            .map_err(|e| anyhow::anyhow!("cannot start ONNX Runtime: {e}"))?;
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let session = Session::builder(&environment)
            .and_then(|b| b.with_intra_threads(threads).map_err(Into::into))
            .and_then(|mut b| b.commit_from_file(&model))
            .map_err(|e| anyhow::anyhow!("cannot load the model {}: {e}", model.display()))?;
        Ok(Self {
            session,
            _environment: environment,
            tokenizer,
            config,
        })
    }

    /// One vector per text, as rows.
    pub fn encode(&mut self, texts: &[String]) -> anyhow::Result<Array2<f32>> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.iter().map(String::as_str).collect::<Vec<_>>(), true)
            .map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        let (batch, seq) = (encodings.len(), encodings.first().map_or(0, |e| e.len()));
        let column = |get: fn(&tokenizers::Encoding) -> &[u32]| -> Vec<i64> {
            encodings
                .iter()
                .flat_map(|e| get(e).iter().map(|&x| i64::from(x)))
                .collect()
        };
        let mask = column(|e| e.get_attention_mask());
        let mut inputs: Vec<(String, Tensor<i64>)> = vec![(
            self.config.input_ids.clone(),
            Tensor::from_array(([batch, seq], column(|e| e.get_ids())))?,
        )];
        if let Some(name) = &self.config.attention_mask {
            inputs.push((
                name.clone(),
                Tensor::from_array(([batch, seq], mask.clone()))?,
            ));
        }
        if let Some(name) = &self.config.token_type_ids {
            inputs.push((
                name.clone(),
                Tensor::from_array(([batch, seq], column(|e| e.get_type_ids())))?,
            ));
        }
        let inputs: Vec<(String, ort::session::SessionInputValue)> =
            inputs.into_iter().map(|(n, t)| (n, t.into())).collect();
        let output_name = self.config.output.clone();
        let outputs = self
            .session
            .run(inputs)
            .map_err(|e| anyhow::anyhow!("running the model: {e}"))?;
        let output = outputs.get(&output_name).with_context(|| {
            format!(
                "the model has no output named {output_name:?} (set \"output\" in {CONFIG_FILE})"
            )
        })?;
        let (shape, values) = output
            .try_extract_tensor::<f32>()
            .map_err(|e| anyhow::anyhow!("reading {output_name}: {e}"))?;
        let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        let mut vectors = pool(self.config.pooling, &shape, values, &mask)?;
        if self.config.normalize {
            let bad = super::topk::normalize_rows(&mut vectors);
            if let Some(&i) = bad.first() {
                bail!("the model gave a zero or NaN vector for {:?}", texts[i]);
            }
        }
        Ok(vectors)
    }
}

/// Pooling over `[batch, seq, dim]` token vectors (or `[batch, dim]` for `none`). Pure.
pub fn pool(
    pooling: Pooling,
    shape: &[usize],
    values: &[f32],
    mask: &[i64],
) -> anyhow::Result<Array2<f32>> {
    match (pooling, shape) {
        (Pooling::None, &[batch, dim]) => Ok(Array2::from_shape_vec((batch, dim), values.to_vec())?),
        (Pooling::Cls, &[batch, seq, dim]) => Ok(Array2::from_shape_fn((batch, dim), |(b, d)| values[(b * seq) * dim + d])),
        (Pooling::Mean, &[batch, seq, dim]) => {
            let mut pooled = Array2::<f32>::zeros((batch, dim));
            for b in 0..batch {
                let mut count = 0.0f32;
                for t in 0..seq {
                    if mask[b * seq + t] != 0 {
                        count += 1.0;
                        let token = &values[(b * seq + t) * dim..(b * seq + t + 1) * dim];
                        pooled.row_mut(b).iter_mut().zip(token).for_each(|(p, v)| *p += v);
                    }
                }
                pooled.row_mut(b).mapv_inplace(|p| p / count.max(1e-9));
            }
            Ok(pooled)
        }
        (pooling, shape) => bail!("pooling {pooling:?} does not fit an output of shape {shape:?} (set \"pooling\" in {CONFIG_FILE})"),
    }
}

fn load_config(model_dir: &Path) -> anyhow::Result<ModelConfig> {
    if !model_dir.is_dir() {
        bail!("model folder {} does not exist: run `make model`, or give --model DIR (a folder with model.onnx and tokenizer.json)", model_dir.display());
    }
    let path = model_dir.join(CONFIG_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid model config", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ModelConfig::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn require(model_dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = model_dir.join(name);
    if !path.is_file() {
        bail!("the model folder {} has no {name}: a model is a folder with model.onnx and tokenizer.json (run `make model` for the default one)", model_dir.display());
    }
    Ok(path)
}

/// Finds the ONNX Runtime library and checks it before ort loads it (a missing or too old
/// library would make ort panic).
pub fn onnxruntime_library(model_dir: &Path) -> anyhow::Result<PathBuf> {
    let how = "get it with `make model` (it unpacks onnxruntime/capi/libonnxruntime.so.* from the `onnxruntime` wheel on PyPI into ~/.local/share/stickerlake/models/onnxruntime/), or set ORT_DYLIB_PATH to the library";
    let path = match std::env::var_os("ORT_DYLIB_PATH") {
        Some(path) => PathBuf::from(path),
        None => {
            let dir = model_dir
                .parent()
                .unwrap_or(Path::new("."))
                .join("onnxruntime");
            let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("libonnxruntime.so"))
                })
                .collect();
            found.sort();
            match found.pop() {
                Some(path) => path,
                None => bail!(
                    "ONNX Runtime library not found (looked in {} and $ORT_DYLIB_PATH): {how}",
                    dir.display()
                ),
            }
        }
    };
    if !path.is_file() {
        bail!(
            "ONNX Runtime library {} does not exist: {how}",
            path.display()
        );
    }
    if let Some(version) = library_version(&path) {
        if version < MIN_ORT {
            bail!(
                "ONNX Runtime {}.{} at {} is too old (1.31 or newer needed): {how}",
                version.0,
                version.1,
                path.display()
            );
        }
    }
    Ok(path)
}

/// (major, minor) from a name like `libonnxruntime.so.1.32.0`.
fn library_version(path: &Path) -> Option<(u32, u32)> {
    let name = path.file_name()?.to_str()?;
    let mut parts = name.strip_prefix("libonnxruntime.so.")?.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pooling_ignores_padding() {
        // batch 1, seq 3 (last is padding), dim 2.
        let values = [1.0, 2.0, 3.0, 4.0, 100.0, 100.0];
        let pooled = pool(Pooling::Mean, &[1, 3, 2], &values, &[1, 1, 0]).unwrap();
        assert_eq!(pooled.row(0).to_vec(), [2.0, 3.0]);
        let cls = pool(Pooling::Cls, &[1, 3, 2], &values, &[1, 1, 0]).unwrap();
        assert_eq!(cls.row(0).to_vec(), [1.0, 2.0]);
        assert!(pool(Pooling::None, &[1, 3, 2], &values, &[1, 1, 0]).is_err());
    }

    #[test]
    fn library_versions_are_read_from_the_name() {
        assert_eq!(
            library_version(Path::new("/x/libonnxruntime.so.1.32.0")),
            Some((1, 32))
        );
        assert_eq!(library_version(Path::new("/x/libonnxruntime.so")), None);
    }

    #[test]
    fn configs_reject_unknown_keys() {
        let config: ModelConfig = serde_json::from_str(
            r#"{"pooling":"none","output":"text_embeds","token_type_ids":null}"#,
        )
        .unwrap();
        assert_eq!(config.pooling, Pooling::None);
        assert!(config.token_type_ids.is_none());
        assert!(serde_json::from_str::<ModelConfig>(r#"{"polling":"mean"}"#).is_err());
    }
}
