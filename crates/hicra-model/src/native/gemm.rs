//! `out (+)= a @ b` in f32 for matrices read in place through their strides: a transposed
//! operand is the same memory with its strides swapped ([`Mat::t`]), so the backward pass's
//! `dY @ W^T` and `X^T @ dY` copy nothing. The products run on the `gemm` crate's packed,
//! cache-blocked kernels (AVX-512 or AVX2 by the CPU); a product big enough to share is cut
//! into one block of output rows (or columns, when it is wider than tall) per core, each run
//! by one thread (`gemm`'s own threading leaves the second core idle on the learner's
//! `[tokens, 576] x [576, 576]` products).

use std::marker::PhantomData;

use rayon::prelude::*;

use super::shared::SharedMut;

/// Fewer multiply-adds than this run on the calling thread.
const SERIAL_WORK: usize = 1 << 18;

/// A matrix `[rows, cols]` whose entry `(r, c)` is `data[r * row_stride + c * col_stride]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mat<'a> {
    ptr: *const f32,
    pub rows: usize,
    pub cols: usize,
    row_stride: isize,
    col_stride: isize,
    data: PhantomData<&'a [f32]>,
}

// SAFETY: a `Mat` is a shared borrow of its data.
unsafe impl Send for Mat<'_> {}
unsafe impl Sync for Mat<'_> {}

impl<'a> Mat<'a> {
    /// `data` as a row-major `[rows, cols]` matrix.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols)
    }

    /// Row-major `[rows, cols]` with rows `row_stride` apart (a block of columns of a wider
    /// matrix).
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        assert!(cols <= row_stride || rows <= 1, "rows overlap");
        if rows > 0 && cols > 0 {
            assert!(
                (rows - 1) * row_stride + cols <= data.len(),
                "a [{rows}, {cols}] matrix (row stride {row_stride}) does not fit in {} values",
                data.len()
            );
        }
        Self {
            ptr: data.as_ptr(),
            rows,
            cols,
            row_stride: row_stride as isize,
            col_stride: 1,
            data: PhantomData,
        }
    }

    /// The transpose, in place.
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Rows `from..from + rows` (in place).
    fn row_block(self, from: usize, rows: usize) -> Self {
        Self {
            ptr: self.ptr.wrapping_offset(from as isize * self.row_stride),
            rows,
            ..self
        }
    }

    /// Columns `from..from + cols` (in place).
    fn col_block(self, from: usize, cols: usize) -> Self {
        Self {
            ptr: self.ptr.wrapping_offset(from as isize * self.col_stride),
            cols,
            ..self
        }
    }
}

/// `out = a @ b`, or `out += a @ b` when `accumulate`; `out` is row-major `[a.rows, b.cols]`.
pub(crate) fn product(out: &mut [f32], a: Mat<'_>, b: Mat<'_>, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions differ");
    assert_eq!(out.len(), m * n, "out is [m, n]");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            out.fill(0.0);
        }
        return;
    }
    let dst = SharedMut::new(out);
    let threads = rayon::current_num_threads();
    // SAFETY (each call): the blocks lie within `a`, `b` (checked at construction) and `out`
    // (checked above); blocks of one product write disjoint entries of `out`.
    let block = |rows: std::ops::Range<usize>, cols: std::ops::Range<usize>| unsafe {
        let (a, b) = (
            a.row_block(rows.start, rows.len()),
            b.col_block(cols.start, cols.len()),
        );
        one_thread(dst.at(rows.start * n + cols.start), n, a, b, accumulate);
    };
    if m * k * n < SERIAL_WORK || threads == 1 {
        block(0..m, 0..n);
    } else if m >= n {
        let size = m.div_ceil(threads);
        (0..threads).into_par_iter().for_each(|t| {
            let rows = t * size..((t + 1) * size).min(m);
            if !rows.is_empty() {
                block(rows, 0..n);
            }
        });
    } else {
        // whole 16-column groups per block, so each keeps full vectors
        let size = n.div_ceil(threads).next_multiple_of(16);
        (0..threads).into_par_iter().for_each(|t| {
            let cols = t * size..((t + 1) * size).min(n);
            if !cols.is_empty() {
                block(0..m, cols);
            }
        });
    }
}

