//! The key/value cache of generation: per layer, the keys and values of every slot seen so far,
//! `[batch, slots, kv_heads, head_dim]` (slot-major, as the projections produce them).
//!
//! Growing one tensor by concatenation copies the whole history on every decoded token
//! (O(T^2) copying per response), and burn 0.21's CPU backend copies a tensor even on
//! `slice_assign` into a uniquely owned buffer, so a preallocated buffer does not help either.
//! The cache is therefore kept in two parts: `settled` slots, written once and rebuilt only
//! every [`RECENT_SLOTS`] tokens, and the `recent` ones, extended by a small concatenation per
//! token. Attention reads both parts without joining them ([`crate::layers::Attention`]), so a
//! decode step copies at most [`RECENT_SLOTS`] slots, plus the history once per
//! [`RECENT_SLOTS`] steps. Everything is a backend tensor op: no host round trip.
//!
//! Rows can be repeated (a prompt's cache shared by its group) and selected (finished rows
//! dropped from a batch) on the device.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

/// Most slots the `recent` part holds before it is merged into the `settled` one.
pub const RECENT_SLOTS: usize = 32;

/// Keys and values of some slots of one layer, `[batch, slots, kv_heads, head_dim]` each.
#[derive(Debug, Clone)]
pub struct KeyValues<B: Backend> {
    pub keys: Tensor<B, 4>,
    pub values: Tensor<B, 4>,
}

impl<B: Backend> KeyValues<B> {
    /// Slots held.
    pub fn len(&self) -> usize {
        self.keys.dims()[1]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// These slots followed by `later`'s.
    fn join(self, later: Self) -> Self {
        Self {
            keys: Tensor::cat(vec![self.keys, later.keys], 1),
            values: Tensor::cat(vec![self.values, later.values], 1),
        }
    }

    fn select_rows(&self, index: &Tensor<B, 1, Int>) -> Self {
        Self {
            keys: self.keys.clone().select(0, index.clone()),
            values: self.values.clone().select(0, index.clone()),
        }
    }
}

/// One layer's cache: the settled slots, then the recent ones (either may be absent).
#[derive(Debug, Clone)]
pub struct LayerCache<B: Backend> {
    settled: Option<KeyValues<B>>,
    recent: Option<KeyValues<B>>,
}

impl<B: Backend> Default for LayerCache<B> {
    fn default() -> Self {
        Self {
            settled: None,
            recent: None,
        }
    }
}

impl<B: Backend> LayerCache<B> {
    /// Slots cached.
    pub fn len(&self) -> usize {
        self.parts().map(KeyValues::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parts, oldest first.
    pub fn parts(&self) -> impl Iterator<Item = &KeyValues<B>> {
        self.settled.iter().chain(self.recent.iter())
    }

    /// Appends the slots of `new` (the first ones of an empty cache are settled at once, a
    /// prompt's prefill); returns the parts to attend over, oldest first.
    pub fn append(&mut self, new: KeyValues<B>) -> Vec<KeyValues<B>> {
        if self.settled.is_none() {
            self.settled = Some(new);
        } else {
            let recent = match self.recent.take() {
                Some(recent) => recent.join(new),
                None => new,
            };
            if recent.len() >= RECENT_SLOTS {
                let settled = self.settled.take().expect("settled checked above");
                self.settled = Some(settled.join(recent));
            } else {
                self.recent = Some(recent);
            }
        }
        self.parts().cloned().collect()
    }

    /// A cache whose slots are `kv`, all settled.
    pub(crate) fn settled(kv: KeyValues<B>) -> Self {
        Self {
            settled: Some(kv),
            recent: None,
        }
    }

    /// Rows `index` of both parts, in that order.
    fn select_rows(&self, index: &Tensor<B, 1, Int>) -> Self {
        Self {
            settled: self.settled.as_ref().map(|kv| kv.select_rows(index)),
            recent: self.recent.as_ref().map(|kv| kv.select_rows(index)),
        }
    }
}

/// Per-layer key/value caches of one batch of sequences. Prompts of different lengths are
/// left-padded: row `b` starts with `padding[b]` slots that no real position attends to, and
/// its real tokens take positions `0, 1, ...` from there.
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    pub layers: Vec<LayerCache<B>>,
    /// Slots already cached (padding included).
    pub len: usize,
    /// Left-padding slots per row; empty when no row is padded.
    pub padding: Vec<usize>,
}

impl<B: Backend> KvCache<B> {
    pub fn new(num_layers: usize) -> Self {
        Self {
            layers: vec![LayerCache::default(); num_layers],
            len: 0,
            padding: Vec::new(),
        }
    }

