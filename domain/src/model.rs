//! Models the data scientists export as ONNX, as alert rules use them. A model rule keeps the
//! model's bytes in its event, so every instance and every replay scores with the very same model;
//! a runtime outside the domain (`infra`, tract) turns those bytes into a [`Scorer`].
//!
//! A model takes one float tensor of shape `[1, inputs]`: the newest `inputs` readings of the
//! rule's sensor, oldest first. Its first output's first element is the score.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::validation::ValidationError;

/// The bytes of an ONNX model, at most [`OnnxModel::MAX_BYTES`]: it travels inside an event,
/// which a Cosmos DB item bounds at 2 MB.
#[derive(Clone, PartialEq, Eq)]
pub struct OnnxModel {
    bytes: Arc<[u8]>,
    sha256: [u8; 32],
}

impl OnnxModel {
    pub const MAX_BYTES: usize = 512 * 1024;
    /// The most readings one model looks at.
    pub const MAX_INPUTS: usize = 1024;

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ValidationError> {
        if bytes.is_empty() {
            return Err(ValidationError::new("model", "must not be empty"));
        }
        if bytes.len() > Self::MAX_BYTES {
            return Err(ValidationError::new(
                "model",
                format!(
                    "is {} bytes; a model may have at most {}",
                    bytes.len(),
                    Self::MAX_BYTES
                ),
            ));
        }
        let sha256 = Sha256::digest(&bytes).into();
        Ok(Self {
            bytes: bytes.into(),
            sha256,
        })
    }

    /// A model as JSON carries it: standard base64.
    pub fn from_base64(text: &str) -> Result<Self, ValidationError> {
        // Checked before decoding, so an oversized upload is refused without decoding it.
        if text.len() > Self::MAX_BYTES.div_ceil(3) * 4 {
            return Err(ValidationError::new(
                "model",
                format!("a model may have at most {} bytes", Self::MAX_BYTES),
            ));
        }
        let bytes = BASE64
            .decode(text)
            .map_err(|_| ValidationError::new("model", "must be standard base64"))?;
        Self::from_bytes(bytes)
    }

    pub fn to_base64(&self) -> String {
        BASE64.encode(&self.bytes)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Names the model in answers and logs, and keys the runtime's cache of loaded models.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

/// Never the bytes: rules end up in logs.
impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "OnnxModel({} bytes, sha256 {})",
            self.bytes.len(),
            self.sha256_hex()
        )
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// The bytes are no model the runtime can run, or its input or output does not fit.
    #[error("{0}")]
    Unusable(String),
    #[error("scoring failed: {0}")]
    Scoring(String),
}

/// A loaded model, ready to score.
pub trait Scorer: Send + Sync {
    /// Scores `window`: exactly the `inputs` newest readings the model was loaded for, oldest
    /// first.
    fn score(&self, window: &[f32]) -> Result<f32, ModelError>;
}

/// Turns a model's bytes into a scorer, checking it takes `[1, inputs]` floats and answers a
/// number.
pub trait ModelRuntime: Send + Sync {
    fn load(&self, model: &OnnxModel, inputs: usize) -> Result<Arc<dyn Scorer>, ModelError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_are_bounded_and_named_by_their_digest() {
        assert!(OnnxModel::from_bytes(Vec::new()).is_err());
        assert!(OnnxModel::from_bytes(vec![0; OnnxModel::MAX_BYTES + 1]).is_err());
        let model = OnnxModel::from_bytes(b"abc".to_vec()).unwrap();
        assert_eq!(
            model.sha256_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(OnnxModel::from_base64(&model.to_base64()).unwrap(), model);
        assert_eq!(
            OnnxModel::from_base64("not base64!").unwrap_err().field,
            "model"
        );
        let huge = "A".repeat(OnnxModel::MAX_BYTES * 2);
        assert!(OnnxModel::from_base64(&huge).is_err());
        assert!(!format!("{model:?}").contains("abc"));
    }
}
