//! A buffer that several tasks of one parallel loop write, each its own disjoint entries: the
//! products' output tiles, attention's per-head rows. A raw pointer, because the entries of
//! different tasks interleave in memory and so cannot be split into `&mut` slices.

/// The start of a `f32` buffer that tasks write disjoint parts of.
#[derive(Clone, Copy)]
pub(crate) struct SharedMut(*mut f32);

// SAFETY: the tasks that share it write disjoint entries (each user says which).
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    pub fn new(buffer: &mut [f32]) -> Self {
        Self(buffer.as_mut_ptr())
    }

    /// The pointer `offset` values in (a method, so closures capture the `Sync` wrapper, not
    /// its field).
    pub fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }

    /// `len` values from `offset`.
    ///
    /// # Safety
    /// In bounds, and no other task touches these entries meanwhile.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, offset: usize, len: usize) -> &mut [f32] {
        unsafe { std::slice::from_raw_parts_mut(self.0.add(offset), len) }
    }
}
