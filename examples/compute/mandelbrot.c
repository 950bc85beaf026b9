/* One tile of the Mandelbrot set (the rendering example of weft's distributed computing).
 *
 * Input (32 bytes, little-endian): x0, y0 (f64, the tile's top-left corner), step (f64, the
 * width of a pixel), width, height (u16), max_iter (u32). Output: width x height u16, row by
 * row: the iterations before |z| > 2 (max_iter if it never escaped); at most 32,768 pixels.
 * Follows the weft module ABI (one-shot). */
#include "weft.h"

#define MAX_PIXELS 32768

static uint32_t run(const uint8_t *in, uint32_t len, uint8_t *out) {
  if (len != 32) return WEFT_TRAP;
  double x0 = weft_getf64(in), y0 = weft_getf64(in + 8), step = weft_getf64(in + 16);
  uint32_t w = (uint32_t)in[24] | (uint32_t)in[25] << 8;
  uint32_t h = (uint32_t)in[26] | (uint32_t)in[27] << 8;
  uint32_t max_iter = weft_get32(in + 28);
  if (w * h > MAX_PIXELS || max_iter > 65535) return WEFT_TRAP;
  uint8_t *o = out;
  for (uint32_t py = 0; py < h; py++) {
    double ci = y0 + py * step;
    for (uint32_t px = 0; px < w; px++) {
      double cr = x0 + px * step, zr = 0.0, zi = 0.0, zr2 = 0.0, zi2 = 0.0;
      uint32_t it = 0;
      while (it < max_iter && zr2 + zi2 <= 4.0) {
        zi = 2.0 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
        zr2 = zr * zr;
        zi2 = zi * zi;
        it++;
      }
      o[0] = (uint8_t)it;
      o[1] = (uint8_t)(it >> 8);
      o += 2;
    }
  }
  return 2 * w * h;
}

WEFT_ONESHOT(mandelbrot, run, 32, 2 * MAX_PIXELS)
