//! The score product of a block of queries with a tile of vectors, `queries · vectorsᵀ`.
//!
//! On a CPU with AVX-512 (detected at run time) a kernel of our own computes it: the
//! queries are packed once into panels of [`NR`] queries, dimension by dimension, and each
//! block of [`MR`] vectors × [`NR`] queries is accumulated in 24 registers over the whole
//! dimension, each vector's value broadcast straight from its row (so the vectors, read
//! once, are never copied). Elsewhere `ndarray`'s matrix product (`matrixmultiply`, AVX2 at
//! best) does it. Both sum in `f32`; results may differ from each other in the last bits,
//! as any two BLAS do.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

/// Vectors per register block.
const MR: usize = 12;
/// Queries per register block: two registers of 16 floats.
const NR: usize = 32;

/// Scores tiles of vectors against one block of queries.
pub struct Scorer<'a> {
    queries: ArrayView2<'a, f32>,
    /// With AVX-512: the queries, packed.
    packed: Option<Vec<f32>>,
}

impl<'a> Scorer<'a> {
    pub fn new(queries: ArrayView2<'a, f32>) -> Self {
        Self::with_kernel(queries, has_avx512())
    }

    fn with_kernel(queries: ArrayView2<'a, f32>, own_kernel: bool) -> Self {
        let packed = own_kernel.then(|| pack(queries, NR));
        Self { queries, packed }
    }

    /// `scores[q][v]` = query `q` · vector `v`, for every row of `vectors`.
    pub fn score(&mut self, vectors: ArrayView2<f32>, mut scores: ArrayViewMut2<f32>) {
        assert_eq!(scores.dim(), (self.queries.nrows(), vectors.nrows()));
        assert_eq!(self.queries.ncols(), vectors.ncols());
        let Some(queries) = &self.packed else {
            general_mat_mul(1.0, &self.queries, &vectors.t(), 0.0, &mut scores);
            return;
        };
        let dim = vectors.ncols();
        let vectors = vectors.as_standard_layout();
        let vectors = vectors.as_slice().expect("standard layout");
        let mut last = Vec::new();
        let mut block = [0f32; MR * NR];
        for (g, group) in vectors.chunks(dim * MR).enumerate() {
            // The last group, if short, is padded with zero vectors.
            let group = match group.len() == dim * MR {
                true => group,
                false => {
                    last.resize(dim * MR, 0.0);
                    last[..group.len()].copy_from_slice(group);
                    &last[..]
                }
            };
            let rows = (scores.ncols() - g * MR).min(MR);
            for (p, panel) in queries.chunks_exact(dim * NR).enumerate() {
                // SAFETY: the CPU has AVX-512 (checked when `packed` was made); `group`
                // holds MR vectors and `panel` NR queries of `dim` values.
                unsafe { kernel_avx512(group, panel, dim, &mut block) };
                let cols = (scores.nrows() - p * NR).min(NR);
                for q in 0..cols {
                    let mut out = scores.row_mut(p * NR + q);
                    let out = out.as_slice_mut().expect("score rows are contiguous");
                    for (i, score) in out[g * MR..g * MR + rows].iter_mut().enumerate() {
                        *score = block[i * NR + q];
                    }
                }
            }
        }
    }
}

fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// `rows` in panels of `width` rows, each panel dimension by dimension (`width` floats per
/// dimension, zeros past the last row).
fn pack(rows: ArrayView2<f32>, width: usize) -> Vec<f32> {
    let dim = rows.ncols();
    let panels = rows.nrows().div_ceil(width);
    let mut packed = vec![0f32; panels * dim * width];
    for (i, row) in rows.rows().into_iter().enumerate() {
        let panel = &mut packed[(i / width) * dim * width..][..dim * width];
        for (d, &value) in row.iter().enumerate() {
            panel[d * width + i % width] = value;
        }
    }
    packed
}

