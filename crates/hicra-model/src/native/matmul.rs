//! `out [m, n] (+)= x [m, k] @ w [k, n]` with `w` packed once for generation: its columns in
//! panels of [`PANEL`], each panel `[k, PANEL]` contiguous (the last one zero-padded), so a
//! product streams each panel from memory once, front to back, and a decode step (a few
//! rows) reads every weight exactly once at the machine's memory bandwidth. The work is cut
//! into tasks of one panel times a run of rows and spread over the thread pool (rayon), and
//! each task walks its rows in tiles of [`TILE_ROWS`] through the kernel of [`kernels`]; a
//! product too small to share runs on the calling thread. The residual is added by the
//! product itself (`accumulate`).
//!
//! [`kernels`]: super::kernels

use rayon::prelude::*;

use super::kernels::{Isa, PANEL, TILE_ROWS, Tile};
use super::shared::SharedMut;

/// Fewer multiply-adds than this run on the calling thread (thread hand-off costs more).
const SERIAL_WORK: usize = 1 << 17;
/// Rows of one task when a product has many rows (a prefill): its `x` part stays in cache
/// while the panel is swept.
const TASK_ROWS: usize = 256;

/// A row-major matrix `[rows, cols]` read in place with the given strides (in elements).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MatrixView<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl MatrixView<'_> {
    fn at(&self, row: usize, col: usize) -> f32 {
        self.data[row * self.row_stride + col * self.col_stride]
    }
}

/// A matrix `[rows, cols]` packed in column panels for [`matmul`].
#[derive(Debug, Clone)]
pub(crate) struct Packed {
    data: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
}

impl Packed {
    pub fn new(m: MatrixView<'_>) -> Self {
        Self::side_by_side(&[m])
    }

