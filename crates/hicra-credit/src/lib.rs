//! hicra-credit: work in progress.
