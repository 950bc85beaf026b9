//! The native build of the primes kernel: the same trial division as
//! `examples/compute/primes.wat`, for the checker and the benchmark.

/// Counts primes in `lo..hi` by trial division.
pub fn count_primes(lo: u64, hi: u64) -> u64 {
    (lo..hi)
        .filter(|&n| is_prime(std::hint::black_box(n)))
        .count() as u64
}

/// Whether `n` is prime, by trial division by odd numbers up to its square root.
pub fn is_prime(n: u64) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n.is_multiple_of(2) {
        return false;
    }
    let mut d = 3;
    while d <= n / d {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}