    /// Several matrices of the same row count side by side (`[rows, a] | [rows, b] | ..`),
    /// packed straight from their views.
    pub fn side_by_side(parts: &[MatrixView<'_>]) -> Self {
        let rows = parts[0].rows;
        assert!(
            parts.iter().all(|p| p.rows == rows),
            "side by side: same rows"
        );
        // each joined column: its part and its column there
        let sources: Vec<(&MatrixView<'_>, usize)> = parts
            .iter()
            .flat_map(|p| (0..p.cols).map(move |c| (p, c)))
            .collect();
        let mut data = vec![0.0; sources.len().div_ceil(PANEL) * rows * PANEL];
        for (panel, columns) in data
            .chunks_exact_mut(rows * PANEL)
            .zip(sources.chunks(PANEL))
        {
            for (l, line) in panel.chunks_exact_mut(PANEL).enumerate() {
                for (slot, (part, col)) in line.iter_mut().zip(columns) {
                    *slot = part.at(l, *col);
                }
            }
        }
        Self {
            data,
            rows,
            cols: sources.len(),
        }
    }

    fn panels(&self) -> usize {
        self.cols.div_ceil(PANEL)
    }
}

/// `out = x @ w`, or `out += x @ w` when `accumulate`. `x` is row-major `[m, w.rows]`, `out`
/// row-major `[m, w.cols]`.
pub(crate) fn matmul(x: &[f32], m: usize, w: &Packed, out: &mut [f32], accumulate: bool) {
    matmul_on(Isa::detected(), x, m, w, out, accumulate);
}

/// [`matmul`] through a given kernel (one of [`Isa::available`]).
fn matmul_on(isa: Isa, x: &[f32], m: usize, w: &Packed, out: &mut [f32], accumulate: bool) {
    let (k, n) = (w.rows, w.cols);
    assert_eq!(x.len(), m * k, "lhs is [m, k]");
    assert_eq!(out.len(), m * n, "out is [m, n]");
    debug_assert!(isa == Isa::Portable || Isa::available().contains(&isa));
    if m == 0 || n == 0 {
        return;
    }
    let task_rows = if m <= TASK_ROWS { m } else { TASK_ROWS };
    let row_parts = m.div_ceil(task_rows);
    let dst = SharedMut::new(out);
    let task = |i: usize| {
        let (panel, part) = (i / row_parts, i % row_parts);
        let cols = (n - panel * PANEL).min(PANEL);
        let rows = part * task_rows..((part + 1) * task_rows).min(m);
        for row0 in rows.clone().step_by(TILE_ROWS) {
            let tile = Tile {
                x: x[row0 * k..].as_ptr(),
                x_stride: k,
                rows: (rows.end - row0).min(TILE_ROWS),
                k,
                panel: w.data[panel * k * PANEL..].as_ptr(),
                // SAFETY: within `out` (checked above); this task alone writes these entries.
                out: dst.at(row0 * n + panel * PANEL),
                out_stride: n,
                cols,
                accumulate,
            };
            // SAFETY: the tile lies within `x`, the panel and `out`; the ISA is available.
            unsafe { isa.run(&tile) };
        }
    };
    let tasks = w.panels() * row_parts;
    if m * k * n < SERIAL_WORK || rayon::current_num_threads() == 1 {
        (0..tasks).for_each(task);
    } else {
        (0..tasks).into_par_iter().for_each(task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f32], m: usize, w: MatrixView<'_>) -> Vec<f32> {
        let mut out = vec![0.0; m * w.cols];
        for i in 0..m {
            for j in 0..w.cols {
                let sum: f64 = (0..w.rows)
                    .map(|l| f64::from(x[i * w.rows + l]) * f64::from(w.at(l, j)))
                    .sum();
                out[i * w.cols + j] = sum as f32;
            }
        }
        out
    }

    fn filled(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let h = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed);
                (h % 1000) as f32 / 500.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn every_kernel_and_shape_equals_the_naive_product() {
        // tiles of 1-4 rows, a partial last panel, one task and many, serial and threaded
        let shapes = [
            (3, 5, 7),
            (1, 96, 1500),
            (6, 64, 333),
            (16, 64, 128),
            (300, 40, 70),
        ];
        for isa in Isa::available() {
            for (m, k, n) in shapes {
                let x = filled(m * k, 1);
                let data = filled(k * n, 2);
                let plain = MatrixView {
                    data: &data,
                    rows: k,
                    cols: n,
                    row_stride: n,
                    col_stride: 1,
                };
                let transposed = MatrixView {
                    data: &data,
                    rows: k,
                    cols: n,
                    row_stride: 1,
                    col_stride: k,
                };
                for view in [plain, transposed] {
                    let want = naive(&x, m, view);
                    let w = Packed::new(view);
                    let mut out = vec![0.0; m * n];
                    matmul_on(isa, &x, m, &w, &mut out, false);
                    for (a, b) in out.iter().zip(&want) {
                        assert!((a - b).abs() < 1e-4, "{isa:?} {m}x{k}x{n}: {a} vs {b}");
                    }
                    let mut acc = vec![1.0; m * n];
                    matmul_on(isa, &x, m, &w, &mut acc, true);
                    for (a, b) in acc.iter().zip(&want) {
                        assert!(
                            (a - (b + 1.0)).abs() < 1e-4,
                            "{isa:?} accumulate {m}x{k}x{n}"
                        );
                    }
                }
            }
        }
    }

    /// Every SIMD kernel sums each output in the same order with fused multiply-adds, so
    /// they agree bit for bit: the host path's floats do not depend on the vector width.
    #[test]
    fn the_simd_kernels_agree_bit_for_bit() {
        let simd: Vec<Isa> = Isa::available()
            .into_iter()
            .filter(|&i| i != Isa::Portable)
            .collect();
        let (m, k, n) = (7, 300, 130);
        let (x, data) = (filled(m * k, 3), filled(k * n, 4));
        let w = Packed::new(MatrixView {
            data: &data,
            rows: k,
            cols: n,
            row_stride: n,
            col_stride: 1,
        });
        let outs: Vec<Vec<f32>> = simd
            .iter()
            .map(|&isa| {
                let mut out = vec![0.0; m * n];
                matmul_on(isa, &x, m, &w, &mut out, false);
                out
            })
            .collect();
        for (isa, out) in simd.iter().zip(&outs).skip(1) {
            assert!(out == &outs[0], "{isa:?} differs from {:?}", simd[0]);
        }
    }

    #[test]
    fn side_by_side_packs_the_joined_matrix() {
        let (a, b) = (filled(4 * 3, 5), filled(4 * 70, 6));
        let va = MatrixView {
            data: &a,
            rows: 4,
            cols: 3,
            row_stride: 3,
            col_stride: 1,
        };
        let vb = MatrixView {
            data: &b,
            rows: 4,
            cols: 70,
            row_stride: 70,
            col_stride: 1,
        };
        let joined = Packed::side_by_side(&[va, vb]);
        let x = filled(2 * 4, 7);
        let mut out = vec![0.0; 2 * 73];
        matmul(&x, 2, &joined, &mut out, false);
        let (wa, wb) = (naive(&x, 2, va), naive(&x, 2, vb));
        for r in 0..2 {
            let want: Vec<f32> = wa[r * 3..r * 3 + 3]
                .iter()
                .chain(&wb[r * 70..r * 70 + 70])
                .copied()
                .collect();
            for (got, want) in out[r * 73..(r + 1) * 73].iter().zip(&want) {
                assert!((got - want).abs() < 1e-4);
            }
        }
    }
}
