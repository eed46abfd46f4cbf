use super::*;
use hicra_model::{CharTokenizer, RuntimeBackend, cpu};

/// A character alphabet wide enough for the test records.
pub const ALPHABET: &str = "0123456789+-*/=() abcdefghijklmnopqrstuvwxyz.,?!\n";

pub fn char_codec() -> TextCodec {
    TextCodec::Chars(CharTokenizer::new(ALPHABET))
}

/// A tiny random PRM over [`ALPHABET`].
pub fn tiny_prm<B: Backend<Device = hicra_model::Device>>(seed: u64) -> ProcessRewardModel<B> {
    let config = ModelConfig::tiny(CharTokenizer::new(ALPHABET).vocab_size());
    let backbone = Llama::init(&config, seed, &cpu());
    ProcessRewardModel::new(backbone, config, seed + 1)
}

/// A prompt with one user message.
pub fn prompt(id: &str, question: &str) -> Prompt {
    Prompt {
        messages: vec![hicra_messages::ChatMessage::new("user", question)],
        ..Prompt::new(id, question, "")
    }
}

pub fn steps(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|s| s.to_string()).collect()
}

#[test]
fn steps_end_at_their_last_character_and_agree_with_tokens_ending() {
    let codec = char_codec();
    let prompt = prompt("p-1", "2+3*4");
    let s = steps(&["3*4=12\n", "2+12=14\n"]);
    let e = encode(&codec, &prompt, &s).unwrap();
    let p = codec.encode_prompt(&prompt).unwrap().len();
    assert_eq!(e.prompt_len, p);
    assert_eq!(e.ids.len(), p + 15, "no stop token");
    assert_eq!(e.step_ends, vec![p + 6, p + 14]);
    assert_eq!(e.shared_ends, 0);
    let (text, spans) = codec.decode_with_spans(&e.ids[p..]).unwrap();
    let ends = hicra_tasks::steps::tokens_ending(&[7, 15], &spans);
    assert_eq!(text, s.concat());
    let ours: Vec<usize> = e.step_ends.iter().map(|x| x + 1 - p).collect();
    assert_eq!(ours, ends);
}

#[test]
fn steps_sharing_a_token_share_a_position_and_the_later_one_owns_it() {
    let codec = char_codec();
    let prompt = prompt("p-2", "1+1");
    let e = encode(&codec, &prompt, &steps(&["", "1+1=2\n", "", "so 2"])).unwrap();
    let p = e.prompt_len;
    assert_eq!(e.step_ends, vec![p - 1, p + 5, p + 5, p + 9]);
    assert_eq!(e.shared_ends, 1);
    assert!(e.owns_end(0) && !e.owns_end(1) && e.owns_end(2) && e.owns_end(3));
    let bad = encode(&codec, &prompt, &steps(&["1+1=2 ÷"])).unwrap_err();
    assert!(bad.contains("problem `p-2`"), "{bad}");
}

#[test]
fn the_host_path_scores_steps_as_the_tensor_path_does() {
    let prm = tiny_prm::<RuntimeBackend>(4);
    let codec = char_codec();
    let prompts = [prompt("a", "2+3*4"), prompt("b", "what is 7*8?")];
    let sols = [
        steps(&["3*4=12\n", "2+12=14\n"]),
        steps(&["", "7*8=56\n", "so 56\n"]),
    ];
    let items: Vec<(&Prompt, &[String])> = prompts
        .iter()
        .zip(&sols)
        .map(|(p, s)| (p, s.as_slice()))
        .collect();
    let host = HostModel::copy_of(&prm.backbone);
    let on_host = prm.score_steps_on(Some(&host), &codec, &items).unwrap();
    let on_tensors = prm.score_steps(&codec, &items).unwrap();
    assert_eq!(on_host.len(), 2);
    for (a, b) in on_host.iter().zip(&on_tensors) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }
}

#[test]
fn batched_scores_equal_one_by_one_scores() {
    let prm = tiny_prm::<RuntimeBackend>(3);
    let codec = char_codec();
    let prompts = [
        prompt("a", "2+3*4"),
        prompt("b", "what is 7*8?"),
        prompt("c", "1"),
    ];
    let sols = [
        steps(&["3*4=12\n", "2+12=14\n"]),
        steps(&["7*8=56\n", "so the answer is 56.\n", "done\n"]),
        steps(&["1"]),
    ];
    let items: Vec<(&Prompt, &[String])> = prompts
        .iter()
        .zip(&sols)
        .map(|(p, s)| (p, s.as_slice()))
        .collect();
    let batched = prm.score_steps(&codec, &items).unwrap();
    for (i, item) in items.iter().enumerate() {
        let alone = prm.score_steps(&codec, &[*item]).unwrap();
        assert_eq!(alone[0].len(), sols[i].len());
        for (a, b) in alone[0].iter().zip(&batched[i]) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            assert!((0.0..=1.0).contains(a));
        }
    }
    // a step's score depends only on the text up to it (causal)
    let prefix = steps(&["3*4=12\n"]);
    let first = prm.score_steps(&codec, &[(&prompts[0], &prefix)]).unwrap();
    assert!((first[0][0] - batched[0][0]).abs() < 1e-5);
}

#[test]
fn too_long_sequences_are_errors_naming_the_problem() {
    let prm = tiny_prm::<RuntimeBackend>(0);
    let codec = char_codec();
    let long = vec!["1+1=2\n".to_string(); 40];
    let err = prm
        .score_steps(&codec, &[(&prompt("long-1", "x"), &long)])
        .unwrap_err();
    assert!(
        err.contains("long-1") && err.contains("max_seq_len"),
        "{err}"
    );
}
