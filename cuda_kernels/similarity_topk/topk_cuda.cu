// similarity_topk CUDA merge: one block per query merges a score tile into the running
// best-first list (K = next power of two >= k entries per query, in global memory).
// Candidates beating the current k-th entry are appended to shared memory; whenever a
// chunk of K scores has been scanned the 2K entries are bitonic-sorted best-first.
#include <cuda_runtime.h>
#include <math_constants.h>
#include "topk_core.h"

namespace radkit {

__device__ __forceinline__ void topk_swap_if(float* s, int32_t* id, int a, int b, bool best_first) {
  const bool b_better = topk_better(s[b], id[b], s[a], id[a]);
  if (b_better == best_first) {
    const float ts = s[a]; s[a] = s[b]; s[b] = ts;
    const int32_t ti = id[a]; id[a] = id[b]; id[b] = ti;
  }
}

__device__ void topk_bitonic_sort(float* s, int32_t* id, int n) {
  for (int size = 2; size <= n; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int t = threadIdx.x; t < n / 2; t += blockDim.x) {
        const int i = 2 * stride * (t / stride) + (t % stride);
        const int j = i + stride;
        topk_swap_if(s, id, i, j, (i & size) == 0);
      }
      __syncthreads();
    }
  }
}

__global__ void topk_merge_kernel(const float* __restrict__ scores, int64_t T, int64_t ld,
                                  int64_t base, const bool* __restrict__ mask,
                                  int64_t mask_qstride, float* run_s, int32_t* run_i,
                                  int k, int K) {
  extern __shared__ unsigned char smem_raw[];
  float* s = reinterpret_cast<float*>(smem_raw);
  int32_t* id = reinterpret_cast<int32_t*>(s + 2 * K);
  __shared__ int count;
  __shared__ float thr_s;
  __shared__ int32_t thr_i;
  const int64_t q = blockIdx.x;
  const float* row = scores + q * ld;
  const bool* mrow = mask ? mask + q * mask_qstride + base : nullptr;
  for (int t = threadIdx.x; t < K; t += blockDim.x) {
    s[t] = run_s[q * K + t];
    id[t] = run_i[q * K + t];
  }
  if (threadIdx.x == 0) count = 0;
  __syncthreads();
  if (threadIdx.x == 0) { thr_s = s[k - 1]; thr_i = id[k - 1]; }
  __syncthreads();
  for (int64_t c0 = 0; c0 < T; c0 += K) {
    const int64_t c1 = (c0 + K < T) ? c0 + K : T;
    for (int64_t j = c0 + threadIdx.x; j < c1; j += blockDim.x) {
      const float v = row[j];
      if (v != v) continue;  // NaN never enters
      if (mrow && !mrow[j]) continue;
      const int32_t idx = static_cast<int32_t>(base + j);
      if (topk_better(v, idx, thr_s, thr_i)) {
        const int pos = atomicAdd(&count, 1);  // at most K per chunk: fits
        s[K + pos] = v;
        id[K + pos] = idx;
      }
    }
    __syncthreads();
    const int n_new = count;
    if (n_new > 0) {  // uniform across the block
      for (int t = n_new + threadIdx.x; t < K; t += blockDim.x) {
        s[K + t] = -CUDART_INF_F;
        id[K + t] = -1;
      }
      __syncthreads();
      topk_bitonic_sort(s, id, 2 * K);
      if (threadIdx.x == 0) { count = 0; thr_s = s[k - 1]; thr_i = id[k - 1]; }
    }
    __syncthreads();
  }
  for (int t = threadIdx.x; t < K; t += blockDim.x) {
    run_s[q * K + t] = s[t];
    run_i[q * K + t] = id[t];
  }
}

// run_s/run_i: (Q, K) best-first, initialised to padding (-inf, -1) by the caller.
cudaError_t topk_merge_cuda(const float* scores, int64_t Q, int64_t T, int64_t ld, int64_t base,
                            const bool* mask, int64_t mask_qstride, float* run_s,
                            int32_t* run_i, int k, int K, cudaStream_t stream) {
  if (Q == 0 || T == 0) return cudaSuccess;
  const size_t smem = static_cast<size_t>(2 * K) * (sizeof(float) + sizeof(int32_t));
  cudaError_t err = cudaFuncSetAttribute(topk_merge_kernel,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return err;
  const int threads = K >= 1024 ? 1024 : (K < 128 ? 128 : K);
  topk_merge_kernel<<<(unsigned)Q, threads, smem, stream>>>(scores, T, ld, base, mask,
                                                            mask_qstride, run_s, run_i, k, K);
  return cudaGetLastError();
}

}  // namespace radkit
