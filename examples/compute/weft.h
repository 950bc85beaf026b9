/* The weft module ABI (weft-compute's crate docs) for C kernels, and the same kernels as
 * plain functions for a native build.
 *
 * A kernel is written once, as static functions over byte buffers:
 *
 *   one-shot:   uint32_t run(const uint8_t *in, uint32_t len, uint8_t *out)
 *   resumable:  uint32_t init(const uint8_t *in, uint32_t len, uint8_t *state)
 *               int      step(uint8_t *state)           (1 once the work is done)
 *               uint32_t finish(const uint8_t *state, uint8_t *out)
 *
 * each returning the bytes written, or WEFT_TRAP for an input that is not valid (the module
 * traps, the same way on every worker). WEFT_ONESHOT / WEFT_RESUMABLE then define, for
 * --target=wasm32, the exports `weft_alloc`, `weft_run` or `weft_init` / `weft_step` /
 * `weft_finish` (the linker exports `memory`), and natively `NAME_run` or `NAME_init`,
 * `NAME_step`, `NAME_finish` with the same meaning, for the benchmark and the checks.
 *
 * No libc: the wasm build has no imports at all, so what the kernels need (memcpy, memset,
 * exp, log, sin, cos) is written here in plain IEEE double arithmetic, which gives the same
 * bits in both builds (both are built with -ffp-contract=off: no fused multiply-add). */
#ifndef WEFT_H
#define WEFT_H

#include <stdint.h>

#define WEFT_TRAP 0xffffffffu

#ifdef __wasm__
#define WEFT_EXPORT(name) __attribute__((export_name(name), visibility("default")))
/* clang may turn loops into calls to these; with -nostdlib they must be defined here */
void *memcpy(void *dst, const void *src, unsigned long n) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  while (n--) *d++ = *s++;
  return dst;
}
void *memset(void *dst, int c, unsigned long n) {
  uint8_t *d = dst;
  while (n--) *d++ = (uint8_t)c;
  return dst;
}
#endif

static inline uint64_t weft_get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
static inline uint32_t weft_get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void weft_put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void weft_put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline double weft_getf64(const uint8_t *p) {
  union { uint64_t u; double d; } x = {weft_get64(p)};
  return x.d;
}
static inline void weft_putf64(uint8_t *p, double d) {
  union { double d; uint64_t u; } x = {d};
  weft_put64(p, x.u);
}

