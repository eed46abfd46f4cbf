//! Grouping gram embeddings: a leader clustering on cosine similarity, deterministic.
//!
//! Grams are visited in the order given (most frequent first). Each joins the cluster whose
//! centroid (the normalised sum of its members) is most similar, if that similarity reaches
//! the threshold, and starts a new cluster otherwise. One pass, `O(grams x clusters x dim)`.

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The cluster index of each vector (vectors of unit length, or zero).
pub fn leader_clusters(vectors: &[Vec<f32>], similarity: f32) -> Vec<usize> {
    let mut sums: Vec<Vec<f32>> = Vec::new();
    let mut centroids: Vec<Vec<f32>> = Vec::new();
    let mut assignment = Vec::with_capacity(vectors.len());
    for v in vectors {
        let best = centroids
            .iter()
            .enumerate()
            .map(|(i, c)| (i, dot(c, v)))
            .filter(|&(_, s)| s >= similarity)
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        match best {
            Some((i, _)) => {
                sums[i].iter_mut().zip(v).for_each(|(s, x)| *s += x);
                centroids[i].clone_from(&sums[i]);
                normalize(&mut centroids[i]);
                assignment.push(i);
            }
            None => {
                sums.push(v.clone());
                centroids.push(v.clone());
                assignment.push(centroids.len() - 1);
            }
        }
    }
    assignment
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_vectors_share_a_cluster_and_far_ones_do_not() {
        let mut vs = vec![
            vec![1.0, 0.0, 0.0],
            vec![0.0, 1.0, 0.0],
            vec![0.95, 0.05, 0.0],
            vec![0.0, 0.0, 1.0],
            vec![0.1, 0.9, 0.0],
        ];
        vs.iter_mut().for_each(|v| normalize(v));
        assert_eq!(leader_clusters(&vs, 0.9), [0, 1, 0, 2, 1]);
        assert_eq!(leader_clusters(&vs, 0.0), [0, 0, 0, 0, 0]);
        assert_eq!(leader_clusters(&vs, 1.01), [0, 1, 2, 3, 4]);
    }
}
