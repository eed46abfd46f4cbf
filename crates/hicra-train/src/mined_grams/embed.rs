//! The policy as the miner's embedder: a gram's vector is the mean of the policy's final
//! hidden states over the gram's tokens, read in the context of the whole response (prompt
//! and response fed once per document), so the same words used as a plan and as arithmetic
//! can land apart.

use burn::tensor::{Int, Tensor, TensorData};
use hicra_credit::mining::GramEmbedder;
use hicra_model::{Llama, RuntimeBackend};

/// One correct response to mine: its text and what the policy saw.
#[derive(Clone, Debug, PartialEq)]
pub struct MiningDoc {
    pub text: String,
    pub prompt_tokens: Vec<u32>,
    pub tokens: Vec<u32>,
    /// Byte range of each response token in `text`.
    pub token_spans: Vec<(usize, usize)>,
}

/// Embeds spans of [`MiningDoc`]s with a policy's hidden states.
pub struct PolicyEmbedder<'a> {
    pub model: &'a Llama<RuntimeBackend>,
    pub docs: &'a [MiningDoc],
    pub vocab_size: usize,
}

impl GramEmbedder for PolicyEmbedder<'_> {
    fn embed(&mut self, doc: usize, spans: &[(usize, usize)]) -> Result<Vec<Vec<f32>>, String> {
        let d = self
            .docs
            .get(doc)
            .ok_or_else(|| format!("no document {doc}"))?;
        if d.tokens.len() != d.token_spans.len() {
            return Err(format!(
                "document {doc}: {} tokens but {} token spans",
                d.tokens.len(),
                d.token_spans.len()
            ));
        }
        let mut ids: Vec<u32> = d.prompt_tokens.iter().chain(&d.tokens).copied().collect();
        if let Some(&bad) = ids.iter().find(|&&t| t as usize >= self.vocab_size) {
            return Err(format!(
                "document {doc}: token id {bad} is outside the model's vocabulary of {} (was it \
                 sampled by another model?)",
                self.vocab_size
            ));
        }
        // a response longer than the model's window keeps its end
        let dropped = ids.len().saturating_sub(self.model.max_seq_len());
        ids.drain(..dropped);
        let first_response = d.prompt_tokens.len() as isize - dropped as isize;
        let device = self.model.device();
        let len = ids.len();
        let input = Tensor::<RuntimeBackend, 2, Int>::from_data(
            TensorData::new(ids.iter().map(|&t| i64::from(t)).collect(), [1, len]),
            &device,
        );
        let hidden = self.model.hidden(input, None);
        let width = hidden.dims()[2];
        let rows: Vec<f32> = hidden
            .reshape([len * width])
            .into_data()
            .convert::<f32>()
            .into_vec()
            .map_err(|e| format!("reading hidden states: {e:?}"))?;
        Ok(spans
            .iter()
            .map(|&(start, end)| {
                let mut v = vec![0.0f32; width];
                let mut n = 0;
                for (t, &(s, e)) in d.token_spans.iter().enumerate() {
                    let row = first_response + t as isize;
                    if s < e && s < end && start < e && row >= 0 {
                        let row = &rows[row as usize * width..(row as usize + 1) * width];
                        v.iter_mut().zip(row).for_each(|(a, x)| *a += x);
                        n += 1;
                    }
                }
                if n > 0 {
                    v.iter_mut().for_each(|a| *a /= n as f32);
                }
                v
            })
            .collect())
    }
}
