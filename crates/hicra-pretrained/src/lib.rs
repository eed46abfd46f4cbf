//! hicra-pretrained: work in progress.
