// ct_preprocess: per-output-voxel math, shared by the CPU loop and the CUDA kernel.
//
// Chain for one output voxel (ox, oy, oz) of a canonical-RAS output:
//   output index o -> resampled index r = o + crop_off (outside [0, res_size): pad)
//   -> canonical input coordinate c = r * scale  (voxel centres aligned at index 0,
//      as MONAI Spacing with scale_extent=False; clamped to the last voxel = "border")
//   -> source index through the flip, times the source axis stride
//   -> trilinear gather of the raw values -> HU = raw * slope + intercept
//   -> clip to [lo, hi] and scale to [0, 1].
// Reorientation is separable (a permutation plus flips), so each output axis maps to
// exactly one source axis and the 3D gather factorises into three 1D taps.
#pragma once
#include <cmath>
#include "../common.h"

namespace radkit {

struct CtAxis {
  int64_t out_size;   // output voxels along this (canonical) axis
  int64_t crop_off;   // resampled index = output index + crop_off
  int64_t res_size;   // resampled length; indices outside are padding
  double scale;       // input index per resampled index = target_spacing / input_spacing
  int64_t in_size;    // input voxels along the source axis
  int64_t stride;     // element stride of the source axis in the input volume
  int32_t flip;       // 1 when the source axis runs against RAS
};

struct CtTap {
  int64_t off0, off1;  // element offsets of the two neighbours
  float w1;            // weight of off1 (off0 gets 1 - w1)
  int32_t valid;       // 0: this output index is padding
};

struct CtWindow {
  float slope, intercept, lo, hi, inv_range;
};

RADKIT_HD CtTap ct_axis_tap(const CtAxis& a, int64_t o) {
  CtTap t{0, 0, 0.f, 0};
  const int64_t r = o + a.crop_off;
  if (r < 0 || r >= a.res_size) return t;
  double c = static_cast<double>(r) * a.scale;
  const double cmax = static_cast<double>(a.in_size - 1);
  if (c > cmax) c = cmax;  // rounding of the resampled length can overshoot by < 1 voxel
  int64_t i0 = static_cast<int64_t>(floor(c));
  if (i0 > a.in_size - 1) i0 = a.in_size - 1;
  int64_t i1 = (i0 + 1 < a.in_size) ? i0 + 1 : i0;
  t.w1 = static_cast<float>(c - static_cast<double>(i0));
  if (a.flip) {
    i0 = a.in_size - 1 - i0;
    i1 = a.in_size - 1 - i1;
  }
  t.off0 = i0 * a.stride;
  t.off1 = i1 * a.stride;
  t.valid = 1;
  return t;
}

RADKIT_HD float ct_lerp(float a, float b, float w) { return a + w * (b - a); }

RADKIT_HD float ct_window(float raw, const CtWindow& w) {
  float hu = raw * w.slope + w.intercept;
  hu = hu < w.lo ? w.lo : (hu > w.hi ? w.hi : hu);
  return (hu - w.lo) * w.inv_range;
}

// One output voxel; padding is the window minimum, i.e. 0 after scaling.
template <typename T>
RADKIT_HD float ct_voxel(const T* in, const CtTap& x, const CtTap& y, const CtTap& z,
                         const CtWindow& w) {
  if (!(x.valid && y.valid && z.valid)) return 0.f;
  const int64_t b00 = x.off0 + y.off0, b01 = x.off0 + y.off1;
  const int64_t b10 = x.off1 + y.off0, b11 = x.off1 + y.off1;
  const float c00 = ct_lerp((float)in[b00 + z.off0], (float)in[b00 + z.off1], z.w1);
  const float c01 = ct_lerp((float)in[b01 + z.off0], (float)in[b01 + z.off1], z.w1);
  const float c10 = ct_lerp((float)in[b10 + z.off0], (float)in[b10 + z.off1], z.w1);
  const float c11 = ct_lerp((float)in[b11 + z.off0], (float)in[b11 + z.off1], z.w1);
  const float c0 = ct_lerp(c00, c01, y.w1);
  const float c1 = ct_lerp(c10, c11, y.w1);
  return ct_window(ct_lerp(c0, c1, x.w1), w);
}

}  // namespace radkit
