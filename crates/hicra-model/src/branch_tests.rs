//! Branching against plain sampling from the prefix, on tiny random models: the same tokens,
//! log-probabilities and entropies, on both paths and over two levels.

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::{Branch, KeptRows, branch_on_tensors, sample_kept_on_tensors};
use crate::{
    Generator, Llama, ModelConfig, NativeLlama, RuntimeBackend as B, Sample, SampleRequest,
    SamplingParams, max_abs_diff,
};

/// Multiplies every matrix, so that logits are spread (as in the host path's tests).
struct Scale(f32);

impl<Bk: Backend> ModuleMapper<Bk> for Scale {
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<Bk, D>>) -> Param<Tensor<Bk, D>> {
        let (id, t, mapper) = p.consume();
        let t = if D == 1 { t } else { t.mul_scalar(self.0) };
        Param::from_mapped_value(id, t, mapper)
    }
}

/// A tiny model with room to spare, and one whose `max_seq_len` cuts the longer prompt's
/// responses short (so rooms differ between branches of one call).
fn generators() -> Vec<Generator<B>> {
    [128, 17]
        .into_iter()
        .map(|max_seq_len| {
            let mut config = ModelConfig::tiny(40);
            config.max_seq_len = max_seq_len;
            let model = Llama::init(&config, 11, &crate::cpu()).map(&mut Scale(6.0));
            assert!(NativeLlama::takes_host_path(&model));
            Generator::new(model)
        })
        .collect()
}

const MAX_NEW: usize = 10;
const PROMPTS: [&[u32]; 2] = [&[4, 5, 6], &[9, 1, 7, 3, 8, 8, 2, 5]];

fn params(temperature: f32, stop_tokens: Vec<u32>) -> SamplingParams {
    SamplingParams {
        temperature,
        top_p: 1.0,
        top_k: 0,
        max_new_tokens: MAX_NEW,
        stop_tokens,
    }
}

fn assert_same(got: &[Sample], want: &[Sample], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: children");
    for (j, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.tokens, w.tokens, "{what}, child {j}");
        assert_eq!(g.stopped, w.stopped, "{what}, child {j}");
        assert!(
            max_abs_diff(&g.logprobs, &w.logprobs) < 1e-4,
            "{what}, child {j}"
        );
        assert!(
            max_abs_diff(&g.entropies, &w.entropies) < 1e-4,
            "{what}, child {j}"
        );
    }
}

/// Plain sampling of `n` responses to row `b.row`'s prefix at `b.at`, from `b.seed`, with
/// `max_new_tokens - at` new tokens at most.
fn plain(
    g: &Generator<B>,
    kept: &KeptRows<B>,
    b: Branch,
    n: usize,
    p: &SamplingParams,
) -> Vec<Sample> {
    let prefix = &kept.sequence(b.row)[..kept.prompt_len(b.row) + b.at];
    if prefix.len() >= g.model().max_seq_len() {
        // no room: a plain request would be refused
        return vec![Sample::default(); n];
    }
    let params = SamplingParams {
        max_new_tokens: p.max_new_tokens - b.at,
        ..p.clone()
    };
    let prompts = [prefix];
    let seeds = [b.seed];
    let request = SampleRequest::new(&prompts, n, &params, &seeds);
    g.sample(&request, &crate::cpu()).remove(0)
}

/// Branches of every row at 0, the middle, the last token and the response's end.
fn branches_of(kept: &KeptRows<B>) -> Vec<Branch> {
    let mut branches = Vec::new();
    for row in 0..kept.len() {
        let len = kept.response(row).len();
        let mut ats = vec![0, len / 2, len.saturating_sub(1), len];
        ats.dedup();
        for at in ats {
            let seed = 100 + branches.len() as u64;
            branches.push(Branch { row, at, seed });
        }
    }
    branches
}

fn kept_rows(g: &Generator<B>, params: &SamplingParams) -> KeptRows<B> {
    kept_rows_on(g, params, true)
}

/// [`kept_rows`] on the host path or on the tensor path.
fn kept_rows_on(g: &Generator<B>, params: &SamplingParams, on_host: bool) -> KeptRows<B> {
    let request = SampleRequest::new(&PROMPTS, 3, params, &[7, 8]);
    let (groups, kept) = if on_host {
        g.sample_kept(&request, &crate::cpu())
    } else {
        sample_kept_on_tensors(g.model(), &request, &crate::cpu())
    };
    assert_eq!(kept.len(), 6);
    for (row, sample) in groups.iter().flatten().enumerate() {
        assert_eq!(kept.response(row), sample.tokens, "row {row}");
        assert_eq!(kept.prompt_len(row), PROMPTS[row / 3].len());
    }
    kept
}

