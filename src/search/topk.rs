//! Exact top-k by inner product over a stream of vector blocks. Pure: no I/O.
//!
//! Each block of database vectors is multiplied with blocks of queries (one matrix product
//! per query block, spread over the cores), and every query keeps a running top-k list, so
//! memory is the current block plus `k` candidates per query. Ties are broken by
//! `sticker_id` (the smaller id ranks first), so results do not depend on row order,
//! block size or thread scheduling.

use ndarray::{s, Array2, ArrayView2, Axis};
use rayon::prelude::*;

use super::kernel::Scorer;

/// At most this many queries are multiplied together. The queries are split in as few
/// blocks as there are cores (each block packs every tile of vectors once, so fewer blocks
/// copy less), but no larger than this.
const MAX_QUERY_BLOCK: usize = 512;

/// Database rows scored at once per query block: their scores (MAX_QUERY_BLOCK ×
/// SCORE_TILE floats, 1 MiB) are still in the core's cache when the top-k lists read them.
const SCORE_TILE: usize = 512;

/// Scores checked against a full top-k list at once.
const SKIP_CHUNK: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub score: f32,
    /// Row of the sticker in the whole vector file.
    pub row: u32,
}

/// Running top-k lists for a set of queries.
pub struct TopK {
    k: usize,
    queries: Array2<f32>,
    /// Best first; at most `k` each.
    lists: Vec<Vec<Hit>>,
}

impl TopK {
    /// `queries`: one row per query (already normalized for cosine).
    pub fn new(queries: Array2<f32>, k: usize) -> Self {
        let lists = vec![Vec::with_capacity(k + 1); queries.nrows()];
        Self { k, queries, lists }
    }

    /// Scores one block of database vectors (`block` rows are rows `first_row..` of the
    /// file). `scale`, if given, multiplies each vector's scores (the inverse norms, for
    /// cosine). `ids` holds the sticker ids of every row seen so far, this block included.
    pub fn add_block(
        &mut self,
        block: ArrayView2<f32>,
        first_row: u32,
        scale: Option<&[f32]>,
        ids: &[String],
    ) {
        self.add_block_in_tiles(block, first_row, scale, ids, SCORE_TILE);
    }

    /// [`Self::add_block`], `tile` database rows at a time per query block.
    fn add_block_in_tiles(
        &mut self,
        block: ArrayView2<f32>,
        first_row: u32,
        scale: Option<&[f32]>,
        ids: &[String],
        tile: usize,
    ) {
        let k = self.k;
        let query_block = self
            .queries
            .nrows()
            .div_ceil(rayon::current_num_threads())
            .clamp(1, MAX_QUERY_BLOCK);
        let query_blocks: Vec<_> = self
            .queries
            .axis_chunks_iter(Axis(0), query_block)
            .collect();
        self.lists
            .par_chunks_mut(query_block)
            .zip(query_blocks.into_par_iter())
            .for_each(|(lists, queries)| {
                let mut scorer = Scorer::new(queries);
                let mut all_scores =
                    Array2::<f32>::zeros((queries.nrows(), tile.min(block.nrows())));
                for (t, part) in block.axis_chunks_iter(Axis(0), tile).enumerate() {
                    let offset = t * tile;
                    let mut scores = all_scores.slice_mut(s![.., ..part.nrows()]);
                    scorer.score(part, scores.view_mut());
                    let part_scale = scale.map(|s| &s[offset..offset + part.nrows()]);
                    for (list, row_scores) in lists.iter_mut().zip(scores.rows()) {
                        let row_scores = row_scores.as_slice().expect("rows are contiguous");
                        let part_first = first_row + offset as u32;
                        offer_all(list, k, row_scores, part_first, part_scale, ids);
                    }
                }
            });
    }

    /// The lists, best first.
    pub fn into_lists(self) -> Vec<Vec<Hit>> {
        self.lists
    }
}

