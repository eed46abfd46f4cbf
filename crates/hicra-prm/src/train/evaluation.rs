//! Evaluating a PRM on labelled solutions: the loss on the chosen target and the step and
//! response AUCs ([`evaluate`]; the figures are listed in the [`train`](super) module's
//! documentation).

use std::collections::BTreeMap;

use burn::tensor::backend::Backend;
use hicra_train::TextCodec;

use super::PrmTarget;
use super::example::example;
use super::loss::bce;
use crate::labels::LabelledSolution;
use crate::model::{Encoded, ProcessRewardModel, sigmoid};
use crate::ranking::ranking;

/// Figures of a PRM on labelled solutions (see the [`train`](super) module documentation);
/// `target` sets the loss's labels. Records without a labelled position count in the AUCs only.
pub fn evaluate<B: Backend>(
    model: &ProcessRewardModel<B>,
    codec: &TextCodec,
    records: &[LabelledSolution],
    target: PrmTarget,
) -> Result<BTreeMap<String, f64>, String> {
    let room = model.max_seq_len();
    let check = |e: &Encoded, id: &str| model.check_fits(e, id);
    let examples = records
        .iter()
        .map(|r| example(room, codec, r, target, &check))
        .collect::<Result<Vec<_>, String>>()?;
    let encoded: Vec<Encoded> = examples.iter().map(|e| e.encoded.clone()).collect();
    let logits = model.step_logits(&encoded)?;
    let (mut loss, mut labelled) = (0.0, 0usize);
    for (example, logits) in examples.iter().zip(&logits) {
        for &(p, y) in &example.targets {
            let k = example
                .encoded
                .step_ends
                .iter()
                .position(|&e| e == p)
                .unwrap_or(0);
            loss += bce(logits[k], f64::from(y));
            labelled += 1;
        }
    }
    let scores: Vec<Vec<f64>> = logits
        .iter()
        .map(|row| row.iter().map(|&x| sigmoid(x)).collect())
        .collect();
    let mut m = ranking(records, &scores)?;
    if labelled > 0 {
        m.insert("loss".into(), loss / labelled as f64);
    }
    m.insert("labelled".into(), labelled as f64);
    m.insert("responses".into(), records.len() as f64);
    m.insert(
        "shared_ends".into(),
        examples
            .iter()
            .map(|e| e.encoded.shared_ends)
            .sum::<usize>() as f64,
    );
    Ok(m)
}
