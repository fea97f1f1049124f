// Build script of msmu-train, also included by the `msmu` package's build.rs: embed libtorch's
// library folder as an rpath so the binary, the examples and the test executables find
// `libtorch_cpu.so` without `LD_LIBRARY_PATH`. torch-sys exports the folder as
// `DEP_TCH_LIBTORCH_LIB` (its `links = "tch"`), which a build script only sees when torch-sys
// is a direct dependency of its package, hence torch-sys in both manifests. In the `msmu`
// package this only runs with its `train` feature.
//
// A CUDA libtorch (its lib folder holds `libtorch_cuda.so`) is force-linked: rustc links with
// `--as-needed`, which drops `libtorch_cuda.so` (nothing references its symbols directly) and
// leaves `tch::Cuda::is_available()` false. The slim CPU libtorch has no such file and is
// linked as before. `MSMU_EXTRA_RPATH` (colon-separated folders) adds rpath entries in front,
// e.g. the torch/lib folder of the Python environment on the machine the binaries will run on.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=MSMU_EXTRA_RPATH");
    let is_binary_package = std::env::var("CARGO_PKG_NAME").as_deref() == Ok("msmu");
    if is_binary_package && std::env::var_os("CARGO_FEATURE_TRAIN").is_none() {
        return;
    }
    if let Ok(extra) = std::env::var("MSMU_EXTRA_RPATH") {
        for dir in extra.split(':').filter(|d| !d.is_empty()) {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
    }
    if let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
        if Path::new(&lib_dir).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
