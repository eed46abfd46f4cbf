//! Weights messages round trip: whole models, and LoRA updates with and without their base.

use super::*;
use crate::lora::{LoraAdapters, LoraConfig, weights_sha256};
use crate::policy::LoraWeights;
use std::sync::Mutex;

#[test]
fn an_update_crosses_as_bytes_and_the_codec_is_kept() {
    let config = crate::PolicyModelConfig::default();
    let device = hicra_model::cpu();
    let (model, model_config, codec) = config.build(3, &device).unwrap();
    let model = burn::module::AutodiffModule::valid(&model);
    let update = PolicyUpdate::whole(7, model, Arc::new(codec), model_config);
    let mut decoder = UpdateDecoder::new(device);
    let early = decoder.decode(&encode_update(&update, false, false).unwrap());
    assert!(early.is_err_and(|e| e.contains("before the one with the tokenizer")));
    let first = decoder
        .decode(&encode_update(&update, true, false).unwrap())
        .unwrap();
    let again = decoder
        .decode(&encode_update(&update, false, false).unwrap())
        .unwrap();
    for got in [first, again] {
        assert_eq!(got.version, 7);
        assert_eq!(
            flat::parameters(&got.model()),
            flat::parameters(&update.model())
        );
        assert_eq!(
            got.codec.encode_response("1 2").unwrap(),
            update.codec.encode_response("1 2").unwrap()
        );
    }
    let bytes = encode_update(&update, true, false).unwrap();
    assert!(decoder.decode(&bytes[..bytes.len() - 3]).is_err());
    assert!(decoder.decode(&bytes[..5]).is_err());
}

/// A LoRA update of `base` with adapters on q, v and down whose values
/// are all `seed`-derived and non-zero, so the merge moves every adapted weight.
fn lora_update(version: u64, base: &Arc<SharedBase>, seed: u64) -> PolicyUpdate {
    let lora = LoraConfig {
        rank: 2,
        alpha: 3.0,
        targets: vec!["q".into(), "v".into(), "down".into()],
        ..LoraConfig::default()
    };
    let model = base.model();
    let adapters = LoraAdapters::init(&lora, &model, seed).unwrap();
    let n = burn::module::Module::num_params(&adapters);
    let values: Vec<f32> = (0..n)
        .map(|i| ((i as f32) * 0.37 + seed as f32).sin())
        .collect();
    let adapters = flat::load_parameters(adapters, &values).unwrap();
    let config = crate::PolicyModelConfig::default();
    let codec = crate::codec::TextCodec::Chars(CharTokenizer::new(&config.alphabet));
    PolicyUpdate {
        version,
        weights: PolicyWeights::Lora(LoraWeights {
            base: base.clone(),
            adapters: Mutex::new(adapters),
            scale: lora.scale(),
        }),
        codec: Arc::new(codec),
        config: config.model_config(),
    }
}

/// The first LoRA update on an edge carries the base, the next only the adapters; both
/// decode to the sender's merged policy bit for bit; adapters for a base the receiver
/// never got are refused, naming its hash.
#[test]
fn lora_updates_carry_the_base_once_then_only_the_adapters() {
    let config = crate::PolicyModelConfig::default().model_config();
    let device = hicra_model::cpu();
    let model = Llama::<RuntimeBackend>::init(&config, 4, &device);
    let base = Arc::new(SharedBase::new(model.clone(), weights_sha256(&model)));
    let (first, later) = (lora_update(0, &base, 1), lora_update(1, &base, 2));
    let mut encoder = UpdateEncoder::default();
    let (b0, b1) = (
        encoder.encode(&first).unwrap(),
        encoder.encode(&later).unwrap(),
    );
    let body = |bytes: &[u8]| {
        let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        bytes.len() - 8 - len
    };
    assert_eq!(body(&b0), first.update_bytes(true));
    assert_eq!(body(&b1), later.update_bytes(false));
    // per block: q 64x2 + 2x64, v 64x2 + 2x32, down 128x2 + 2x64; two blocks
    assert_eq!(later.update_bytes(false), 4 * 2 * (256 + 192 + 384));
    let mut decoder = UpdateDecoder::new(device);
    for (update, bytes) in [(&first, &b0), (&later, &b1)] {
        let got = decoder.decode(bytes).unwrap();
        assert_eq!(got.version, update.version);
        let want = flat::parameters(&update.model());
        assert_ne!(want, flat::parameters(&model), "the adapters moved nothing");
        assert_eq!(flat::parameters(&got.model()), want);
    }
    let refused =
        UpdateDecoder::new(hicra_model::cpu()).decode(&encode_update(&later, true, false).unwrap());
    let Err(e) = refused else {
        panic!("adapters for an unknown base were accepted")
    };
    assert!(
        e.contains(&base.sha256) && e.contains("not received"),
        "{e}"
    );
}