/* splitmix64: the kernels' deterministic random numbers */
static inline uint64_t weft_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
/* uniform in [0, 1), 53 bits */
static inline double weft_uniform(uint64_t *s) {
  return (double)(weft_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static inline double weft_sqrt(double x) { return __builtin_sqrt(x); } /* IEEE: exact rounding */

static inline double weft_scale2(double x, int k) { /* x * 2^k for -1022 <= k <= 1023 */
  union { uint64_t u; double d; } p = {(uint64_t)(k + 1023) << 52};
  return x * p.d;
}

/* e^x: x = k ln2 + r, |r| <= ln2/2, a degree-13 Taylor polynomial for e^r */
static inline double weft_exp(double x) {
  if (x > 709.0) return 1.0 / 0.0;
  if (x < -708.0) return 0.0;
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  double kf = x * 1.44269504088896338700 + (x < 0 ? -0.5 : 0.5);
  int k = (int)kf;
  double r = (x - k * ln2_hi) - k * ln2_lo;
  double t = 1.0, sum = 1.0;
  for (int i = 1; i <= 13; i++) {
    t = t * r / i;
    sum += t;
  }
  return weft_scale2(sum, k);
}

/* ln x for x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh((m-1)/(m+1)) */
static inline double weft_log(double x) {
  if (!(x > 0.0)) return -1.0 / 0.0;
  union { double d; uint64_t u; } v = {x};
  int e = (int)((v.u >> 52) & 0x7ff) - 1023;
  v.u = (v.u & 0x000fffffffffffffull) | 0x3ff0000000000000ull; /* m in [1, 2) */
  double m = v.d;
  if (m > 1.41421356237309504880) {
    m *= 0.5;
    e += 1;
  }
  double s = (m - 1.0) / (m + 1.0), s2 = s * s, t = s, sum = 0.0;
  for (int i = 1; i <= 41; i += 2) {
    sum += t / i;
    t *= s2;
  }
  return 2.0 * sum + e * 6.93147180559945309417e-01;
}

/* Marsaglia's polar method: a point (u, v) drawn uniformly in the unit disc (centre left
 * out) and the factor f that makes u f and v f two independent standard normal draws */
typedef struct {
  double u, v, f;
} weft_polar_t;
static inline weft_polar_t weft_polar(uint64_t *seed) {
  double u, v, s;
  do {
    u = 2.0 * weft_uniform(seed) - 1.0;
    v = 2.0 * weft_uniform(seed) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  weft_polar_t p = {u, v, weft_sqrt(-2.0 * weft_log(s) / s)};
  return p;
}

/* sin and cos: x = k pi/2 + r, |r| <= pi/4, Taylor polynomials to degree 17 / 18 */
static inline double weft_sin_r(double r) {
  double r2 = r * r, t = r, sum = r;
  for (int i = 1; i <= 8; i++) {
    t = -t * r2 / ((2 * i) * (2 * i + 1));
    sum += t;
  }
  return sum;
}
static inline double weft_cos_r(double r) {
  double r2 = r * r, t = 1.0, sum = 1.0;
  for (int i = 1; i <= 9; i++) {
    t = -t * r2 / ((2 * i - 1) * (2 * i));
    sum += t;
  }
  return sum;
}
static inline void weft_sincos(double x, double *s, double *c) {
  const double pio2_hi = 1.57079632673412561417e+00, pio2_lo = 6.07710050650619224932e-11;
  double kf = x * 6.36619772367581382433e-01;
  int64_t k = (int64_t)(kf + (kf < 0 ? -0.5 : 0.5));
  double r = (x - k * pio2_hi) - k * pio2_lo;
  double sr = weft_sin_r(r), cr = weft_cos_r(r);
  switch (k & 3) {
    case 0: *s = sr; *c = cr; break;
    case 1: *s = cr; *c = -sr; break;
    case 2: *s = -sr; *c = -cr; break;
    default: *s = -cr; *c = sr; break;
  }
}

#ifdef __wasm__
#define WEFT_ONESHOT(name, run, in_max, out_max)                                  \
  static uint8_t weft_in[in_max];                                                 \
  static uint8_t weft_out[out_max];                                               \
  WEFT_EXPORT("weft_alloc") int32_t weft_alloc(int32_t len) {                     \
    return len >= 0 && len <= (int32_t)(in_max) ? (int32_t)(uintptr_t)weft_in : -1; \
  }                                                                               \
  WEFT_EXPORT("weft_run") int64_t weft_run(int32_t ptr, int32_t len) {            \
    uint32_t n = run((const uint8_t *)(uintptr_t)ptr, (uint32_t)len, weft_out);   \
    if (n == WEFT_TRAP) __builtin_trap();                                         \
    return (int64_t)((uint64_t)(uintptr_t)weft_out << 32 | n);                    \
  }

#define WEFT_RESUMABLE(name, init, step, finish, in_max, state_len, out_max)       \
  static uint8_t weft_in[in_max > state_len ? in_max : state_len];                \
  static uint8_t weft_state[state_len];                                           \
  static uint8_t weft_out[out_max];                                               \
  WEFT_EXPORT("weft_alloc") int32_t weft_alloc(int32_t len) {                     \
    return len >= 0 && len <= (int32_t)sizeof weft_in ? (int32_t)(uintptr_t)weft_in \
                                                      : -1;                       \
  }                                                                               \
  WEFT_EXPORT("weft_init") int64_t weft_init(int32_t ptr, int32_t len) {          \
    uint32_t n = init((const uint8_t *)(uintptr_t)ptr, (uint32_t)len, weft_state); \
    if (n == WEFT_TRAP) __builtin_trap();                                         \
    return (int64_t)((uint64_t)(uintptr_t)weft_state << 32 | n);                  \
  }                                                                               \
  WEFT_EXPORT("weft_step") int64_t weft_step(int32_t ptr, int32_t len) {          \
    if (len != (int32_t)(state_len)) __builtin_trap();                            \
    memcpy(weft_state, (const void *)(uintptr_t)ptr, state_len);                  \
    int done = step(weft_state);                                                  \
    uint64_t span = (uint64_t)(uintptr_t)weft_state << 32 | (state_len);          \
    return (int64_t)(done ? span | 1ull << 63 : span);                            \
  }                                                                               \
  WEFT_EXPORT("weft_finish") int64_t weft_finish(int32_t ptr, int32_t len) {      \
    if (len != (int32_t)(state_len)) __builtin_trap();                            \
    uint32_t n = finish((const uint8_t *)(uintptr_t)ptr, weft_out);               \
    if (n == WEFT_TRAP) __builtin_trap();                                         \
    return (int64_t)((uint64_t)(uintptr_t)weft_out << 32 | n);                    \
  }
#else
#define WEFT_ONESHOT(name, run, in_max, out_max)                                  \
  uint32_t name##_run(const uint8_t *in, uint32_t len, uint8_t *out) {            \
    return len > (in_max) ? WEFT_TRAP : run(in, len, out);                        \
  }
#define WEFT_RESUMABLE(name, init, step, finish, in_max, state_len, out_max)       \
  uint32_t name##_init(const uint8_t *in, uint32_t len, uint8_t *state) {         \
    return len > (in_max) ? WEFT_TRAP : init(in, len, state);                     \
  }                                                                               \
  int name##_step(uint8_t *state) { return step(state); }                         \
  uint32_t name##_finish(const uint8_t *state, uint8_t *out) { return finish(state, out); }
#endif

#endif
