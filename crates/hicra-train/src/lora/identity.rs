//! Which frozen base a LoRA run's adapters belong to: the base's path (`model.checkpoint`, or
//! `scratch` with its init seed) and the SHA-256 of its weights, as `lora.json` records it and
//! weights updates name the base.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use hicra_model::Llama;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Which frozen base a checkpoint's adapters belong to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseIdentity {
    /// `model.checkpoint` as the pipeline wrote it, or `scratch`.
    pub path: String,
    /// The from-scratch base's init seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_seed: Option<u64>,
    /// SHA-256 of the base's parameters, each as f32 little-endian, in the module's visiting
    /// order (embedding, then each block's norms and projections, final norm, head).
    pub sha256: String,
}

struct Hasher(Sha256);

impl<B: Backend> ModuleVisitor<B> for Hasher {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let data = param.val().into_data().convert::<f32>();
        for x in data.as_slice::<f32>().expect("converted to f32") {
            self.0.update(x.to_le_bytes());
        }
    }
}

/// The hex SHA-256 of `model`'s parameters (see [`BaseIdentity::sha256`]).
pub fn weights_sha256<B: Backend>(model: &Llama<B>) -> String {
    let mut hasher = Hasher(Sha256::new());
    model.visit(&mut hasher);
    let digest = hasher.0.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl BaseIdentity {
    pub fn of<B: Backend>(base: &Llama<B>, path: &str, init_seed: Option<u64>) -> Self {
        Self {
            path: path.to_string(),
            init_seed,
            sha256: weights_sha256(base),
        }
    }

    /// The base as messages name it: its path, and its init seed when it has one.
    pub(super) fn describe(&self) -> String {
        match self.init_seed {
            Some(seed) => format!("{} (init_seed {seed})", self.path),
            None => self.path.clone(),
        }
    }
}
