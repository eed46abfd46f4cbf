//! hicra-tasks: work in progress.
