//! One random stream per response, on the committed tiny GGUF
//! (`hicra-pretrained/tests/fixtures/tiny_llama.gguf`): the host path ([`NativeLlama`]) and
//! the burn-tensor path ([`sample_on_tensors`], forced on the CPU in f32) give token for token
//! the same responses from the same prompt seeds, greedy, at T = 1 and at T = 0.7 with top-k
//! and top-p, and so does every batch composition: each prompt alone, the prompts in another
//! order, another group size, rows that stop early beside rows that do not.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hicra_model::{
    Llama, NativeLlama, RuntimeBackend, Sample, SampleRequest, SamplingParams, max_abs_diff,
    sample_on_tensors,
};

fn model() -> Llama<RuntimeBackend> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../hicra-pretrained/tests/fixtures/tiny_llama.gguf");
    let pretrained = hicra_pretrained::load(&path).unwrap();
    Llama::from_pretrained(&pretrained, None, &hicra_model::cpu()).unwrap()
}

const PROMPTS: [&[u32]; 4] = [&[5, 9, 2, 7, 1, 3], &[4], &[8, 8, 6], &[100, 200, 17, 44]];
const SEEDS: [u64; 4] = [31, 7, 1234, 99];

fn params(temperature: f32, top_k: usize, top_p: f32) -> SamplingParams {
    SamplingParams {
        temperature,
        top_p,
        top_k,
        max_new_tokens: 14,
        stop_tokens: vec![],
    }
}

/// Which path samples.
#[derive(Clone, Copy, Debug)]
enum Path {
    Host,
    Tensors,
}

/// Responses keyed by (prompt index, sample index) of a batch of `order` (indices into
/// [`PROMPTS`]) with `n` samples each.
fn sample(
    model: &Llama<RuntimeBackend>,
    path: Path,
    order: &[usize],
    n: usize,
    params: &SamplingParams,
) -> BTreeMap<(usize, usize), Sample> {
    let prompts: Vec<&[u32]> = order.iter().map(|&i| PROMPTS[i]).collect();
    let seeds: Vec<u64> = order.iter().map(|&i| SEEDS[i]).collect();
    let request = SampleRequest::new(&prompts, n, params, &seeds);
    let groups = match path {
        Path::Host => NativeLlama::copy_of(model).sample(&request),
        Path::Tensors => sample_on_tensors(model, &request, &hicra_model::cpu()),
    };
    let mut out = BTreeMap::new();
    for (&p, group) in order.iter().zip(groups) {
        assert_eq!(group.len(), n);
        for (j, s) in group.into_iter().enumerate() {
            out.insert((p, j), s);
        }
    }
    out
}

fn assert_same(want: &Sample, got: &Sample, what: &str) {
    assert_eq!(want.tokens, got.tokens, "{what}");
    assert_eq!(want.stopped, got.stopped, "{what}");
    assert!(max_abs_diff(&want.logprobs, &got.logprobs) < 1e-4, "{what}");
    assert!(
        max_abs_diff(&want.entropies, &got.entropies) < 1e-4,
        "{what}"
    );
}

#[test]
fn both_paths_and_every_batch_give_each_response_its_own_tokens() {
    let model = model();
    for (name, mut params) in [
        ("greedy", params(0.0, 0, 1.0)),
        ("T=1", params(1.0, 0, 1.0)),
        ("T=0.7 top-k", params(0.7, 40, 1.0)),
        ("T=0.7 top-p", params(0.7, 0, 0.9)),
        ("T=0.7 top-k top-p", params(0.7, 60, 0.95)),
    ] {
        // stop on tokens that some rows draw early, so rows finish at different steps
        let free = sample(&model, Path::Host, &[0, 1, 2, 3], 3, &params);
        params.stop_tokens = vec![free[&(0, 0)].tokens[2], free[&(3, 2)].tokens[5]];
        let reference = sample(&model, Path::Host, &[0, 1, 2, 3], 3, &params);
        let lengths: Vec<usize> = reference.values().map(|s| s.tokens.len()).collect();
        assert!(
            lengths.iter().any(|&l| l < 7) && lengths.contains(&14),
            "{name}: rows end early and late: {lengths:?}"
        );
        if params.temperature > 0.0 {
            assert_ne!(
                reference[&(0, 0)].tokens,
                reference[&(0, 1)].tokens,
                "{name}: the samples of one prompt differ"
            );
        }
        let mut compositions = vec![
            (Path::Tensors, vec![0, 1, 2, 3], 3),
            (Path::Host, vec![3, 1, 0, 2], 2),
            (Path::Tensors, vec![2, 0, 3, 1], 1),
            (Path::Tensors, vec![1, 3], 3),
        ];
        for p in 0..PROMPTS.len() {
            compositions.push((Path::Host, vec![p], 1));
            compositions.push((Path::Tensors, vec![p], 2));
        }
        for (path, order, n) in compositions {
            let got = sample(&model, path, &order, n, &params);
            for (key, s) in &got {
                let what = format!("{name}: {path:?} {order:?} x {n}, response {key:?}");
                assert_same(&reference[key], s, &what);
            }
        }
    }
}