    /// An empty cache for rows whose first `padding[b]` slots will be padding.
    pub fn padded(num_layers: usize, padding: Vec<usize>) -> Self {
        let padding = if padding.iter().all(|&p| p == 0) {
            Vec::new()
        } else {
            padding
        };
        Self {
            padding,
            ..Self::new(num_layers)
        }
    }

    /// Rows held (1 when nothing is cached yet and no row is padded).
    pub fn rows(&self) -> usize {
        self.layers
            .iter()
            .flat_map(LayerCache::parts)
            .next()
            .map_or(self.padding.len().max(1), |kv| kv.keys.dims()[0])
    }

    /// Repeats every row `times` in place (`[a, b]` -> `[a, a, b, b]`): each prompt's cache
    /// shared by the samples of its group.
    pub fn repeat_rows(&self, times: usize, device: &B::Device) -> Self {
        let rows: Vec<usize> = (0..self.rows())
            .flat_map(|r| std::iter::repeat_n(r, times))
            .collect();
        self.select_rows(&rows, device)
    }

    /// The cache of rows `rows` (in that order, repeats allowed): finished rows dropped from
    /// a decoding batch, or rows repeated.
    pub fn select_rows(&self, rows: &[usize], device: &B::Device) -> Self {
        let index: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index, [rows.len()]), device);
        let padding = if self.padding.is_empty() {
            Vec::new()
        } else {
            rows.iter().map(|&r| self.padding[r]).collect()
        };
        Self {
            layers: self.layers.iter().map(|l| l.select_rows(&index)).collect(),
            len: self.len,
            padding,
        }
        .without_zero_padding()
    }

    /// Drops the padding list when no row is padded any more (one shared causal mask).
    fn without_zero_padding(mut self) -> Self {
        if self.padding.iter().all(|&p| p == 0) {
            self.padding.clear();
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuntimeBackend as B;

    fn slots(rows: usize, from: usize, n: usize) -> KeyValues<B> {
        let data: Vec<f32> = (0..rows)
            .flat_map(|r| (from..from + n).map(move |s| (r * 1000 + s) as f32))
            .collect();
        let t =
            Tensor::<B, 1>::from_floats(data.as_slice(), &crate::cpu()).reshape([rows, n, 1, 1]);
        KeyValues {
            keys: t.clone(),
            values: t.neg(),
        }
    }

    fn joined(cache: &LayerCache<B>) -> Vec<f32> {
        let keys: Vec<Tensor<B, 4>> = cache.parts().map(|kv| kv.keys.clone()).collect();
        Tensor::cat(keys, 1).into_data().to_vec().unwrap()
    }

    #[test]
    fn appending_in_two_parts_keeps_every_slot_in_order() {
        let mut cache = LayerCache::<B>::default();
        cache.append(slots(2, 0, 5));
        let mut next = 5;
        for _ in 0..(2 * RECENT_SLOTS + 3) {
            let parts = cache.append(slots(2, next, 1));
            next += 1;
            assert!(parts.len() <= 2);
            assert!(cache.recent.as_ref().map_or(0, KeyValues::len) < RECENT_SLOTS);
        }
        assert_eq!(cache.len(), next);
        let want: Vec<f32> = (0..2)
            .flat_map(|r| (0..next).map(move |s| (r * 1000 + s) as f32))
            .collect();
        assert_eq!(joined(&cache), want);
    }

    #[test]
    fn rows_are_selected_in_both_parts_with_their_padding() {
        let mut cache = KvCache::<B>::padded(1, vec![2, 0, 1]);
        cache.layers[0].append(slots(3, 0, 4));
        cache.layers[0].append(slots(3, 4, 1));
        let picked = cache.select_rows(&[2, 0, 0], &crate::cpu());
        assert_eq!(picked.padding, vec![1, 2, 2]);
        assert_eq!(picked.rows(), 3);
        let row = |r: usize| (0..5).map(move |s| (r * 1000 + s) as f32);
        let want: Vec<f32> = row(2).chain(row(0)).chain(row(0)).collect();
        assert_eq!(joined(&picked.layers[0]), want);
        let unpadded = cache.select_rows(&[1], &crate::cpu());
        assert!(unpadded.padding.is_empty());
    }
}
