/* A SETI-like search for a tone in noise (the SETI@home example of weft's distributed
 * computing): the unit synthesizes `chunks` blocks of n = 2^log2n samples of Gaussian noise
 * (polar method over splitmix64, from the seed) plus a sine of the given amplitude at
 * frequency bin `bin`, runs a radix-2 FFT over each block and reports the strongest bin.
 * exp, log, sin and cos come from weft.h: the same bits on every worker and natively.
 *
 * Input (40 bytes, little-endian): seed (u64), log2n (u32, 4..16), chunks (u32, >= 1), bin
 * (u32, < n/2; 0 = no tone), padding (u32), amplitude (f64), noise (f64, standard deviation).
 * Output (24 bytes): the strongest bin (u32), the block it was in (u32), its power over the
 * mean power of the other bins in its block (f64), the mean power (f64). Follows the weft
 * module ABI (one-shot). */
#include "weft.h"

#define MAX_LOG2N 16
#define PI 3.14159265358979323846

static double re[1 << MAX_LOG2N], im[1 << MAX_LOG2N];

static void fft(uint32_t log2n) {
  uint32_t n = 1u << log2n;
  for (uint32_t i = 1, j = 0; i < n; i++) { /* bit reversal */
    uint32_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      double t = re[i]; re[i] = re[j]; re[j] = t;
      t = im[i]; im[i] = im[j]; im[j] = t;
    }
  }
  for (uint32_t len = 2; len <= n; len <<= 1) {
    uint32_t half = len >> 1;
    for (uint32_t k = 0; k < half; k++) {
      double ws, wc;
      weft_sincos(-2.0 * PI * k / len, &ws, &wc);
      for (uint32_t i = k; i < n; i += len) {
        uint32_t j = i + half;
        double tr = re[j] * wc - im[j] * ws, ti = re[j] * ws + im[j] * wc;
        re[j] = re[i] - tr;
        im[j] = im[i] - ti;
        re[i] += tr;
        im[i] += ti;
      }
    }
  }
}

static uint32_t run(const uint8_t *in, uint32_t len, uint8_t *out) {
  if (len != 40) return WEFT_TRAP;
  uint64_t seed = weft_get64(in);
  uint32_t log2n = weft_get32(in + 8), chunks = weft_get32(in + 12), bin = weft_get32(in + 16);
  double amp = weft_getf64(in + 24), noise = weft_getf64(in + 32);
  if (log2n < 4 || log2n > MAX_LOG2N || chunks == 0) return WEFT_TRAP;
  uint32_t n = 1u << log2n;
  if (bin >= n / 2) return WEFT_TRAP;
  uint32_t best_bin = 0, best_chunk = 0;
  double best_ratio = -1.0, best_mean = 0.0;
  uint64_t sample = 0;
  for (uint32_t c = 0; c < chunks; c++) {
    for (uint32_t i = 0; i < n; i += 2) {
      weft_polar_t p = weft_polar(&seed);
      for (uint32_t h = 0; h < 2; h++, sample++) {
        double ts, tc;
        weft_sincos(2.0 * PI * (double)bin * (double)(sample % n) / n, &ts, &tc);
        re[i + h] = noise * (h ? p.v : p.u) * p.f + (bin ? amp * ts : 0.0);
        im[i + h] = 0.0;
      }
    }
    fft(log2n);
    double total = 0.0, top = -1.0;
    uint32_t top_bin = 1;
    for (uint32_t k = 1; k < n / 2; k++) {
      double p = re[k] * re[k] + im[k] * im[k];
      total += p;
      if (p > top) { top = p; top_bin = k; }
    }
    double mean_others = (total - top) / (n / 2 - 2);
    double ratio = mean_others > 0.0 ? top / mean_others : 0.0;
    if (ratio > best_ratio) {
      best_ratio = ratio;
      best_bin = top_bin;
      best_chunk = c;
      best_mean = total / (n / 2 - 1);
    }
  }
  weft_put32(out, best_bin);
  weft_put32(out + 4, best_chunk);
  weft_putf64(out + 8, best_ratio);
  weft_putf64(out + 16, best_mean);
  return 24;
}

WEFT_ONESHOT(tone, run, 40, 24)
