// ct_preprocess CUDA launcher: one thread per output voxel (per plane), taps computed inline.
#include <cuda_runtime.h>
#include "ct_preprocess_core.h"

namespace radkit {

struct CtAxes3 {
  CtAxis a[3];
};

// Block (32, 8) covers 32 consecutive output z by 8 output y of one (batch, x) plane: a warp's z
// taps read consecutive input elements (coalesced when z is the innermost source axis), and the
// index math needs no 64-bit division per voxel (it dominated the first version's time).
template <typename T>
__global__ void ct_preprocess_kernel(const T* __restrict__ in, int64_t batch,
                                     int64_t in_numel, CtAxes3 axes, CtWindow win,
                                     float* __restrict__ out) {
  const int64_t nx = axes.a[0].out_size, ny = axes.a[1].out_size, nz = axes.a[2].out_size;
  const int64_t iz = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  const int64_t iy = blockIdx.y * (int64_t)blockDim.y + threadIdx.y;
  if (iz >= nz || iy >= ny) return;
  const CtTap tz = ct_axis_tap(axes.a[2], iz);
  const CtTap ty = ct_axis_tap(axes.a[1], iy);
  for (int64_t bx = blockIdx.z; bx < batch * nx; bx += gridDim.z) {  // bx = b * nx + ix
    const int64_t b = bx / nx, ix = bx - b * nx;
    const CtTap tx = ct_axis_tap(axes.a[0], ix);
    out[(bx * ny + iy) * nz + iz] = ct_voxel(in + b * in_numel, tx, ty, tz, win);
  }
}

template <typename T>
cudaError_t ct_preprocess_cuda(const T* in, int64_t batch, int64_t in_numel,
                               const CtAxis* axes, CtWindow win, float* out,
                               cudaStream_t stream) {
  CtAxes3 ax;
  for (int a = 0; a < 3; ++a) ax.a[a] = axes[a];
  const int64_t planes = batch * axes[0].out_size;
  if (planes == 0 || axes[1].out_size == 0 || axes[2].out_size == 0) return cudaSuccess;
  const dim3 threads(32, 8);
  const int64_t gz = planes < 65535 ? planes : 65535;  // the loop over bx covers the rest
  const dim3 blocks((unsigned)((axes[2].out_size + 31) / 32), (unsigned)((axes[1].out_size + 7) / 8),
                    (unsigned)gz);
  ct_preprocess_kernel<T><<<blocks, threads, 0, stream>>>(in, batch, in_numel, ax, win, out);
  return cudaGetLastError();
}

// int16 stored values or float32 HU
template cudaError_t ct_preprocess_cuda<int16_t>(const int16_t*, int64_t, int64_t, const CtAxis*, CtWindow,
                                                 float*, cudaStream_t);
template cudaError_t ct_preprocess_cuda<float>(const float*, int64_t, int64_t, const CtAxis*, CtWindow,
                                               float*, cudaStream_t);

}  // namespace radkit
