//! The innermost loop of every product: a tile of at most [`TILE_ROWS`] rows of `x` times one
//! packed panel of [`PANEL`] weight columns, `out[r, c] (+)= sum_l x[r, l] * panel[l, c]`.
//! The tile's sums live in registers for the whole `k` loop and touch `out` once: on AVX-512
//! sixteen 16-lane accumulators (4 rows x 64 columns), each step one load per 16 columns of
//! the panel and one broadcast per row; on AVX2 with FMA the same in 8-lane halves. Which
//! one runs is decided once from the CPU ([`Isa::detected`], or `HICRA_CPU_KERNELS`); a
//! portable loop serves every other CPU and is the reference the tests hold the others to.

use std::sync::OnceLock;

/// Columns of a packed panel.
pub(crate) const PANEL: usize = 64;
/// Rows of `x` a kernel call handles at most.
pub(crate) const TILE_ROWS: usize = 4;
/// Lanes of the attention's slot and dimension chunks (one AVX-512 register of f32s): sums
/// over a chunk stay in registers.
pub(crate) const LANES: usize = 16;

/// One call's operands. Pointers, because tiles of one product write disjoint parts of
/// `out` from several threads.
#[derive(Clone, Copy)]
pub(crate) struct Tile {
    /// `rows` rows of `x`, `x_stride` apart, `k` each.
    pub x: *const f32,
    pub x_stride: usize,
    pub rows: usize,
    pub k: usize,
    /// `[k, PANEL]` row-major.
    pub panel: *const f32,
    /// `rows` rows of `out`, `out_stride` apart; columns `0..cols` are written.
    pub out: *mut f32,
    pub out_stride: usize,
    pub cols: usize,
    pub accumulate: bool,
}

/// Environment variable naming the kernels to use (`avx512`, `avx2` or `portable`) instead of
/// the best this CPU runs: to reproduce, on one machine, the float path another CPU takes.
/// A name this CPU cannot run is ignored.
pub(crate) const FORCE: &str = "HICRA_CPU_KERNELS";

/// An instruction set a kernel is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    Avx512,
    Avx2Fma,
    Portable,
}

impl Isa {
    /// The best kernel this CPU runs (decided once), or the one [`FORCE`] names when this CPU
    /// runs it.
    pub fn detected() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            let all = Isa::available();
            let forced = std::env::var(FORCE)
                .ok()
                .and_then(|name| all.iter().copied().find(|isa| isa.name() == name));
            forced.unwrap_or(all[0])
        })
    }

    /// The name [`FORCE`] takes.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2Fma => "avx2",
            Isa::Portable => "portable",
        }
    }

    /// Every kernel this CPU runs, best first (tests run each).
    pub fn available() -> Vec<Isa> {
        let mut isas = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                isas.push(Isa::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                isas.push(Isa::Avx2Fma);
            }
        }
        isas.push(Isa::Portable);
        isas
    }

    /// Runs one tile.
    ///
    /// # Safety
    /// The pointers of `t` must be valid for the extents it states, `rows <= TILE_ROWS`,
    /// `cols <= PANEL`, and this must be an ISA of [`Isa::available`].
    pub unsafe fn run(self, t: &Tile) {
        debug_assert!(t.rows <= TILE_ROWS && t.cols <= PANEL);
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::avx512(t) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe { x86::avx2(t) },
            _ => unsafe { portable(t) },
        }
    }
}

/// Writes one row of sums: `out[c] (+)= sums[c]` for `c < cols`.
///
/// # Safety
/// `out` valid for `cols` elements.
#[inline(always)]
unsafe fn put(sums: &[f32; PANEL], out: *mut f32, cols: usize, accumulate: bool) {
    for (c, &s) in sums.iter().enumerate().take(cols) {
        unsafe {
            let o = out.add(c);
            *o = if accumulate { *o + s } else { s };
        }
    }
}