fn never(_: &[u32]) -> bool {
    false
}

/// Rows of prompts of unequal lengths, branched at 0, the middle, the last token and the end
/// (sampled and greedy; with room to spare and with `max_seq_len` binding): each child is
/// what plain sampling from its prefix with its seed draws, and its kept row is the prefix
/// followed by its new tokens.
#[test]
fn children_are_plain_samples_of_their_prefix() {
    for g in generators() {
        for temperature in [1.0, 0.0] {
            let params = params(temperature, vec![35]);
            let kept = kept_rows(&g, &params);
            if temperature > 0.0 {
                let stopped = (0..6).filter(|&r| kept.response(r).len() < 9).count();
                assert!(stopped > 0, "some rows end on the stop token");
            }
            let branches = branches_of(&kept);
            let (groups, children) = g.branch(&kept, &branches, 2, &params, &never, &crate::cpu());
            assert_eq!(children.len(), 2 * branches.len());
            for (i, (b, group)) in branches.iter().zip(&groups).enumerate() {
                let what = format!("T {temperature}, branch {b:?}");
                assert_same(group, &plain(&g, &kept, *b, 2, &params), &what);
                for (j, child) in group.iter().enumerate() {
                    let row = 2 * i + j;
                    let prefix = &kept.sequence(b.row)[..kept.prompt_len(b.row) + b.at];
                    assert_eq!(children.sequence(row), [prefix, &child.tokens].concat());
                    assert_eq!(children.prompt_len(row), kept.prompt_len(b.row));
                }
            }
        }
    }
}

/// A second level: children branched before, at and after their own branch point.
#[test]
fn branching_a_child_again_is_plain_sampling_from_the_deeper_prefix() {
    let g = &generators()[0];
    let params = params(1.0, vec![]);
    let kept = kept_rows(g, &params);
    let first = [
        Branch {
            row: 1,
            at: 3,
            seed: 40,
        },
        Branch {
            row: 4,
            at: 1,
            seed: 41,
        },
    ];
    let (_, children) = g.branch(&kept, &first, 2, &params, &never, &crate::cpu());
    // within the shared part, at the branch point, in the new part, at the end
    let second: Vec<Branch> = [(0, 2), (1, 3), (2, 5), (3, 1), (3, MAX_NEW)]
        .into_iter()
        .enumerate()
        .map(|(i, (row, at))| Branch {
            row,
            at,
            seed: 50 + i as u64,
        })
        .collect();
    let (groups, grandchildren) = g.branch(&children, &second, 3, &params, &never, &crate::cpu());
    for (b, group) in second.iter().zip(&groups) {
        assert_same(
            group,
            &plain(g, &children, *b, 3, &params),
            &format!("{b:?}"),
        );
    }
    assert_eq!(grandchildren.len(), 3 * second.len());
}

/// The tensor path keeps its rows' caches and its children continue them: over two levels
/// (every row branched at 0, the middle, the last token and the end, then every child again,
/// with a stop token so that rows leave the decoding batch at different steps, and with
/// `max_seq_len` binding so that children's rooms differ), its rows, children and
/// grandchildren are the host path's (tokens equal, log-probabilities and entropies within
/// 1e-4), and so plain samples of their prefixes.
#[test]
fn the_tensor_path_gives_the_host_paths_children() {
    for g in generators() {
        for temperature in [1.0, 0.0] {
            let params = params(temperature, vec![35]);
            let (host_kept, tensor_kept) =
                (kept_rows(&g, &params), kept_rows_on(&g, &params, false));
            assert!(format!("{tensor_kept:?}").contains("tensors"));
            for row in 0..host_kept.len() {
                assert_eq!(host_kept.sequence(row), tensor_kept.sequence(row));
            }
            let (mut host, mut tensors) = (host_kept, tensor_kept);
            for level in 0..2 {
                let branches = branches_of(&host);
                let (host_groups, host_rows) =
                    g.branch(&host, &branches, 2, &params, &never, &crate::cpu());
                let (tensor_groups, tensor_rows) = branch_on_tensors(
                    g.model(),
                    &tensors,
                    &branches,
                    2,
                    &params,
                    &never,
                    &crate::cpu(),
                );
                for ((b, h), t) in branches.iter().zip(&host_groups).zip(&tensor_groups) {
                    assert_same(t, h, &format!("T {temperature}, level {level}, {b:?}"));
                }
                assert_eq!(host_rows.len(), tensor_rows.len());
                for row in 0..host_rows.len() {
                    assert_eq!(host_rows.sequence(row), tensor_rows.sequence(row));
                }
                (host, tensors) = (host_rows, tensor_rows);
            }
        }
    }
}

