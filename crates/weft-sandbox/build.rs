//! Compiles the C example kernels (`examples/compute/*.c`) natively with the machine's C
//! compiler into a static library, for the examples' benchmark and the test that compares
//! every shipped `.wasm` with the native build of its source. Nothing in the library refers
//! to them: a binary that does not call them (the node) links none of their code.

fn main() {
    let dir = std::path::Path::new("../../examples/compute");
    let kernels = ["keysearch", "montecarlo", "mandelbrot", "tone"];
    println!("cargo:rerun-if-changed={}", dir.join("weft.h").display());
    let mut build = cc::Build::new();
    for k in kernels {
        let src = dir.join(format!("{k}.c"));
        println!("cargo:rerun-if-changed={}", src.display());
        build.file(src);
    }
    // the same arithmetic as the wasm build: no fused multiply-add, no errno from sqrt
    build
        .opt_level(2)
        .flag_if_supported("-ffp-contract=off")
        .flag_if_supported("-fno-math-errno")
        .warnings(true)
        .compile("weft_example_kernels");
}
