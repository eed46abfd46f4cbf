//! The burn decoder against a naive f64 forward pass written here from the Llama equations,
//! on the committed tiny GGUF (`hicra-pretrained/tests/fixtures/tiny_llama.gguf`). The
//! reference reads the GGUF weights as stored, rotating *adjacent* pairs as llama.cpp does, so
//! it checks the loader's un-permutation as well as every layer. Then: a left-padded batch of
//! prompts gives the same logits and greedy tokens as each prompt alone.

use std::path::PathBuf;

use hicra_model::{Llama, RuntimeBackend, SamplingParams, prompt_logits, sample_batch};
use hicra_pretrained::names::{EMBED_TOKENS, FINAL_NORM, layer_tensor};
use hicra_pretrained::{Pretrained, RopeLayout};

fn tiny() -> Pretrained {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../hicra-pretrained/tests/fixtures/tiny_llama.gguf");
    hicra_pretrained::load(&path).unwrap()
}

/// `y = W x` for a row-major `[out, in]` matrix.
fn matvec(p: &Pretrained, name: &str, x: &[f64]) -> Vec<f64> {
    let t = &p.tensors[name];
    let cols = t.shape[1];
    t.data
        .chunks(cols)
        .map(|row| row.iter().zip(x).map(|(w, v)| f64::from(*w) * v).sum())
        .collect()
}

fn rms_norm(p: &Pretrained, name: &str, x: &[f64]) -> Vec<f64> {
    let eps = f64::from(p.config.rms_norm_eps);
    let rms = (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64 + eps).sqrt();
    x.iter()
        .zip(&p.tensors[name].data)
        .map(|(v, w)| v / rms * f64::from(*w))
        .collect()
}

/// llama.cpp's RoPE: within each head, dimensions (2j, 2j+1) rotate by `pos * theta^(-2j/d)`.
fn rope_adjacent(x: &mut [f64], head_dim: usize, pos: usize, theta: f64) {
    for head in x.chunks_mut(head_dim) {
        for j in 0..head_dim / 2 {
            let angle = pos as f64 * theta.powf(-2.0 * j as f64 / head_dim as f64);
            let (a, b) = (head[2 * j], head[2 * j + 1]);
            head[2 * j] = a * angle.cos() - b * angle.sin();
            head[2 * j + 1] = a * angle.sin() + b * angle.cos();
        }
    }
}