fn offer_all(
    list: &mut Vec<Hit>,
    k: usize,
    scores: &[f32],
    first_row: u32,
    scale: Option<&[f32]>,
    ids: &[String],
) {
    if k == 0 {
        return;
    }
    for (c, chunk) in scores.chunks(SKIP_CHUNK).enumerate() {
        let first = c * SKIP_CHUNK;
        let scale = scale.map(|s| &s[first..first + chunk.len()]);
        // Most chunks hold no score that can enter a full list: one branch-free pass over
        // them (vectorized) skips them. A NaN is not below, as in the loop below.
        if list.len() == k {
            let kth = list[k - 1].score;
            let all_below = match scale {
                Some(scale) => chunk
                    .iter()
                    .zip(scale)
                    .fold(true, |all, (&raw, &s)| all & (raw * s < kth)),
                None => chunk.iter().fold(true, |all, &raw| all & (raw < kth)),
            };
            if all_below {
                continue;
            }
        }
        for (j, &raw) in chunk.iter().enumerate() {
            let score = match scale {
                Some(scale) => raw * scale[j],
                None => raw,
            };
            if list.len() == k && score < list[k - 1].score {
                continue;
            }
            let row = first_row + (first + j) as u32;
            offer(list, k, Hit { score, row }, ids);
        }
    }
}

/// Inserts `hit` if it belongs in the top `k`, keeping the list ordered best first.
fn offer(list: &mut Vec<Hit>, k: usize, hit: Hit, ids: &[String]) {
    let position = list.partition_point(|other| ranks_before(other, &hit, ids));
    if position < k {
        list.insert(position, hit);
        list.truncate(k);
    }
}

/// Higher score first; equal scores by sticker id.
pub fn ranks_before(a: &Hit, b: &Hit, ids: &[String]) -> bool {
    a.score > b.score || (a.score == b.score && ids[a.row as usize] < ids[b.row as usize])
}

/// Scales every row to unit length in place; the rows that cannot be (zero, NaN or
/// infinite) are returned by index.
pub fn normalize_rows(matrix: &mut Array2<f32>) -> Vec<usize> {
    let mut bad = Vec::new();
    for (i, mut row) in matrix.rows_mut().into_iter().enumerate() {
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 && norm.is_finite() {
            row.mapv_inplace(|x| x / norm);
        } else {
            bad.push(i);
        }
    }
    bad
}

