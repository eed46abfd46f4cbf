//! The tokenizer machinery on the tiny GGUF's byte-level BPE vocabulary: 3 control tokens
//! (`<|endoftext|>`, `<|im_start|>`, `<|im_end|>`), the 256 byte tokens (id = 3 + byte), and
//! merges `Ġt`, `he`, `Ġthe`, `in`, `12`, `Ġ1`, `é`.

mod common;

use hicra_pretrained::Tokenizer;

fn tokenizer() -> Tokenizer {
    hicra_pretrained::load(&common::fixture("tiny_llama.gguf"))
        .unwrap()
        .tokenizer
}

fn byte(b: u8) -> u32 {
    3 + b as u32
}

#[test]
fn merges_apply_and_digits_stay_single() {
    let t = tokenizer();
    let the = t.token_to_id("Ġthe").unwrap();
    // " 12": the smollm pre-tokenizer splits every digit, so neither `Ġ1` nor `12` may appear.
    let enc = t.encode("in the 12").unwrap();
    let in_id = t.token_to_id("in").unwrap();
    assert_eq!(
        enc.ids,
        vec![in_id, the, byte(b' '), byte(b'1'), byte(b'2')]
    );
    assert_eq!(enc.offsets, vec![0..2, 2..6, 6..7, 7..8, 8..9]);
    assert_eq!(t.vocab_size(), 266);
}

#[test]
fn special_tokens_are_parsed_in_text_and_skippable_when_decoding() {
    let t = tokenizer();
    let enc = t.encode("<|im_start|>he<|im_end|>").unwrap();
    assert_eq!(enc.ids, vec![1, t.token_to_id("he").unwrap(), 2]);
    assert_eq!(enc.offsets, vec![0..12, 12..14, 14..24]);
    assert_eq!(
        t.decode(&enc.ids, false).unwrap(),
        "<|im_start|>he<|im_end|>"
    );
    assert_eq!(t.decode(&enc.ids, true).unwrap(), "he");
    // A partial marker is ordinary text.
    assert_eq!(
        t.decode(&t.encode("<|im_sta").unwrap().ids, false).unwrap(),
        "<|im_sta"
    );
}

#[test]
fn multibyte_characters_get_the_span_of_the_token_that_completes_them() {
    let t = tokenizer();
    // "aé€": é is merged; € (E2 82 AC) arrives byte by byte.
    let ids = t.encode("aé€").unwrap().ids;
    assert_eq!(
        ids,
        vec![
            byte(b'a'),
            t.token_to_id("Ã©").unwrap(),
            byte(0xE2),
            byte(0x82),
            byte(0xAC)
        ]
    );
    let (text, spans) = t.decode_with_spans(&ids, false).unwrap();
    assert_eq!(text, "aé€");
    assert_eq!(spans, vec![0..1, 1..3, 3..3, 3..3, 3..6]);
    let mut stream = t.incremental_decoder(false);
    let pieces: Vec<String> = ids
        .iter()
        .map(|&id| stream.push(id).unwrap().to_string())
        .collect();
    assert_eq!(pieces, ["a", "é", "", "", "€"]);
}

#[test]
fn invalid_and_unfinished_bytes_become_replacement_characters() {
    let t = tokenizer();
    let (text, spans) = t
        .decode_with_spans(&[byte(0xFF), byte(b'x'), byte(0xE2)], false)
        .unwrap();
    assert_eq!(text, "\u{FFFD}x\u{FFFD}");
    assert_eq!(spans, vec![0..3, 3..4, 4..7]);
    assert!(t.decode(&[266], false).is_err());
}

#[test]
fn prompts_get_bos_only_when_the_metadata_asks() {
    let t = tokenizer();
    assert_eq!(
        t.encode_prompt("he").unwrap().ids,
        t.encode("he").unwrap().ids
    );
}

mod round_trip {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any text encodes to tokens whose offsets tile it and whose decoding gives it back.
        #[test]
        fn encode_then_decode_is_identity(text in "\\PC{0,40}") {
            let t = tokenizer();
            let enc = t.encode(&text).unwrap();
            prop_assert_eq!(enc.offsets.last().map_or(0, |r| r.end), text.len());
            prop_assert_eq!(t.decode(&enc.ids, false).unwrap(), text.clone());
            let (decoded, spans) = t.decode_with_spans(&enc.ids, false).unwrap();
            prop_assert_eq!(spans.len(), enc.ids.len());
            for span in spans { prop_assert!(decoded.get(span).is_some()); }
        }
    }
}