/// Logits at every position of `ids`.
fn reference_logits(p: &Pretrained, ids: &[u32]) -> Vec<Vec<f64>> {
    let c = &p.config;
    assert_eq!(c.rope_layout, RopeLayout::Interleaved);
    let (d, hd) = (c.hidden_size, c.head_dim);
    let group = c.num_heads / c.num_kv_heads;
    let embedding = &p.tensors[EMBED_TOKENS].data;
    let mut xs: Vec<Vec<f64>> = ids
        .iter()
        .map(|&t| {
            embedding[t as usize * d..(t as usize + 1) * d]
                .iter()
                .map(|&v| f64::from(v))
                .collect()
        })
        .collect();
    for layer in 0..c.num_layers {
        let name = |s: &str| layer_tensor(layer, s);
        let (mut qs, mut ks, mut vs) = (vec![], vec![], vec![]);
        for (pos, x) in xs.iter().enumerate() {
            let h = rms_norm(p, &name("input_layernorm.weight"), x);
            let mut q = matvec(p, &name("self_attn.q_proj.weight"), &h);
            let mut k = matvec(p, &name("self_attn.k_proj.weight"), &h);
            rope_adjacent(&mut q, hd, pos, f64::from(c.rope_theta));
            rope_adjacent(&mut k, hd, pos, f64::from(c.rope_theta));
            qs.push(q);
            ks.push(k);
            vs.push(matvec(p, &name("self_attn.v_proj.weight"), &h));
        }
        for (pos, x) in xs.iter_mut().enumerate() {
            let mut attended = vec![0.0; c.num_heads * hd];
            for head in 0..c.num_heads {
                let kv = head / group;
                let q = &qs[pos][head * hd..(head + 1) * hd];
                let scores: Vec<f64> = (0..=pos)
                    .map(|j| {
                        let k = &ks[j][kv * hd..(kv + 1) * hd];
                        q.iter().zip(k).map(|(a, b)| a * b).sum::<f64>() / (hd as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                for (j, w) in weights.iter().enumerate() {
                    for i in 0..hd {
                        attended[head * hd + i] += w / total * vs[j][kv * hd + i];
                    }
                }
            }
            let out = matvec(p, &name("self_attn.o_proj.weight"), &attended);
            x.iter_mut().zip(out).for_each(|(a, b)| *a += b);
            let h = rms_norm(p, &name("post_attention_layernorm.weight"), x);
            let gate = matvec(p, &name("mlp.gate_proj.weight"), &h);
            let up = matvec(p, &name("mlp.up_proj.weight"), &h);
            let hidden: Vec<f64> = gate
                .iter()
                .zip(&up)
                .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
                .collect();
            let down = matvec(p, &name("mlp.down_proj.weight"), &hidden);
            x.iter_mut().zip(down).for_each(|(a, b)| *a += b);
        }
    }
    xs.iter()
        .map(|x| matvec(p, EMBED_TOKENS, &rms_norm(p, FINAL_NORM, x)))
        .collect()
}

/// The fixture's small random weights give nearly uniform attention, where positions hardly
/// matter; scaling Q and K makes attention sharp, so a wrong RoPE pairing shows.
fn sharpened(mut p: Pretrained) -> Pretrained {
    for (name, tensor) in p.tensors.iter_mut() {
        if name.ends_with("q_proj.weight") || name.ends_with("k_proj.weight") {
            tensor.data.iter_mut().for_each(|w| *w *= 6.0);
        }
    }
    p
}

#[test]
fn matches_a_naive_forward_pass_with_llama_cpp_rope() {
    let p = sharpened(tiny());
    assert!(p.config.tie_word_embeddings);
    let device = hicra_model::cpu();
    let model = Llama::<RuntimeBackend>::from_pretrained(&p, None, &device).unwrap();
    let ids: Vec<u32> = (0..9)
        .map(|i| (i * 7 + 3) % p.config.vocab_size as u32)
        .collect();
    let expected = reference_logits(&p, &ids);
    let vocab = p.config.vocab_size;
    let got = prompt_logits(&model, &ids, ids.len(), vocab, &device);
    let mut worst: f64 = 0.0;
    for (position, row) in got.positions.iter().zip(&expected) {
        for &(id, logit) in &position.top {
            worst = worst.max((logit - row[id as usize]).abs());
        }
    }
    eprintln!("max logit gap to the naive forward pass: {worst:.2e}");
    assert!(
        worst < 1e-4,
        "max logit gap to the naive forward pass: {worst}"
    );
}

#[test]
fn a_padded_batch_equals_each_prompt_alone() {
    let p = tiny();
    let device = hicra_model::cpu();
    let model = Llama::<RuntimeBackend>::from_pretrained(&p, None, &device).unwrap();
    let prompts: Vec<Vec<u32>> = vec![vec![5, 9, 2, 7, 1, 3], vec![4], vec![8, 8, 6]];
    let refs: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    let params = SamplingParams {
        temperature: 0.0,
        top_p: 1.0,
        top_k: 0,
        max_new_tokens: 6,
        stop_tokens: vec![],
    };
    let batched = sample_batch(&model, &refs, 3, &params, &[1, 2, 3], &device);
    for (prompt, group) in refs.iter().zip(&batched) {
        let alone = &sample_batch(&model, &[prompt], 1, &params, &[4], &device)[0][0];
        for sample in group {
            assert_eq!(sample.tokens, alone.tokens);
            for (a, b) in sample.logprobs.iter().zip(&alone.logprobs) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
            for (a, b) in sample.entropies.iter().zip(&alone.entropies) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
    }
}

#[test]
fn stop_strings_fire_on_the_token_that_completes_them() {
    let p = tiny();
    let text = "ab cd ab";
    let ids = p.tokenizer.encode(text).unwrap().ids;
    let strings = vec!["d a".to_string()];
    let stop = hicra_model::stop_strings(&p.tokenizer, &strings);
    let fired: Vec<bool> = (1..=ids.len()).map(|k| stop(&ids[..k])).collect();
    let first = fired.iter().position(|&f| f).expect("the string occurs");
    let prefix = p.tokenizer.decode(&ids[..=first], false).unwrap();
    assert!(
        prefix.contains("d a")
            && !p
                .tokenizer
                .decode(&ids[..first], false)
                .unwrap()
                .contains("d a")
    );
}
