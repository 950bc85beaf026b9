/* Key search in a range for a toy cipher (the distributed.net example of weft's distributed
 * computing), resumable: the state after each step is the unit's checkpoint.
 *
 * The cipher: 64-bit blocks, 64-bit keys, 8 Feistel rounds over two 32-bit halves (a toy:
 * it is here to be searched, not to keep anything secret).
 *
 * Input (32 bytes, little-endian u64): plaintext, ciphertext, lo, hi. Output (16 bytes): the
 * first key k in lo..hi with encrypt(k, plaintext) == ciphertext (2^64-1 if none), and the
 * number of keys tried. State (48 bytes): plaintext, ciphertext, next key, hi, found, tried;
 * each step tries up to 2^20 keys. Follows the weft module ABI (resumable variant). */
#include "weft.h"

#define STATE_LEN 48
#define KEYS_PER_STEP (1u << 20)

static inline uint32_t rotl(uint32_t x, int r) { return x << r | x >> (32 - r); }

uint64_t keysearch_encrypt(uint64_t key, uint64_t block) {
  uint32_t l = (uint32_t)(block >> 32), r = (uint32_t)block;
  uint32_t ka = (uint32_t)key, kb = (uint32_t)(key >> 32);
  for (uint32_t i = 0; i < 8; i++) {
    uint32_t k = (i & 1 ? kb : ka) ^ (i * 0x9e3779b9u);
    uint32_t f = rotl(r * 0x85ebca6bu + k, 13) ^ (r >> 7) ^ k;
    uint32_t t = l ^ f;
    l = r;
    r = t;
  }
  return (uint64_t)l << 32 | r;
}

static uint32_t init(const uint8_t *in, uint32_t len, uint8_t *state) {
  if (len != 32) return WEFT_TRAP;
  for (int i = 0; i < 32; i++) state[i] = in[i];
  weft_put64(state + 32, UINT64_MAX); /* found */
  weft_put64(state + 40, 0);          /* tried */
  return STATE_LEN;
}

static int step(uint8_t *state) {
  uint64_t pt = weft_get64(state), ct = weft_get64(state + 8);
  uint64_t next = weft_get64(state + 16), hi = weft_get64(state + 24);
  uint64_t found = weft_get64(state + 32), tried = weft_get64(state + 40);
  for (uint32_t n = 0; n < KEYS_PER_STEP && next < hi && found == UINT64_MAX; n++) {
    if (keysearch_encrypt(next, pt) == ct) found = next;
    next++;
    tried++;
  }
  weft_put64(state + 16, next);
  weft_put64(state + 32, found);
  weft_put64(state + 40, tried);
  return next >= hi || found != UINT64_MAX;
}

static uint32_t finish(const uint8_t *state, uint8_t *out) {
  weft_put64(out, weft_get64(state + 32));
  weft_put64(out + 8, weft_get64(state + 40));
  return 16;
}

WEFT_RESUMABLE(keysearch, init, step, finish, 32, STATE_LEN, 16)
