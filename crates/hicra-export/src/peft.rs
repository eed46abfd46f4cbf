//! A PEFT LoRA adapter directory: what `peft.PeftModel.from_pretrained(base, DIR)` reads.
//! `adapter_config.json` is the `LoraConfig` PEFT writes (`peft_type = "LORA"`, `r`,
//! `lora_alpha`, `target_modules`, ...), `adapter_model.safetensors` holds each adapted
//! layer's `lora_A.weight` `[r, in]` and `lora_B.weight` `[out, r]` under PEFT's saved names
//! (`base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight`: no adapter name), so
//! that `W = W0 + (lora_alpha / r) * B @ A` for a torch `Linear` weight `W0` `[out, in]`.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use hicra_pretrained::HostTensor;
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde_json::{Value, json};

use crate::json::write_json;
use crate::{ExportDtype, ExportError};

/// The adapter's configuration file.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// The adapter's weights.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";

/// A dense layer of a decoder block that can carry an adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LoraModule {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl LoraModule {
    /// Every module, in layout order.
    pub const ALL: [Self; 7] = [
        Self::Q,
        Self::K,
        Self::V,
        Self::O,
        Self::Gate,
        Self::Up,
        Self::Down,
    ];

    /// The module of hicra's LoRA target name (`q`, `k`, `v`, `o`, `gate`, `up`, `down`).
    pub fn parse(target: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.target() == target)
    }

    /// hicra's target name (`lora.targets`).
    pub fn target(self) -> &'static str {
        match self {
            Self::Q => "q",
            Self::K => "k",
            Self::V => "v",
            Self::O => "o",
            Self::Gate => "gate",
            Self::Up => "up",
            Self::Down => "down",
        }
    }

    /// transformers' module name, what PEFT's `target_modules` matches (`q_proj`, ...).
    pub fn hf_name(self) -> &'static str {
        match self {
            Self::Q => "q_proj",
            Self::K => "k_proj",
            Self::V => "v_proj",
            Self::O => "o_proj",
            Self::Gate => "gate_proj",
            Self::Up => "up_proj",
            Self::Down => "down_proj",
        }
    }

    /// The module's path inside a decoder layer (`self_attn.q_proj`, `mlp.down_proj`).
    pub fn hf_path(self) -> String {
        let parent = match self {
            Self::Q | Self::K | Self::V | Self::O => "self_attn",
            Self::Gate | Self::Up | Self::Down => "mlp",
        };
        format!("{parent}.{}", self.hf_name())
    }
}

/// One adapted layer: `lora_A` `[rank, in]` and `lora_B` `[out, rank]`, as PEFT stores them.
#[derive(Debug, Clone)]
pub struct LayerAdapter {
    /// The decoder block.
    pub layer: usize,
    pub module: LoraModule,
    pub a: HostTensor,
    pub b: HostTensor,
}

/// A LoRA adapter in PEFT's terms: every adapted layer computes with
/// `W0 + (alpha / rank) * B @ A`.
#[derive(Debug, Clone)]
pub struct LoraAdapter {
    pub rank: usize,
    pub alpha: f64,
    /// `base_model_name_or_path`: the base the adapter was trained on, as its run named it
    /// (empty for a model from scratch, which no file holds).
    pub base_model: String,
    /// SHA-256 of the base's weights, when known (the safetensors metadata's `base_sha256`).
    pub base_sha256: Option<String>,
    pub layers: Vec<LayerAdapter>,
}

impl LoraAdapter {
    /// The modules adapted in some layer, in layout order.
    pub fn modules(&self) -> Vec<LoraModule> {
        let set: BTreeSet<LoraModule> = self.layers.iter().map(|l| l.module).collect();
        set.into_iter().collect()
    }

