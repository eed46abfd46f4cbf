//! One response's key/value cache: every layer's keys and values of every slot, allocated
//! once for the whole response (prompt + the most tokens it may generate) and written in
//! place, so a decode step copies nothing but the new slot. Keys are stored transposed,
//! each of a layer's `kv_width` key components contiguous over the slots, so a query's
//! scores against all slots are sums of contiguous rows (vectorised over the slots, no
//! horizontal sums); values stay slot-major, so the weighted sum adds contiguous rows too.

use super::kernels::LANES;

/// The cache of one row: keys `[layers, kv_width, capacity]`, values
/// `[layers, capacity, kv_width]`.
#[derive(Debug, Clone)]
pub(crate) struct RowCache {
    capacity: usize,
    kv_width: usize,
    /// Slots written in every layer.
    pub len: usize,
    keys: Vec<f32>,
    values: Vec<f32>,
}

impl RowCache {
    /// A cache of at least `capacity` slots (rounded up to whole chunks of the attention's
    /// lanes, so its sums may read a whole chunk past the last slot).
    pub fn new(layers: usize, capacity: usize, kv_width: usize) -> Self {
        let capacity = capacity.next_multiple_of(LANES);
        Self {
            capacity,
            kv_width,
            len: 0,
            keys: vec![0.0; layers * capacity * kv_width],
            values: vec![0.0; layers * capacity * kv_width],
        }
    }

    /// A new cache of at least `capacity` slots holding this one's first `slots` slots (a
    /// branch's children continue from their parent's prefix; the rest is left unwritten).
    pub fn prefix(&self, slots: usize, capacity: usize) -> Self {
        assert!(
            slots <= self.len,
            "a prefix of {slots} slots from a cache of {}",
            self.len
        );
        let layers = self.values.len() / (self.capacity * self.kv_width).max(1);
        let mut out = Self::new(layers, capacity.max(slots), self.kv_width);
        out.len = slots;
        let rows = self.keys.chunks_exact(self.capacity);
        for (to, from) in out.keys.chunks_exact_mut(out.capacity).zip(rows) {
            to[..slots].copy_from_slice(&from[..slots]);
        }
        let (old, new) = (self.capacity * self.kv_width, out.capacity * self.kv_width);
        let layer_values = self.values.chunks_exact(old);
        for (to, from) in out.values.chunks_exact_mut(new).zip(layer_values) {
            to[..slots * self.kv_width].copy_from_slice(&from[..slots * self.kv_width]);
        }
        out
    }

    /// Slots a layer holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Writes slot `slot` of `layer`.
    pub fn write(&mut self, layer: usize, slot: usize, keys: &[f32], values: &[f32]) {
        assert!(
            slot < self.capacity,
            "slot {slot} beyond the cache's {}",
            self.capacity
        );
        let layer_start = layer * self.capacity * self.kv_width;
        let at = layer_start + slot * self.kv_width;
        self.values[at..at + self.kv_width].copy_from_slice(values);
        let transposed = self.keys[layer_start..].chunks_exact_mut(self.capacity);
        for (row, &k) in transposed.zip(keys) {
            row[slot] = k;
        }
    }

    /// `layer`'s keys `[kv_width, capacity]` and values of slots `0..slots`
    /// `[slots, kv_width]`.
    pub fn layer(&self, layer: usize, slots: usize) -> (&[f32], &[f32]) {
        let start = layer * self.capacity * self.kv_width;
        let all = start..start + self.capacity * self.kv_width;
        let values = start..start + slots * self.kv_width;
        (&self.keys[all], &self.values[values])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_read_back_as_written_in_every_layer() {
        let (layers, kv_width) = (3, 4);
        let mut cache = RowCache::new(layers, 5, kv_width);
        assert_eq!(cache.capacity(), LANES, "rounded up to whole chunks");
        let key = |l: usize, s: usize, j: usize| (100 * l + 10 * s + j) as f32;
        for l in 0..layers {
            for s in 0..5 {
                let k: Vec<f32> = (0..kv_width).map(|j| key(l, s, j)).collect();
                let v: Vec<f32> = k.iter().map(|x| -x).collect();
                cache.write(l, s, &k, &v);
            }
        }
        for l in 0..layers {
            let (keys, values) = cache.layer(l, 5);
            assert_eq!(values.len(), 5 * kv_width);
            for s in 0..5 {
                for j in 0..kv_width {
                    assert_eq!(
                        keys[j * cache.capacity() + s],
                        key(l, s, j),
                        "key {l} {s} {j}"
                    );
                    assert_eq!(values[s * kv_width + j], -key(l, s, j), "value {l} {s} {j}");
                }
            }
        }
    }

    #[test]
    fn a_prefix_keeps_its_slots_in_a_cache_of_another_capacity() {
        let (layers, kv_width) = (2, 3);
        let mut cache = RowCache::new(layers, 20, kv_width);
        let key = |l: usize, s: usize, j: usize| (100 * l + 10 * s + j) as f32;
        for l in 0..layers {
            for s in 0..6 {
                let k: Vec<f32> = (0..kv_width).map(|j| key(l, s, j)).collect();
                let v: Vec<f32> = k.iter().map(|x| -x).collect();
                cache.write(l, s, &k, &v);
            }
        }
        cache.len = 6;
        for capacity in [5, 40] {
            let prefix = cache.prefix(4, capacity);
            assert_eq!(prefix.len, 4);
            assert!(prefix.capacity() >= capacity);
            for l in 0..layers {
                let (keys, values) = prefix.layer(l, 4);
                for s in 0..4 {
                    for j in 0..kv_width {
                        assert_eq!(keys[j * prefix.capacity() + s], key(l, s, j));
                        assert_eq!(values[s * kv_width + j], -key(l, s, j));
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "beyond the cache")]
    fn a_slot_past_the_capacity_is_refused() {
        let mut cache = RowCache::new(1, 16, 2);
        cache.write(0, 16, &[0.0; 2], &[0.0; 2]);
    }
}