/// The reference kernel.
unsafe fn portable(t: &Tile) {
    for r in 0..t.rows {
        let mut sums = [0.0f32; PANEL];
        for l in 0..t.k {
            let a = unsafe { *t.x.add(r * t.x_stride + l) };
            let w = unsafe { std::slice::from_raw_parts(t.panel.add(l * PANEL), PANEL) };
            for (s, &b) in sums.iter_mut().zip(w) {
                *s += a * b;
            }
        }
        unsafe { put(&sums, t.out.add(r * t.out_stride), t.cols, t.accumulate) };
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{PANEL, Tile, put};

    /// Sums of `R` rows over the whole panel in 16-lane registers.
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512_rows<const R: usize>(t: &Tile, row0: usize) {
        let mut acc = [[_mm512_setzero_ps(); 4]; R];
        let x = unsafe { t.x.add(row0 * t.x_stride) };
        for l in 0..t.k {
            let p = unsafe { t.panel.add(l * PANEL) };
            let w = unsafe {
                [
                    _mm512_loadu_ps(p),
                    _mm512_loadu_ps(p.add(16)),
                    _mm512_loadu_ps(p.add(32)),
                    _mm512_loadu_ps(p.add(48)),
                ]
            };
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = _mm512_set1_ps(unsafe { *x.add(r * t.x_stride + l) });
                for (s, &w) in acc.iter_mut().zip(&w) {
                    *s = _mm512_fmadd_ps(a, w, *s);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let out = unsafe { t.out.add((row0 + r) * t.out_stride) };
            if t.cols == PANEL {
                for (i, &s) in acc.iter().enumerate() {
                    unsafe {
                        let o = out.add(16 * i);
                        let s = if t.accumulate {
                            _mm512_add_ps(_mm512_loadu_ps(o), s)
                        } else {
                            s
                        };
                        _mm512_storeu_ps(o, s);
                    }
                }
            } else {
                let mut sums = [0.0f32; PANEL];
                for (i, &s) in acc.iter().enumerate() {
                    unsafe { _mm512_storeu_ps(sums.as_mut_ptr().add(16 * i), s) };
                }
                unsafe { put(&sums, out, t.cols, t.accumulate) };
            }
        }
    }

    /// # Safety
    /// As [`super::Isa::run`], on a CPU with AVX-512F.
    pub(super) unsafe fn avx512(t: &Tile) {
        unsafe {
            match t.rows {
                4 => avx512_rows::<4>(t, 0),
                3 => avx512_rows::<3>(t, 0),
                2 => avx512_rows::<2>(t, 0),
                1 => avx512_rows::<1>(t, 0),
                _ => {}
            }
        }
    }

    /// Sums of `R` rows over half of the panel (32 columns from `col0`) in 8-lane registers.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_rows<const R: usize>(
        t: &Tile,
        row0: usize,
        col0: usize,
        sums: &mut [[f32; PANEL]; 2],
    ) {
        let mut acc = [[_mm256_setzero_ps(); 4]; R];
        let x = unsafe { t.x.add(row0 * t.x_stride) };
        for l in 0..t.k {
            let p = unsafe { t.panel.add(l * PANEL + col0) };
            let w = unsafe {
                [
                    _mm256_loadu_ps(p),
                    _mm256_loadu_ps(p.add(8)),
                    _mm256_loadu_ps(p.add(16)),
                    _mm256_loadu_ps(p.add(24)),
                ]
            };
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = _mm256_set1_ps(unsafe { *x.add(r * t.x_stride + l) });
                for (s, &w) in acc.iter_mut().zip(&w) {
                    *s = _mm256_fmadd_ps(a, w, *s);
                }
            }
        }
        for (acc, sums) in acc.iter().zip(sums.iter_mut()) {
            for (i, &s) in acc.iter().enumerate() {
                unsafe { _mm256_storeu_ps(sums.as_mut_ptr().add(col0 + 8 * i), s) };
            }
        }
    }

    /// # Safety
    /// As [`super::Isa::run`], on a CPU with AVX2 and FMA.
    pub(super) unsafe fn avx2(t: &Tile) {
        let mut row0 = 0;
        while row0 < t.rows {
            let rows = (t.rows - row0).min(2);
            let mut sums = [[0.0f32; PANEL]; 2];
            for col0 in [0, PANEL / 2] {
                if col0 >= t.cols {
                    break;
                }
                unsafe {
                    if rows == 2 {
                        avx2_rows::<2>(t, row0, col0, &mut sums);
                    } else {
                        avx2_rows::<1>(t, row0, col0, &mut sums);
                    }
                }
            }
            for (r, sums) in sums.iter().enumerate().take(rows) {
                let out = unsafe { t.out.add((row0 + r) * t.out_stride) };
                unsafe { put(sums, out, t.cols, t.accumulate) };
            }
            row0 += rows;
        }
    }
}

/// Defines `fn $name(args)` running `$body(args)` (an `#[inline(always)]` function of plain,
/// vectorisable loops) compiled for the best instruction set of [`Isa::detected`]: the same
/// source built three times, with AVX-512, with AVX2 and FMA, and for the baseline CPU.
macro_rules! simd_dispatch {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $body:ident
    ) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                use $crate::native::kernels::Isa;
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn wide($($arg: $ty),*) {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn narrow($($arg: $ty),*) {
                    $body($($arg),*)
                }
                match Isa::detected() {
                    // SAFETY: the CPU has these features (detected at run time).
                    Isa::Avx512 => return unsafe { wide($($arg),*) },
                    Isa::Avx2Fma => return unsafe { narrow($($arg),*) },
                    Isa::Portable => {}
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use simd_dispatch;
