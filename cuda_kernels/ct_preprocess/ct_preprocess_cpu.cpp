// ct_preprocess CPU loop (OpenMP over volumes and x-slices). No torch headers: fast build.
#include <vector>
#include "ct_preprocess_core.h"

namespace radkit {

void ct_preprocess_cpu(const int16_t* in, int64_t batch, int64_t in_numel, const CtAxis* axes,
                       CtWindow win, float* out) {
  // Per-axis taps are tiny (out_size entries each): precompute them once.
  std::vector<CtTap> taps[3];
  for (int a = 0; a < 3; ++a) {
    taps[a].resize(axes[a].out_size);
    for (int64_t o = 0; o < axes[a].out_size; ++o) taps[a][o] = ct_axis_tap(axes[a], o);
  }
  const int64_t nx = axes[0].out_size, ny = axes[1].out_size, nz = axes[2].out_size;
  const CtTap* tx = taps[0].data();
  const CtTap* ty = taps[1].data();
  const CtTap* tz = taps[2].data();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t ix = 0; ix < nx; ++ix) {
      const int16_t* vol = in + b * in_numel;
      float* dst = out + (b * nx + ix) * ny * nz;
      for (int64_t iy = 0; iy < ny; ++iy) {
        for (int64_t iz = 0; iz < nz; ++iz) {
          dst[iy * nz + iz] = ct_voxel(vol, tx[ix], ty[iy], tz[iz], win);
        }
      }
    }
  }
}

}  // namespace radkit
