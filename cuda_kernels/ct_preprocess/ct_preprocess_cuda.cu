// ct_preprocess CUDA launcher: one thread per output voxel, taps computed inline.
#include <cuda_runtime.h>
#include "ct_preprocess_core.h"

namespace radkit {

struct CtAxes3 {
  CtAxis a[3];
};

template <typename T>
__global__ void ct_preprocess_kernel(const T* __restrict__ in, int64_t batch,
                                     int64_t in_numel, CtAxes3 axes, CtWindow win,
                                     float* __restrict__ out) {
  const int64_t nx = axes.a[0].out_size, ny = axes.a[1].out_size, nz = axes.a[2].out_size;
  const int64_t total = batch * nx * ny * nz;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t iz = i % nz;
    const int64_t iy = (i / nz) % ny;
    const int64_t ix = (i / (nz * ny)) % nx;
    const int64_t b = i / (nz * ny * nx);
    const CtTap tx = ct_axis_tap(axes.a[0], ix);
    const CtTap ty = ct_axis_tap(axes.a[1], iy);
    const CtTap tz = ct_axis_tap(axes.a[2], iz);
    out[i] = ct_voxel(in + b * in_numel, tx, ty, tz, win);
  }
}

template <typename T>
cudaError_t ct_preprocess_cuda(const T* in, int64_t batch, int64_t in_numel,
                               const CtAxis* axes, CtWindow win, float* out,
                               cudaStream_t stream) {
  CtAxes3 ax;
  for (int a = 0; a < 3; ++a) ax.a[a] = axes[a];
  const int64_t total = batch * axes[0].out_size * axes[1].out_size * axes[2].out_size;
  if (total == 0) return cudaSuccess;
  const int threads = 256;
  int64_t blocks = (total + threads - 1) / threads;
  if (blocks > 65535LL * 32) blocks = 65535LL * 32;  // grid-stride loop covers the rest
  ct_preprocess_kernel<T><<<(unsigned)blocks, threads, 0, stream>>>(in, batch, in_numel, ax, win, out);
  return cudaGetLastError();
}

// int16 stored values or float32 HU
template cudaError_t ct_preprocess_cuda<int16_t>(const int16_t*, int64_t, int64_t, const CtAxis*, CtWindow,
                                                 float*, cudaStream_t);
template cudaError_t ct_preprocess_cuda<float>(const float*, int64_t, int64_t, const CtAxis*, CtWindow,
                                               float*, cudaStream_t);

}  // namespace radkit
