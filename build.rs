//! Build script: with the `train` feature, embed libtorch's library folder as an rpath so the
//! binary and the test executables find `libtorch_cpu.so` without `LD_LIBRARY_PATH`.
//! torch-sys exports the folder as `DEP_TCH_LIBTORCH_LIB` (its `links = "tch"`), which a build
//! script only sees when torch-sys is a direct dependency, hence the optional dep in Cargo.toml.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if std::env::var_os("CARGO_FEATURE_TRAIN").is_none() {
        return;
    }
    if let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    }
}
