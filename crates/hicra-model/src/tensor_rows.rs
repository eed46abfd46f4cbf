//! The caches of rows the tensor path sampled, kept so that branches continue them
//! ([`crate::branch`]).
//!
//! A decode keeps its rows' caches in chunks, as they leave the batch ([`crate::tensor_decode`]):
//! each chunk is a [`KvCache`] of several rows, left-padded as the batch was, and each kept row
//! knows its chunk and its row there. A branch needs a row's first `k` real slots (the prefix
//! but its last token); rows of different prefixes decode together only left-padded to the
//! longest, so [`TensorRows::prefixes`] re-pads: for every layer and chunk, the chunk's slots
//! are viewed as one `[rows * slots, kv_heads * head_dim]` table and one `select` picks, for
//! each wanted row, its `k` real slots placed at the end of `longest` (a padding slot takes
//! any slot of its row: the attention mask hides it). Cost per branch call: one gather of the
//! prefixes' keys and values, a few ops per layer and chunk, and no forward pass.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::kv_cache::{KeyValues, KvCache, LayerCache};

/// Kept caches of rows, by chunk.
pub(crate) struct TensorRows<B: Backend> {
    chunks: Vec<KvCache<B>>,
    /// Each row's chunk and its row there (`None` until added).
    places: Vec<Option<(usize, usize)>>,
}

impl<B: Backend> TensorRows<B> {
    /// Room for `rows` rows, none kept yet.
    pub(crate) fn new(rows: usize) -> Self {
        Self {
            chunks: Vec::new(),
            places: vec![None; rows],
        }
    }

    /// Keeps `chunk`, whose row `k` is row `rows[k]`.
    pub(crate) fn add(&mut self, chunk: KvCache<B>, rows: &[usize]) {
        if rows.is_empty() {
            return;
        }
        let c = self.chunks.len();
        for (k, &row) in rows.iter().enumerate() {
            self.places[row] = Some((c, k));
        }
        self.chunks.push(chunk);
    }

    /// Rows held.
    pub(crate) fn len(&self) -> usize {
        self.places.len()
    }

    /// Where row `row`'s real slots start: its chunk, its row there and its padding.
    fn place(&self, row: usize) -> (usize, usize, usize) {
        let (c, r) = self.places[row].unwrap_or_else(|| panic!("row {row}'s cache was not kept"));
        (c, r, self.chunks[c].padding.get(r).copied().unwrap_or(0))
    }

    /// A cache of `wanted.len()` rows, row `w` holding the first `wanted[w].1` real slots of
    /// kept row `wanted[w].0`, left-padded to the longest: the cache of a batch whose rows are
    /// those prefixes, ready to take each one's next token. Panics on a row not kept or one
    /// holding fewer slots.
    pub(crate) fn prefixes(
        &self,
        wanted: &[(usize, usize)],
        num_layers: usize,
        device: &B::Device,
    ) -> KvCache<B> {
        let longest = wanted.iter().map(|&(_, k)| k).max().unwrap_or(0);
        let padding: Vec<usize> = wanted.iter().map(|&(_, k)| longest - k).collect();
        let mut cache = KvCache::padded(num_layers, padding.clone());
        if longest == 0 {
            return cache;
        }
        // per chunk: the wanted rows it holds, and the source slot of each of their slots
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); self.chunks.len()];
        let mut sources: Vec<Vec<i64>> = vec![Vec::new(); self.chunks.len()];
        for (w, &(row, k)) in wanted.iter().enumerate() {
            let (c, r, start) = self.place(row);
            let slots = self.chunks[c].len;
            assert!(
                start + k <= slots,
                "row {row} holds {} slots, {k} wanted",
                slots - start
            );
            let base = (r * slots) as i64;
            // padding slots point at the row's first slot (hidden by the mask)
            let first = (start + k) as i64 - longest as i64;
            let source = (0..longest as i64).map(|m| base + (first + m).max(0));
            members[c].push(w);
            sources[c].extend(source);
        }
        let used: Vec<usize> = (0..self.chunks.len())
            .filter(|&c| !members[c].is_empty())
            .collect();
        // the wanted order of the rows gathered chunk by chunk
        let grouped = used.iter().flat_map(|&c| members[c].iter().copied());
        let mut order = vec![0i64; wanted.len()];
        for (position, w) in grouped.enumerate() {
            order[w] = position as i64;
        }
        let in_order = order.iter().enumerate().all(|(w, &p)| p == w as i64);
        let index = |values: Vec<i64>| {
            let n = values.len();
            Tensor::<B, 1, Int>::from_data(TensorData::new(values, [n]), device)
        };
        let source_index: Vec<Tensor<B, 1, Int>> = used
            .iter()
            .map(|&c| index(std::mem::take(&mut sources[c])))
            .collect();
        let order = (!in_order).then(|| index(order));
        for layer in 0..num_layers {
            let (mut keys, mut values) = (Vec::new(), Vec::new());
            for (&c, source) in used.iter().zip(&source_index) {
                let (k, v) = joined(&self.chunks[c].layers[layer]);
                keys.push(pick_slots(k, source, members[c].len(), longest));
                values.push(pick_slots(v, source, members[c].len(), longest));
            }
            let (mut keys, mut values) = (Tensor::cat(keys, 0), Tensor::cat(values, 0));
            if let Some(order) = &order {
                keys = keys.select(0, order.clone());
                values = values.select(0, order.clone());
            }
            cache.layers[layer] = LayerCache::settled(KeyValues { keys, values });
        }
        cache.len = longest;
        cache
    }
}

/// A layer's keys and values, its parts joined: `[rows, slots, kv_heads, head_dim]` each.
fn joined<B: Backend>(layer: &LayerCache<B>) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let parts: Vec<&KeyValues<B>> = layer.parts().collect();
    let keys = Tensor::cat(parts.iter().map(|kv| kv.keys.clone()).collect(), 1);
    let values = Tensor::cat(parts.iter().map(|kv| kv.values.clone()).collect(), 1);
    (keys, values)
}

/// `rows` rows of `longest` slots of `t: [chunk rows, slots, heads, dim]`, slot `m` of row
/// `w` being flat slot `source[w * longest + m]` (row-major over the chunk's rows and slots).
fn pick_slots<B: Backend>(
    t: Tensor<B, 4>,
    source: &Tensor<B, 1, Int>,
    rows: usize,
    longest: usize,
) -> Tensor<B, 4> {
    let [chunk_rows, slots, heads, dim] = t.dims();
    t.reshape([chunk_rows * slots, heads * dim])
        .select(0, source.clone())
        .reshape([rows, longest, heads, dim])
}