/// `out (+)= a @ b` on the calling thread, `out` row-major `[a.rows, b.cols]` with rows
/// `out_stride` apart (a block of columns of a wider matrix): the small products of a task
/// that already runs beside others (attention's per-head products).
pub(crate) fn product_here(
    out: &mut [f32],
    out_stride: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    accumulate: bool,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions differ");
    assert!(n <= out_stride, "rows of out overlap");
    if m == 0 || n == 0 {
        return;
    }
    assert!((m - 1) * out_stride + n <= out.len(), "out is too small");
    if k == 0 {
        if !accumulate {
            out.chunks_mut(out_stride).for_each(|r| r[..n].fill(0.0));
        }
        return;
    }
    // SAFETY: `a` and `b` are checked at construction, `out` above.
    unsafe { one_thread(out.as_mut_ptr(), out_stride, a, b, accumulate) };
}

/// `out (+)= a @ b` through `gemm` on the calling thread, `out` row-major with rows
/// `out_stride` apart.
///
/// # Safety
/// `out` valid for `[a.rows, b.cols]` at that stride, `a.cols == b.rows`.
unsafe fn one_thread(out: *mut f32, out_stride: usize, a: Mat<'_>, b: Mat<'_>, accumulate: bool) {
    unsafe {
        gemm::gemm(
            a.rows,
            b.cols,
            a.cols,
            out,
            1,
            out_stride as isize,
            accumulate,
            a.ptr,
            a.col_stride,
            a.row_stride,
            b.ptr,
            b.col_stride,
            b.row_stride,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let h = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed);
                (h % 1000) as f32 / 500.0 - 1.0
            })
            .collect()
    }

    fn at(m: &Mat<'_>, data: &[f32], r: usize, c: usize) -> f32 {
        let base = m.ptr as usize - data.as_ptr() as usize;
        let i = base / 4 + (r as isize * m.row_stride + c as isize * m.col_stride) as usize;
        data[i]
    }

    #[test]
    fn every_layout_and_split_equals_the_naive_product() {
        // serial and threaded, split by rows and by columns, plain and transposed operands
        for (m, k, n) in [(3, 5, 7), (200, 64, 30), (30, 64, 200), (70, 300, 90)] {
            let (x, y) = (filled(m * k, 1), filled(k * n, 2));
            let plain_a = Mat::rows(&x, m, k);
            let trans_a = Mat::rows(&x, k, m).t();
            let plain_b = Mat::rows(&y, k, n);
            let trans_b = Mat::rows(&y, n, k).t();
            for (a, b) in [
                (plain_a, plain_b),
                (trans_a, plain_b),
                (plain_a, trans_b),
                (trans_a, trans_b),
            ] {
                let mut out = vec![1.0; m * n];
                product(&mut out, a, b, true);
                for r in 0..m {
                    for c in 0..n {
                        let want: f64 = (0..k)
                            .map(|l| f64::from(at(&a, &x, r, l)) * f64::from(at(&b, &y, l, c)))
                            .sum();
                        let got = out[r * n + c];
                        assert!((f64::from(got) - want - 1.0).abs() < 1e-3, "{m}x{k}x{n}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_column_block_of_a_wider_matrix_is_read_in_place() {
        let wide = filled(4 * 10, 3);
        let block = Mat::strided(&wide[2..], 4, 3, 10);
        let ones = vec![1.0; 3];
        let mut out = vec![0.0; 4];
        product(&mut out, block, Mat::rows(&ones, 3, 1), false);
        for r in 0..4 {
            let want: f32 = wide[r * 10 + 2..r * 10 + 5].iter().sum();
            assert!((out[r] - want).abs() < 1e-5);
        }
    }
}
