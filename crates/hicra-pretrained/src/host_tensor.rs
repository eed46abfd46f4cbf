//! A dense f32 tensor in host memory, the loader's output format.

use crate::LoadError;

/// A row-major f32 tensor. `dtype` records how the checkpoint stored it (`F32`, `F16`, `BF16`,
/// `Q8_0`, `Q4_0`, `Q4_1`, `Q4_K`, `Q6_K`) before it was dequantized.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Row-major shape, outermost first (Hugging Face convention: `[out, in]` for weights).
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub data: Vec<f32>,
    /// Storage type in the checkpoint.
    pub dtype: String,
}

impl HostTensor {
    /// A tensor, checking that `data` fills `shape`.
    pub fn new(
        shape: Vec<usize>,
        data: Vec<f32>,
        dtype: impl Into<String>,
    ) -> Result<Self, String> {
        let expected = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if expected != Some(data.len()) {
            return Err(format!(
                "shape {shape:?} does not match {} values",
                data.len()
            ));
        }
        Ok(Self {
            shape,
            data,
            dtype: dtype.into(),
        })
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Fails on the first NaN or infinity, naming the tensor.
    pub fn check_finite(&self, name: &str) -> Result<(), LoadError> {
        match self.data.iter().position(|v| !v.is_finite()) {
            None => Ok(()),
            Some(index) => Err(LoadError::NonFinite {
                name: name.to_string(),
                index,
                value: self.data[index],
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_must_match_data() {
        assert!(HostTensor::new(vec![2, 3], vec![0.0; 6], "F32").is_ok());
        assert!(HostTensor::new(vec![2, 3], vec![0.0; 5], "F32").is_err());
        assert!(HostTensor::new(vec![usize::MAX, 3], vec![], "F32").is_err());
    }

    #[test]
    fn non_finite_values_are_reported_with_their_index() {
        let t = HostTensor::new(vec![3], vec![1.0, f32::NAN, 2.0], "F32").unwrap();
        let err = t.check_finite("w").unwrap_err().to_string();
        assert!(err.contains("w") && err.contains("index 1"), "{err}");
    }
}
