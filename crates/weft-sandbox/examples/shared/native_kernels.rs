//! The native build of the C example kernels (`examples/compute/*.c`, compiled by this
//! crate's build.rs with the machine's C compiler): the same source as the shipped `.wasm`,
//! for the benchmark and for the test that compares the two.

#![allow(
    unsafe_code,
    reason = "the native kernels are C, called through their plain byte-buffer functions"
)]
#![allow(dead_code, reason = "each user calls the kernels it needs")]

unsafe extern "C" {
    fn keysearch_init(input: *const u8, len: u32, state: *mut u8) -> u32;
    fn keysearch_step(state: *mut u8) -> i32;
    fn keysearch_finish(state: *const u8, out: *mut u8) -> u32;
    fn keysearch_encrypt(key: u64, block: u64) -> u64;
    fn montecarlo_run(input: *const u8, len: u32, out: *mut u8) -> u32;
    fn mandelbrot_run(input: *const u8, len: u32, out: *mut u8) -> u32;
    fn tone_run(input: *const u8, len: u32, out: *mut u8) -> u32;
}

/// The C kernels' "not a valid input" (the wasm build traps instead).
const TRAP: u32 = u32::MAX;
/// Room for the largest output (a Mandelbrot tile of 32,768 u16).
const OUT_MAX: usize = 64 << 10;
/// The key search's state size.
pub const KEYSEARCH_STATE: usize = 48;

/// The example kernels in C.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// `keysearch.c` (resumable).
    KeySearch,
    /// `montecarlo.c`.
    MonteCarlo,
    /// `mandelbrot.c`.
    Mandelbrot,
    /// `tone.c`.
    Tone,
}

impl Kernel {
    /// Every kernel.
    pub const ALL: [Kernel; 4] = [
        Kernel::KeySearch,
        Kernel::MonteCarlo,
        Kernel::Mandelbrot,
        Kernel::Tone,
    ];

    /// The source's (and the module's) name in `examples/compute`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::KeySearch => "keysearch",
            Kernel::MonteCarlo => "montecarlo",
            Kernel::Mandelbrot => "mandelbrot",
            Kernel::Tone => "tone",
        }
    }

    /// Whether the module uses the resumable ABI.
    pub fn resumable(self) -> bool {
        self == Kernel::KeySearch
    }

    /// Runs the native build on `input`: the output, or `None` where the module traps.
    pub fn run(self, input: &[u8]) -> Option<Vec<u8>> {
        let len = u32::try_from(input.len()).ok()?;
        let mut out = vec![0u8; OUT_MAX];
        // SAFETY: each function reads `len` bytes of `input`, and writes at most OUT_MAX
        // bytes into `out` (or KEYSEARCH_STATE into `state`), as its C source says.
        let n = unsafe {
            match self {
                Kernel::KeySearch => {
                    let mut state = [0u8; KEYSEARCH_STATE];
                    if keysearch_init(input.as_ptr(), len, state.as_mut_ptr()) == TRAP {
                        return None;
                    }
                    while keysearch_step(state.as_mut_ptr()) == 0 {}
                    keysearch_finish(state.as_ptr(), out.as_mut_ptr())
                }
                Kernel::MonteCarlo => montecarlo_run(input.as_ptr(), len, out.as_mut_ptr()),
                Kernel::Mandelbrot => mandelbrot_run(input.as_ptr(), len, out.as_mut_ptr()),
                Kernel::Tone => tone_run(input.as_ptr(), len, out.as_mut_ptr()),
            }
        };
        if n == TRAP {
            return None;
        }
        out.truncate(n as usize);
        Some(out)
    }
}

/// The toy cipher the key search breaks.
pub fn encrypt(key: u64, block: u64) -> u64 {
    // SAFETY: a pure function of two integers.
    unsafe { keysearch_encrypt(key, block) }
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A key-search input: the key hidden at `lo + offset` (or not in the range).
pub fn keysearch_input(key: u64, lo: u64, hi: u64) -> Vec<u8> {
    let pt = 0x0123_4567_89ab_cdef;
    let ct = encrypt(key, pt);
    cat(&[
        &pt.to_le_bytes(),
        &ct.to_le_bytes(),
        &lo.to_le_bytes(),
        &hi.to_le_bytes(),
    ])
}

/// A Monte Carlo pricing input.
pub fn montecarlo_input(
    s0: f64,
    k: f64,
    r: f64,
    sigma: f64,
    t: f64,
    seed: u64,
    paths: u64,
) -> Vec<u8> {
    cat(&[
        &s0.to_le_bytes(),
        &k.to_le_bytes(),
        &r.to_le_bytes(),
        &sigma.to_le_bytes(),
        &t.to_le_bytes(),
        &seed.to_le_bytes(),
        &paths.to_le_bytes(),
    ])
}

/// A Mandelbrot tile input.
pub fn mandelbrot_input(x0: f64, y0: f64, step: f64, w: u16, h: u16, max_iter: u32) -> Vec<u8> {
    cat(&[
        &x0.to_le_bytes(),
        &y0.to_le_bytes(),
        &step.to_le_bytes(),
        &w.to_le_bytes(),
        &h.to_le_bytes(),
        &max_iter.to_le_bytes(),
    ])
}

/// A tone-search input.
pub fn tone_input(
    seed: u64,
    log2n: u32,
    chunks: u32,
    bin: u32,
    amplitude: f64,
    noise: f64,
) -> Vec<u8> {
    cat(&[
        &seed.to_le_bytes(),
        &log2n.to_le_bytes(),
        &chunks.to_le_bytes(),
        &bin.to_le_bytes(),
        &0u32.to_le_bytes(),
        &amplitude.to_le_bytes(),
        &noise.to_le_bytes(),
    ])
}

/// A few inputs per kernel, small enough for a test (valid ones, and one the module refuses).
pub fn test_inputs(k: Kernel) -> Vec<Vec<u8>> {
    match k {
        Kernel::KeySearch => vec![
            keysearch_input(1_000_123, 1_000_000, 1_010_000),
            keysearch_input(42, 1_000, 2_500_000), // not in the range: 3 steps, all tried
            keysearch_input(u64::MAX - 5, u64::MAX - 100, u64::MAX),
            b"short".to_vec(),
        ],
        Kernel::MonteCarlo => vec![
            montecarlo_input(100.0, 100.0, 0.05, 0.2, 1.0, 1, 20_000),
            montecarlo_input(50.0, 60.0, 0.01, 0.5, 2.5, 7, 3),
            montecarlo_input(100.0, 100.0, 0.05, 0.0, 1.0, 2, 10),
            montecarlo_input(1.0, 1.0, 0.0, 0.2, 1.0, 1, 0),
        ],
        Kernel::Mandelbrot => vec![
            mandelbrot_input(-2.0, -1.25, 2.5 / 64.0, 64, 64, 256),
            mandelbrot_input(-0.7453, 0.1127, 1e-5, 40, 30, 2000),
            mandelbrot_input(-2.0, -2.0, 0.1, 200, 200, 10),
        ],
        Kernel::Tone => vec![
            tone_input(1, 10, 2, 37, 0.5, 1.0),
            tone_input(2, 12, 1, 0, 0.0, 1.0),
            tone_input(3, 4, 1, 3, 10.0, 0.1),
            tone_input(4, 17, 1, 3, 1.0, 1.0),
        ],
    }
}