/// One block of scores, `out[i * NR + q]` = vector `i` · query `q`, from `MR` vector rows
/// of `dim` values and a query panel of `dim` steps.
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn kernel_avx512(vectors: &[f32], queries: &[f32], dim: usize, out: &mut [f32; MR * NR]) {
    use std::arch::x86_64::*;
    assert!(vectors.len() >= dim * MR && queries.len() >= dim * NR);
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    let (v, q) = (vectors.as_ptr(), queries.as_ptr());
    for d in 0..dim {
        // SAFETY: d < dim, and both hold `dim` values per row (asserted above).
        let (low, high) = unsafe {
            (
                _mm512_loadu_ps(q.add(d * NR)),
                _mm512_loadu_ps(q.add(d * NR + 16)),
            )
        };
        for (i, acc) in acc.iter_mut().enumerate() {
            // SAFETY: as above.
            let value = _mm512_set1_ps(unsafe { *v.add(i * dim + d) });
            acc[0] = _mm512_fmadd_ps(value, low, acc[0]);
            acc[1] = _mm512_fmadd_ps(value, high, acc[1]);
        }
    }
    for (i, acc) in acc.iter().enumerate() {
        // SAFETY: `out` holds MR rows of NR floats.
        unsafe {
            _mm512_storeu_ps(out.as_mut_ptr().add(i * NR), acc[0]);
            _mm512_storeu_ps(out.as_mut_ptr().add(i * NR + 16), acc[1]);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn kernel_avx512(_: &[f32], _: &[f32], _: usize, _: &mut [f32; MR * NR]) {
    unreachable!("no AVX-512 off x86-64")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn scores(queries: &Array2<f32>, vectors: &Array2<f32>, own_kernel: bool) -> Array2<f32> {
        let mut out = Array2::from_elem((queries.nrows(), vectors.nrows()), f32::NAN);
        Scorer::with_kernel(queries.view(), own_kernel).score(vectors.view(), out.view_mut());
        out
    }

    #[test]
    fn the_avx512_kernel_equals_the_matrix_product() {
        if !has_avx512() {
            // Written past the harness's capture, so a run on such a CPU says it checked less.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "!!!!! SKIPPED the_avx512_kernel_equals_the_matrix_product: this CPU has no \
                 AVX-512, so the kernel it checks is not used here !!!!!"
            );
            assert!(
                std::env::var_os("STICKERLAKE_REQUIRE_AVX512").is_none(),
                "STICKERLAKE_REQUIRE_AVX512 is set and this CPU has no AVX-512"
            );
            return;
        }
        let mut rng = StdRng::seed_from_u64(12);
        for _ in 0..60 {
            let (nq, nv, dim) = (
                rng.random_range(1..40),
                rng.random_range(1..100),
                rng.random_range(1..70),
            );
            // Small integers: every sum is exact, in any order.
            let queries = Array2::from_shape_fn((nq, dim), |_| rng.random_range(-4..5) as f32);
            let vectors = Array2::from_shape_fn((nv, dim), |_| rng.random_range(-4..5) as f32);
            assert_eq!(
                scores(&queries, &vectors, true),
                scores(&queries, &vectors, false),
                "{nq} queries, {nv} vectors, {dim} dimensions"
            );
            // Real values: the same up to rounding.
            let queries = Array2::from_shape_fn((nq, dim), |_| rng.random_range(-1.0..1.0f32));
            let vectors = Array2::from_shape_fn((nv, dim), |_| rng.random_range(-1.0..1.0f32));
            let (own, generic) = (
                scores(&queries, &vectors, true),
                scores(&queries, &vectors, false),
            );
            assert!(
                own.iter().zip(&generic).all(|(a, b)| (a - b).abs() <= 1e-4),
                "{own} vs {generic}"
            );
        }
    }

    #[test]
    fn output_views_with_a_wider_stride_are_filled_exactly() {
        let queries = Array2::from_shape_fn((13, 5), |(i, d)| (i + d) as f32);
        let vectors = Array2::from_shape_fn((33, 5), |(j, d)| (j * d) as f32);
        let mut wide = Array2::from_elem((13, 40), -1.0f32);
        Scorer::new(queries.view()).score(vectors.view(), wide.slice_mut(ndarray::s![.., ..33]));
        assert_eq!(wide.slice(ndarray::s![.., ..33]), queries.dot(&vectors.t()));
        assert!(wide.slice(ndarray::s![.., 33..]).iter().all(|&x| x == -1.0));
    }
}
