/* Monte Carlo pricing of a European call option (the paper's financial example of weft's
 * distributed computing): the stock follows geometric Brownian motion, S_T = S0 exp((r -
 * sigma^2/2) T + sigma sqrt(T) Z), and the price is the discounted mean payoff max(S_T - K, 0).
 * Normal draws by Marsaglia's polar method over splitmix64; exp and log from weft.h, so a
 * unit gives the same bits on every worker and natively.
 *
 * Input (56 bytes, little-endian): S0, K, r, sigma, T (f64), seed (u64), paths (u64, at most
 * 2^32). Output (16 bytes, f64): the price and its standard error. Follows the weft module
 * ABI (one-shot). */
#include "weft.h"

static uint32_t run(const uint8_t *in, uint32_t len, uint8_t *out) {
  if (len != 56) return WEFT_TRAP;
  double s0 = weft_getf64(in), k = weft_getf64(in + 8), r = weft_getf64(in + 16);
  double sigma = weft_getf64(in + 24), t = weft_getf64(in + 32);
  uint64_t seed = weft_get64(in + 40), paths = weft_get64(in + 48);
  if (paths == 0 || paths > 0xffffffffull || !(t >= 0.0) || !(sigma >= 0.0)) return WEFT_TRAP;
  double drift = (r - 0.5 * sigma * sigma) * t, vol = sigma * weft_sqrt(t);
  double sum = 0.0, sum2 = 0.0;
  uint64_t done = 0;
  while (done < paths) {
    weft_polar_t p = weft_polar(&seed);
    double z[2] = {p.u * p.f, p.v * p.f};
    for (int i = 0; i < 2 && done < paths; i++, done++) {
      double st = s0 * weft_exp(drift + vol * z[i]);
      double payoff = st > k ? st - k : 0.0;
      sum += payoff;
      sum2 += payoff * payoff;
    }
  }
  double n = (double)paths, mean = sum / n;
  double var = sum2 / n - mean * mean;
  double disc = weft_exp(-r * t);
  weft_putf64(out, disc * mean);
  weft_putf64(out + 8, disc * weft_sqrt((var > 0.0 ? var : 0.0) / n));
  return 16;
}

WEFT_ONESHOT(montecarlo, run, 56, 16)
