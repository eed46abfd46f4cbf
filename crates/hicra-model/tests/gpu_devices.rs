//! GPU devices, checked against the CPU when this machine has them.
//!
//! * `wgpu:cpu` is a software Vulkan adapter (Mesa's lavapipe/llvmpipe): CI installs it, so
//!   the WebGPU path (WGSL kernels, burn's `wgpu` feature without `vulkan`) is exercised on a
//!   machine with no GPU. With `HICRA_REQUIRE_WGPU=1` (set by `.ci/run`) a missing adapter
//!   fails the test instead of skipping it.
//! * `cuda:7` cannot exist on a CI machine: opening it must be a clear error, not a panic.

use hicra_model::{DeviceError, DeviceSpec, Precision, PrecisionError, check_device};

fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

#[cfg(feature = "wgpu")]
#[test]
fn software_webgpu_computes_what_the_cpu_computes() {
    let spec: DeviceSpec = "wgpu:cpu".parse().unwrap();
    let device = match spec.open() {
        Ok(device) => device,
        Err(e) if !required("HICRA_REQUIRE_WGPU") => {
            eprintln!("skipped: {e} (install mesa-vulkan-drivers, or set HICRA_REQUIRE_WGPU=1)");
            return;
        }
        Err(e) => panic!("HICRA_REQUIRE_WGPU=1 but {e}"),
    };
    let outcomes = check_device(&device, Precision::F32);
    assert_eq!(outcomes.len(), 3);
    for outcome in outcomes {
        assert!(outcome.passed, "{outcome:?}");
    }
    // WGSL has no bfloat16: asking for it is an error at start that names the device and
    // what it does support, never a failure inside a kernel.
    match Precision::Bf16.check(spec, &device) {
        Err(PrecisionError::Unsupported {
            device, supported, ..
        }) => {
            assert_eq!(device, spec);
            assert!(supported.starts_with("f32"), "{supported}");
        }
        other => panic!("expected bf16 to be refused on wgpu, got {other:?}"),
    }
}

#[cfg(feature = "cuda")]
#[test]
fn an_absent_cuda_device_is_an_error() {
    if required("HICRA_HAS_CUDA") {
        return;
    }
    match "cuda:7".parse::<DeviceSpec>().unwrap().open() {
        Err(DeviceError::Unavailable { device, reason }) => {
            assert_eq!(device.to_string(), "cuda:7");
            assert!(!reason.is_empty());
        }
        other => panic!("expected an unavailable-device error, got {other:?}"),
    }
}

#[cfg(not(feature = "wgpu"))]
#[test]
fn wgpu_without_the_feature_names_the_rebuild() {
    let err = "wgpu:0".parse::<DeviceSpec>().unwrap().open().unwrap_err();
    assert!(matches!(err, DeviceError::NotBuilt { .. }));
    assert!(err.to_string().contains("--features wgpu"), "{err}");
}
