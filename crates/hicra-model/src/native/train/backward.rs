//! stub
use super::HostGrads;
use super::forward::Tape;
use super::params::HostParams;
pub(super) fn run(
    _params: &HostParams,
    _tape: Tape,
    _dlogprobs: &[f32],
    _dentropies: Option<&[f32]>,
    _grads: &mut HostGrads,
) {
    todo!()
}
