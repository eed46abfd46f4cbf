//! One response's key/value cache: every layer's keys and values of every slot, allocated
//! once for the whole response (prompt + the most tokens it may generate) and written in
//! place, so a decode step copies nothing but the new slot.

/// The cache of one row, `[layers, capacity, kv_width]` for keys and the same for values.
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
    pub fn new(layers: usize, capacity: usize, kv_width: usize) -> Self {
        Self {
            capacity,
            kv_width,
            len: 0,
            keys: vec![0.0; layers * capacity * kv_width],
            values: vec![0.0; layers * capacity * kv_width],
        }
    }

    fn range(&self, layer: usize, slot: usize) -> std::ops::Range<usize> {
        let start = (layer * self.capacity + slot) * self.kv_width;
        start..start + self.kv_width
    }

    /// Writes slot `slot` of `layer`.
    pub fn write(&mut self, layer: usize, slot: usize, keys: &[f32], values: &[f32]) {
        assert!(slot < self.capacity, "slot {slot} beyond the cache's {}", self.capacity);
        let range = self.range(layer, slot);
        self.keys[range.clone()].copy_from_slice(keys);
        self.values[range].copy_from_slice(values);
    }

    /// Keys and values of slots `0..slots` of `layer`, each `[slots, kv_width]`.
    pub fn layer(&self, layer: usize, slots: usize) -> (&[f32], &[f32]) {
        let start = layer * self.capacity * self.kv_width;
        let end = start + slots * self.kv_width;
        (&self.keys[start..end], &self.values[start..end])
    }
}
