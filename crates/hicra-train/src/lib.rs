//! hicra-train: work in progress.