    /// Why PEFT could not hold this adapter as it is, if it could not.
    pub fn problem(&self) -> Option<String> {
        let r = self.rank;
        if r == 0 || !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Some(format!(
                "rank {r} and alpha {}: both must be positive",
                self.alpha
            ));
        }
        if self.layers.is_empty() {
            return Some("the adapter adapts no layer".into());
        }
        let mut seen = BTreeSet::new();
        for l in &self.layers {
            let name = format!("layer {} {}", l.layer, l.module.hf_path());
            if !seen.insert((l.layer, l.module)) {
                return Some(format!("{name} is adapted twice"));
            }
            let (a, b) = (&l.a.shape, &l.b.shape);
            if a.len() != 2 || b.len() != 2 || a[0] != r || b[1] != r {
                return Some(format!(
                    "{name}: lora_A {a:?} and lora_B {b:?} are not [{r}, in] and [out, {r}]"
                ));
            }
        }
        None
    }
}

/// `adapter_config.json`: PEFT's `LoraConfig` for `adapter` (fields current PEFT reads; those
/// left out take PEFT's defaults).
pub fn adapter_config(adapter: &LoraAdapter) -> Value {
    let targets: Vec<&str> = adapter.modules().iter().map(|m| m.hf_name()).collect();
    // PEFT writes an integer alpha as one
    let alpha = if adapter.alpha.fract() == 0.0 && adapter.alpha.abs() < 1e15 {
        json!(adapter.alpha as i64)
    } else {
        json!(adapter.alpha)
    };
    json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": adapter.base_model,
        "revision": null,
        "inference_mode": true,
        "r": adapter.rank,
        "lora_alpha": alpha,
        "lora_dropout": 0.0,
        "target_modules": targets,
        "bias": "none",
        "fan_in_fan_out": false,
        "init_lora_weights": true,
        "modules_to_save": null,
        "layers_to_transform": null,
        "layers_pattern": null,
        "rank_pattern": {},
        "alpha_pattern": {},
        "use_rslora": false,
        "use_dora": false,
    })
}

/// PEFT's saved name of `layer`'s `lora_A` (`which = "A"`) or `lora_B` weight.
pub fn tensor_name(layer: usize, module: LoraModule, which: &str) -> String {
    format!(
        "base_model.model.model.layers.{layer}.{}.lora_{which}.weight",
        module.hf_path()
    )
}

/// Writes the adapter's two files into `dir`; returns their names.
pub fn write(
    adapter: &LoraAdapter,
    dir: &Path,
    dtype: ExportDtype,
) -> Result<Vec<String>, ExportError> {
    let st_dtype = match dtype {
        ExportDtype::F32 => Dtype::F32,
        ExportDtype::F16 => Dtype::F16,
        ExportDtype::Bf16 => Dtype::BF16,
        ExportDtype::Q8_0 => {
            return Err(ExportError::Unexpressible(
                "safetensors has no Q8_0; export PEFT adapters as f32, f16 or bf16".into(),
            ));
        }
    };
    if let Some(problem) = adapter.problem() {
        return Err(ExportError::Unexpressible(format!(
            "the adapter: {problem}"
        )));
    }
    write_json(&dir.join(ADAPTER_CONFIG), &adapter_config(adapter))?;
    let encoded: Vec<(String, &HostTensor, Vec<u8>)> = adapter
        .layers
        .iter()
        .flat_map(|l| [("A", &l.a), ("B", &l.b)].map(|(w, t)| (l, w, t)))
        .map(|(l, which, t)| {
            let name = tensor_name(l.layer, l.module, which);
            (name, t, dtype.encode(&t.data))
        })
        .collect();
    let views = encoded
        .iter()
        .map(|(name, t, bytes)| {
            TensorView::new(st_dtype, t.shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| ExportError::Unexpressible(format!("{name}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    if let Some(sha) = &adapter.base_sha256 {
        metadata.insert("base_sha256".into(), sha.clone());
    }
    let path = dir.join(ADAPTER_WEIGHTS);
    safetensors::serialize_to_file(views, Some(metadata), &path)
        .map_err(|e| ExportError::io(&path, std::io::Error::other(e.to_string())))?;
    Ok(vec![ADAPTER_CONFIG.into(), ADAPTER_WEIGHTS.into()])
}
