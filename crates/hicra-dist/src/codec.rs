//! Messages as bytes, per port type: the serde messages (prompts, rollout batches, metrics)
//! as JSON, the policy's weights through [`hicra_train::wire`] (raw `f32` values, the text
//! codec on the first message of an edge; with LoRA the base on the first, then only the
//! adapters). A port type without a codec cannot cross ranks.

use std::any::TypeId;
use std::marker::PhantomData;
use std::sync::Arc;

use hicra_flow::{Envelope, Message, PortType};
use hicra_messages::{MetricsRecord, Prompt, RolloutBatch};
use hicra_train::policy::PolicyUpdate;
use hicra_train::wire::{UpdateDecoder, UpdateEncoder};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes the messages of one edge (it may keep state, e.g. whether the codec was sent).
pub trait Encoder: Send {
    fn encode(&mut self, message: &Envelope) -> Result<Vec<u8>, String>;
}

/// Decodes the messages of one edge.
pub trait Decoder: Send {
    fn decode(&mut self, bytes: &[u8]) -> Result<Envelope, String>;
}

struct Json<T>(PhantomData<fn() -> T>);

impl<T: Message + Serialize> Encoder for Json<T> {
    fn encode(&mut self, message: &Envelope) -> Result<Vec<u8>, String> {
        let value = message
            .downcast_ref::<T>()
            .ok_or("a message of another type than its edge's")?;
        serde_json::to_vec(value).map_err(|e| e.to_string())
    }
}

impl<T: Message + DeserializeOwned> Decoder for Json<T> {
    fn decode(&mut self, bytes: &[u8]) -> Result<Envelope, String> {
        let value: T = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        Ok(Arc::new(value))
    }
}

struct Weights(UpdateEncoder);

impl Encoder for Weights {
    fn encode(&mut self, message: &Envelope) -> Result<Vec<u8>, String> {
        let update = message
            .downcast_ref::<PolicyUpdate>()
            .ok_or("a message of another type than its edge's")?;
        self.0.encode(update)
    }
}

struct WeightsIn(UpdateDecoder);

impl Decoder for WeightsIn {
    fn decode(&mut self, bytes: &[u8]) -> Result<Envelope, String> {
        Ok(Arc::new(self.0.decode(bytes)?))
    }
}

fn is<T: Message>(ty: &PortType) -> bool {
    ty.id() == TypeId::of::<T>()
}

/// The encoder of an edge carrying `ty`, if that type can cross ranks.
pub fn encoder(ty: &PortType) -> Option<Box<dyn Encoder>> {
    Some(match () {
        _ if is::<Prompt>(ty) => Box::new(Json::<Prompt>(PhantomData)),
        _ if is::<RolloutBatch>(ty) => Box::new(Json::<RolloutBatch>(PhantomData)),
        _ if is::<MetricsRecord>(ty) => Box::new(Json::<MetricsRecord>(PhantomData)),
        _ if is::<PolicyUpdate>(ty) => Box::new(Weights(UpdateEncoder::default())),
        _ => return None,
    })
}

/// The decoder of an edge carrying `ty`, if that type can cross ranks.
pub fn decoder(ty: &PortType) -> Option<Box<dyn Decoder>> {
    Some(match () {
        _ if is::<Prompt>(ty) => Box::new(Json::<Prompt>(PhantomData)),
        _ if is::<RolloutBatch>(ty) => Box::new(Json::<RolloutBatch>(PhantomData)),
        _ if is::<MetricsRecord>(ty) => Box::new(Json::<MetricsRecord>(PhantomData)),
        // weights arrive on the CPU; the sampler moves them to its own device
        _ if is::<PolicyUpdate>(ty) => Box::new(WeightsIn(UpdateDecoder::new(hicra_model::cpu()))),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hicra_messages::Metrics;

    #[test]
    fn serde_messages_round_trip_and_unknown_types_are_refused() {
        let ty = PortType::of::<MetricsRecord>();
        let record = MetricsRecord {
            step: 3,
            source: "learner".into(),
            values: Metrics::from([("loss".to_string(), 0.5)]),
        };
        let bytes = encoder(&ty)
            .unwrap()
            .encode(&(Arc::new(record.clone()) as Envelope))
            .unwrap();
        let back = decoder(&ty).unwrap().decode(&bytes).unwrap();
        assert_eq!(back.downcast_ref::<MetricsRecord>(), Some(&record));
        assert!(decoder(&ty).unwrap().decode(b"{").is_err());
        assert!(encoder(&PortType::of::<u64>()).is_none());
        let wrong = encoder(&ty).unwrap().encode(&(Arc::new(1u64) as Envelope));
        assert!(wrong.is_err());
    }
}