/// Tensor-path children from different rows' caches with unequal prefixes, against plain
/// sampling of each prefix on the tensor path (which prefills it): branch points inside the
/// prompt's last token, and a second level from children's caches.
#[test]
fn tensor_children_are_plain_samples_of_their_prefix() {
    let g = &generators()[0];
    let params = params(1.0, vec![35]);
    let kept = kept_rows_on(g, &params, false);
    let on_tensors = |kept: &KeptRows<B>, bs: &[Branch], n: usize| {
        branch_on_tensors(g.model(), kept, bs, n, &params, &never, &crate::cpu())
    };
    let plain_on_tensors = |kept: &KeptRows<B>, b: Branch, n: usize| {
        let prefix = &kept.sequence(b.row)[..kept.prompt_len(b.row) + b.at];
        let params = SamplingParams {
            max_new_tokens: params.max_new_tokens - b.at,
            ..params.clone()
        };
        let (prompts, seeds) = ([prefix], [b.seed]);
        let request = SampleRequest::new(&prompts, n, &params, &seeds);
        crate::sample_on_tensors(g.model(), &request, &crate::cpu()).remove(0)
    };
    let first = [(5, 2), (0, 0), (3, 1)].map(|(row, at)| Branch {
        row,
        at,
        seed: 60 + row as u64,
    });
    let (groups, children) = on_tensors(&kept, &first, 3);
    for (b, group) in first.iter().zip(&groups) {
        assert_same(group, &plain_on_tensors(&kept, *b, 3), &format!("{b:?}"));
    }
    let second: Vec<Branch> = (0..children.len())
        .map(|row| Branch {
            row,
            at: children.response(row).len() / 2,
            seed: 70 + row as u64,
        })
        .collect();
    let (groups, _) = on_tensors(&children, &second, 2);
    for (b, group) in second.iter().zip(&groups) {
        assert_same(
            group,
            &plain_on_tensors(&children, *b, 2),
            &format!("{b:?}"),
        );
    }
}

/// On both paths: `max_new_tokens - at == 0` (or less) gives empty children, and a stop check
/// on the whole response's length ends children at that length in all.
#[test]
fn no_room_gives_empty_children_and_stop_sees_the_whole_response() {
    let g = &generators()[0];
    let params = params(1.0, vec![]);
    let (host_kept, tensor_kept) = (kept_rows(g, &params), kept_rows_on(g, &params, false));
    assert!((0..6).all(|r| host_kept.response(r).len() == MAX_NEW));
    let short = SamplingParams {
        max_new_tokens: 6,
        ..params.clone()
    };
    let full = [
        Branch {
            row: 0,
            at: 6,
            seed: 1,
        },
        Branch {
            row: 5,
            at: 8,
            seed: 2,
        },
    ];
    const L: usize = 7;
    let stop = |response: &[u32]| response.len() >= L;
    let stopped = [
        Branch {
            row: 2,
            at: 2,
            seed: 3,
        },
        Branch {
            row: 3,
            at: 0,
            seed: 4,
        },
    ];
    for on_host in [true, false] {
        let kept = if on_host { &host_kept } else { &tensor_kept };
        let branch = |bs: &[Branch], p: &SamplingParams, s: &dyn Fn(&[u32]) -> bool| {
            if on_host {
                g.branch(kept, bs, 2, p, s, &crate::cpu())
            } else {
                branch_on_tensors(g.model(), kept, bs, 2, p, s, &crate::cpu())
            }
        };
        let (groups, children) = branch(&full, &short, &never);
        for (b, group) in full.iter().zip(&groups) {
            assert!(group.iter().all(|s| *s == Sample::default()), "{b:?}");
        }
        assert_eq!(children.response(2), &kept.response(5)[..8]);
        let (groups, _) = branch(&stopped, &params, &stop);
        for (b, group) in stopped.iter().zip(&groups) {
            for child in group {
                assert_eq!(child.tokens.len(), L - b.at, "{b:?}");
                assert!(child.stopped);
            }
        }
    }
}

#[test]
#[should_panic(expected = "past row 1's response")]
fn a_branch_past_the_response_is_refused() {
    let g = &generators()[0];
    let params = params(1.0, vec![]);
    let kept = kept_rows(g, &params);
    let b = [Branch {
        row: 1,
        at: MAX_NEW + 1,
        seed: 0,
    }];
    g.branch(&kept, &b, 2, &params, &never, &crate::cpu());
}
