//! hicra-model: work in progress.
