// ct_preprocess CPU loop (OpenMP over volumes and output x-slices). No torch headers: fast build.
//
// Same per-voxel math as ct_voxel() in the core header, evaluated row-wise: for one output (x, y)
// the bilinear x/y blend of the needed stretch of the four source rows along the inner axis goes
// into a small per-thread buffer (contiguous, so it vectorises), then every output z is one lerp
// of that buffer. The buffer is one input row, not an intermediate volume.
#include <algorithm>
#include <vector>
#include "ct_preprocess_core.h"

namespace radkit {

// T: int16_t (stored CT values) or float (HU already scaled by a reader); instantiated below.
template <typename T>
void ct_preprocess_cpu(const T* in, int64_t batch, int64_t in_numel, const CtAxis* axes,
                       CtWindow win, float* out) {
  std::vector<CtTap> taps[3];
  for (int a = 0; a < 3; ++a) {
    taps[a].resize(axes[a].out_size);
    for (int64_t o = 0; o < axes[a].out_size; ++o) taps[a][o] = ct_axis_tap(axes[a], o);
  }
  const int64_t nx = axes[0].out_size, ny = axes[1].out_size, nz = axes[2].out_size;
  const int64_t st = axes[2].stride;  // source stride of the inner output axis
  // inner-axis taps as source indices, and the source range they touch
  std::vector<int64_t> j0(nz), j1(nz);
  int64_t jmin = INT64_MAX, jmax = -1;
  for (int64_t iz = 0; iz < nz; ++iz) {
    j0[iz] = taps[2][iz].off0 / st;
    j1[iz] = taps[2][iz].off1 / st;
    if (taps[2][iz].valid) {
      jmin = std::min(jmin, std::min(j0[iz], j1[iz]));
      jmax = std::max(jmax, std::max(j0[iz], j1[iz]));
    }
  }
  const CtTap* tx = taps[0].data();
  const CtTap* ty = taps[1].data();
  const CtTap* tz = taps[2].data();
#pragma omp parallel
  {
    std::vector<float> row(axes[2].in_size);
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t ix = 0; ix < nx; ++ix) {
        const T* vol = in + b * in_numel;
        float* dst = out + (b * nx + ix) * ny * nz;
        for (int64_t iy = 0; iy < ny; ++iy) {
          float* d = dst + iy * nz;
          if (!(tx[ix].valid && ty[iy].valid) || jmax < 0) {
            std::fill(d, d + nz, 0.f);  // padding = window minimum
            continue;
          }
          const T* p00 = vol + tx[ix].off0 + ty[iy].off0;
          const T* p01 = vol + tx[ix].off0 + ty[iy].off1;
          const T* p10 = vol + tx[ix].off1 + ty[iy].off0;
          const T* p11 = vol + tx[ix].off1 + ty[iy].off1;
          const float wy = ty[iy].w1, wx = tx[ix].w1;
          float* r = row.data();
          if (st == 1) {
            for (int64_t j = jmin; j <= jmax; ++j) {
              const float c0 = ct_lerp((float)p00[j], (float)p01[j], wy);
              const float c1 = ct_lerp((float)p10[j], (float)p11[j], wy);
              r[j] = ct_lerp(c0, c1, wx);
            }
          } else {
            for (int64_t j = jmin; j <= jmax; ++j) {
              const int64_t o = j * st;
              const float c0 = ct_lerp((float)p00[o], (float)p01[o], wy);
              const float c1 = ct_lerp((float)p10[o], (float)p11[o], wy);
              r[j] = ct_lerp(c0, c1, wx);
            }
          }
          for (int64_t iz = 0; iz < nz; ++iz) {
            d[iz] = tz[iz].valid ? ct_window(ct_lerp(r[j0[iz]], r[j1[iz]], tz[iz].w1), win) : 0.f;
          }
        }
      }
    }
  }
}

template void ct_preprocess_cpu<int16_t>(const int16_t*, int64_t, int64_t, const CtAxis*, CtWindow, float*);
template void ct_preprocess_cpu<float>(const float*, int64_t, int64_t, const CtAxis*, CtWindow, float*);

}  // namespace radkit
