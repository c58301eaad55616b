//! With the `mkl` feature, links a stand-in for the `hgemm_` symbol that Debian's MKL lacks
//! (see build/hgemm_standin.c). It is passed as an object file, not an archive, so the linker
//! always includes it regardless of library order.

fn main() {
    println!("cargo:rerun-if-changed=build/hgemm_standin.c");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_MKL").is_none() {
        return;
    }
    let objects = cc::Build::new()
        .file("build/hgemm_standin.c")
        .warnings(true)
        .compile_intermediates();
    for object in objects {
        println!("cargo:rustc-link-arg={}", object.display());
    }
}
