//! A module's parameters, or their gradients, as one flat `f32` buffer in the module's own
//! visiting order (the same on every process holding the same architecture): what
//! data-parallel replicas all-reduce and broadcast, and what the weights edge carries between
//! processes.

use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{FloatDType, Tensor, TensorData};

fn host<B: Backend, const D: usize>(t: Tensor<B, D>, into: &mut Vec<f32>) {
    let data = t.into_data().convert::<f32>();
    into.extend_from_slice(data.as_slice::<f32>().expect("converted to f32"));
}

struct Gather {
    values: Vec<f32>,
}

impl<B: Backend> ModuleVisitor<B> for Gather {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        host(param.val(), &mut self.values);
    }
}

struct GatherGrads<'a> {
    values: Vec<f32>,
    grads: &'a GradientsParams,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for GatherGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        match self.grads.get::<B::InnerBackend, D>(param.id) {
            Some(g) => host(g, &mut self.values),
            // a parameter the loss did not reach: a zero gradient
            None => {
                let n = param.val().shape().num_elements();
                self.values.resize(self.values.len() + n, 0.0);
            }
        }
    }
}

/// Every parameter of `module`, flattened, in visiting order.
pub fn parameters<B: Backend, M: Module<B>>(module: &M) -> Vec<f32> {
    let mut gather = Gather {
        values: Vec::with_capacity(module.num_params()),
    };
    module.visit(&mut gather);
    gather.values
}

/// The gradients of every parameter of `module` (zeros where `grads` has none), flattened.
pub fn gradients<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &GradientsParams,
) -> Vec<f32> {
    let mut gather = GatherGrads {
        values: Vec::with_capacity(module.num_params()),
        grads,
    };
    module.visit(&mut gather);
    gather.values
}

struct RegisterGrads<'a> {
    values: &'a [f32],
    at: usize,
    grads: GradientsParams,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for RegisterGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val();
        let shape = value.shape();
        let n = shape.num_elements();
        let data = TensorData::new(self.values[self.at..self.at + n].to_vec(), shape);
        self.at += n;
        let g = Tensor::<B::InnerBackend, D>::from_data(data, &value.device());
        self.grads.register::<B::InnerBackend, D>(param.id, g);
    }
}

/// Gradients for `module` from a flat buffer laid out as [`gradients`] writes it.
pub fn gradients_from<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    values: &[f32],
) -> GradientsParams {
    let mut register = RegisterGrads {
        values,
        at: 0,
        grads: GradientsParams::new(),
    };
    module.visit(&mut register);
    assert_eq!(
        register.at,
        values.len(),
        "gradient buffer of another model"
    );
    register.grads
}

struct Load<'a> {
    values: &'a [f32],
    at: usize,
}

impl<B: Backend> ModuleMapper<B> for Load<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.shape();
        let dtype: FloatDType = tensor.dtype().into();
        let device = tensor.device();
        let grad = tensor.is_require_grad();
        let n = shape.num_elements();
        let data = TensorData::new(self.values[self.at..self.at + n].to_vec(), shape);
        self.at += n;
        let mut value = Tensor::<B, D>::from_data(data, &device);
        if value.dtype() != tensor.dtype() {
            value = value.cast(dtype);
        }
        Param::from_mapped_value(id, value.set_require_grad(grad), mapper)
    }
}

/// `module` with its parameters replaced by `values` (laid out as [`parameters`] writes them).
pub fn load_parameters<B: Backend, M: Module<B>>(module: M, values: &[f32]) -> Result<M, String> {
    let expected = module.num_params();
    if values.len() != expected {
        return Err(format!(
            "{} parameter values for a model with {expected}",
            values.len()
        ));
    }
    let mut load = Load { values, at: 0 };
    Ok(module.map(&mut load))
}

/// A checksum of the parameters' exact bits (CRC-32C), to compare replicas.
pub fn checksum(values: &[f32]) -> u32 {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    crc32c::crc32c(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hicra_model::{Llama, ModelConfig, RuntimeBackend};

    fn tiny() -> ModelConfig {
        ModelConfig {
            vocab_size: 11,
            hidden_size: 8,
            intermediate_size: 16,
            num_layers: 1,
            num_heads: 2,
            num_kv_heads: 1,
            rope_theta: 10_000.0,
            rms_norm_eps: 1e-5,
            max_seq_len: 8,
            tie_word_embeddings: true,
            attention_bias: false,
        }
    }

    #[test]
    fn parameters_round_trip_into_another_model() {
        let device = hicra_model::cpu();
        let a = Llama::<RuntimeBackend>::init(&tiny(), 1, &device);
        let b = Llama::<RuntimeBackend>::init(&tiny(), 2, &device);
        let flat = parameters(&a);
        assert_eq!(flat.len(), a.num_params());
        assert_ne!(checksum(&flat), checksum(&parameters(&b)));
        let b = load_parameters(b, &flat).unwrap();
        assert_eq!(parameters(&b), flat);
        assert!(
            load_parameters(b, &flat[1..])
                .unwrap_err()
                .contains("parameter values")
        );
    }
}