/// `1/|v|` for each row of `block`, or the first row that has no direction.
pub fn inverse_norms(block: ArrayView2<f32>) -> Result<Vec<f32>, usize> {
    block
        .rows()
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let norm = row.dot(&row).sqrt();
            if norm > 0.0 && norm.is_finite() {
                Ok(1.0 / norm)
            } else {
                Err(i)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The obvious algorithm: every score, sorted by (score desc, id asc).
    fn brute_force(
        queries: &Array2<f32>,
        db: &Array2<f32>,
        scale: Option<&[f32]>,
        ids: &[String],
        k: usize,
    ) -> Vec<Vec<Hit>> {
        queries
            .rows()
            .into_iter()
            .map(|q| {
                let mut hits: Vec<Hit> = db
                    .rows()
                    .into_iter()
                    .enumerate()
                    .map(|(j, v)| {
                        let raw: f32 = q.iter().zip(v.iter()).map(|(a, b)| a * b).sum();
                        Hit {
                            score: scale.map_or(raw, |s| raw * s[j]),
                            row: j as u32,
                        }
                    })
                    .collect();
                // partial_cmp: -0.0 and 0.0 are equal scores (total_cmp would order them).
                hits.sort_by(|a, b| {
                    b.score
                        .partial_cmp(&a.score)
                        .expect("no NaN")
                        .then_with(|| ids[a.row as usize].cmp(&ids[b.row as usize]))
                });
                hits.truncate(k);
                hits
            })
            .collect()
    }

    fn streamed(
        queries: &Array2<f32>,
        db: &Array2<f32>,
        scale: Option<&[f32]>,
        ids: &[String],
        k: usize,
        (block, tile): (usize, usize),
    ) -> Vec<Vec<Hit>> {
        let mut topk = TopK::new(queries.clone(), k);
        let mut start = 0;
        while start < db.nrows() {
            let end = (start + block).min(db.nrows());
            let view = db.slice(ndarray::s![start..end, ..]);
            topk.add_block_in_tiles(
                view,
                start as u32,
                scale.map(|s| &s[start..end]),
                &ids[..end],
                tile,
            );
            start = end;
        }
        topk.into_lists()
    }

    /// Scores computed by a matrix product and by a dot loop may differ in the last bit;
    /// compare ids where scores are clearly apart, and scores everywhere.
    fn assert_same(got: &[Vec<Hit>], want: &[Vec<Hit>], ids: &[String], context: &str) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.len(), w.len(), "{context}");
            for (a, b) in g.iter().zip(w) {
                assert!(
                    (a.score - b.score).abs() <= 1e-4,
                    "{context}: {a:?} vs {b:?}"
                );
                if a.row != b.row {
                    // Only allowed between (near-)equal scores.
                    let other = w.iter().find(|h| h.row == a.row).map(|h| h.score);
                    assert!(
                        other.is_some_and(|s| (s - a.score).abs() <= 1e-4),
                        "{context}: {} vs {}",
                        ids[a.row as usize],
                        ids[b.row as usize]
                    );
                }
            }
        }
    }

    #[test]
    fn equals_brute_force_on_random_data() {
        for seed in 0..40u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let n = rng.random_range(1..300);
            let d = [1, 2, 3, 7, 16, 33][rng.random_range(0..6)];
            let nq = rng.random_range(1..200);
            let k = [1, 3, 10, 500][rng.random_range(0..4)];
            let block = rng.random_range(1..100);
            let tile = rng.random_range(1..40);
            // Coarse values make many exact ties.
            let db = Array2::from_shape_fn((n, d), |_| rng.random_range(-3..4) as f32);
            let queries = Array2::from_shape_fn((nq, d), |_| rng.random_range(-3..4) as f32);
            let ids: Vec<String> = (0..n)
                .map(|i| format!("st_{:05}", (i * 7919) % 100_003))
                .collect();
            let want = brute_force(&queries, &db, None, &ids, k);
            let got = streamed(&queries, &db, None, &ids, k, (block, tile));
            if let Some(q) = (0..nq).find(|&q| got[q] != want[q]) {
                panic!(
                    "seed {seed}: n {n} d {d} k {k} block {block} tile {tile}, query {q}: {:?} != {:?}",
                    got[q], want[q]
                );
            }
            assert!(got.iter().all(|l| l.len() == k.min(n)), "k > N returns N");
        }
    }

    #[test]
    fn cosine_scaling_equals_brute_force() {
        let mut rng = StdRng::seed_from_u64(7);
        let db = Array2::from_shape_fn((500, 24), |_| rng.random_range(-1.0..1.0f32));
        let mut queries = Array2::from_shape_fn((50, 24), |_| rng.random_range(-1.0..1.0f32));
        assert!(normalize_rows(&mut queries).is_empty());
        let scale = inverse_norms(db.view()).unwrap();
        let ids: Vec<String> = (0..500).map(|i| format!("st_{i:04}")).collect();
        let want = brute_force(&queries, &db, Some(&scale), &ids, 10);
        let got = streamed(&queries, &db, Some(&scale), &ids, 10, (64, 24));
        assert_same(&got, &want, &ids, "cosine");
        assert!(got.iter().flatten().all(|h| h.score <= 1.0 + 1e-5));
    }

    #[test]
    fn vectors_without_direction_are_reported() {
        let mut m = ndarray::arr2(&[[1.0f32, 0.0], [0.0, 0.0], [f32::NAN, 1.0]]);
        assert_eq!(normalize_rows(&mut m), [1, 2]);
        assert_eq!(
            inverse_norms(ndarray::arr2(&[[3.0f32, 4.0], [0.0, 0.0]]).view()),
            Err(1)
        );
        assert_eq!(
            inverse_norms(ndarray::arr2(&[[3.0f32, 4.0]]).view()),
            Ok(vec![0.2])
        );
    }
}
