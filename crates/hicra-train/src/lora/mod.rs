//! LoRA for the policy-gradient learner (Hu et al., 2021, "LoRA: Low-Rank Adaptation of Large
//! Language Models", arXiv:2106.09685).
//!
//! With `lora = { rank = r, alpha, targets = [...] }` in `learner.policy_gradient`, every
//! targeted dense layer of every block (`q`, `k`, `v`, `o` of attention; `gate`, `up`, `down`
//! of the MLP) computes with `W = W0 + (alpha / r) * B A`, `A` `[r, in]` and `B` `[out, r]` in
//! PEFT's layout. `W0` and every other parameter (embeddings, norms, head, biases) are frozen;
//! only the adapters train and only they have optimiser state. `A` starts as PEFT's
//! `reset_lora_parameters` leaves it, `kaiming_uniform_(a = sqrt(5))`: uniform within
//! `1 / sqrt(in)` ([`adapters::kaiming_bound`]), each layer from its own stream of `init_seed`;
//! `B` starts at 0, so the policy at step 0 is the base model exactly.
//!
//! **Training by projection.** The learner's two compute paths ([`crate::pass`]: the host
//! kernels or burn's autodiff) are left as they are: they run on the merged model and give
//! `dL/dW` for every weight. Since `W = W0 + s B A` (`s = alpha / r`), the chain rule gives the
//! adapters' gradients exactly: `dL/dB = s dW A^T` and `dL/dA = s B^T dW`
//! ([`adapters::project`]; the model stores weights `[in, out]`, so `dW` there is the
//! transpose). Each optimiser step then clips the adapters' gradients to their own global norm,
//! steps burn's AdamW (the learner's hyper-parameters) on the [`LoraAdapters`] module, and
//! merges `W = W0 + s B A` back into the model ([`adapters::LoraAdapters::merge_into`], from
//! `W0`, not incrementally, so no rounding accumulates). The merged model is what the next
//! forward pass and `model.mpk` see. The samplers get [`Lora::update_weights`]: the base (one
//! `Arc` for every update; between processes sent once, then named by its hash) and the
//! adapters, merged by [`crate::PolicyUpdate::model`] with the same operations. Dropout on the
//! adapters' input would make the update depend on a mask the full-weight gradient cannot
//! see: only `dropout = 0` is accepted.
//!
//! The cost: the backward pass still forms every `dW` (and the frozen layers' gradients), so
//! a step takes as long as full fine-tuning, plus two `r x in x out` products per adapter for
//! the projection and one for the merge. What shrinks is AdamW's state (two moments per
//! adapter parameter instead of per weight) and the checkpoint's optimiser file.
//!
//! The SFT warm-up trains the adapters the same way (its own AdamW), and the KL reference is
//! the frozen base `W0`, shared with the base the merge starts from rather than copied. A
//! checkpoint holds the adapters, their optimiser state and the base's identity (its
//! `model.checkpoint` or `scratch` with the init seed, and a SHA-256 of its weights); resuming
//! rebuilds the base, refuses one whose hash differs, and merges ([`checkpoint`]).
//! Data-parallel replicas project their shard's gradients onto the adapters first and
//! all-reduce the adapters' gradients only; they start from the lead's adapters.

pub mod adapters;
pub mod checkpoint;
pub mod config;
pub mod identity;
pub mod state;
#[cfg(test)]
mod tests;

pub use adapters::{Adapter, BlockAdapters, LoraAdapters};
pub use checkpoint::{LoraFile, load_adapters};
pub use config::{LoraConfig, Target};
pub use identity::{BaseIdentity, weights_sha256};
pub use state::{AdapterOptimizer, Lora, adapter_optimizer};
