// similarity_topk CUDA: the block-wide running top-k list (append buffer, bitonic flush, threshold
// scan) used by the tile-merge kernels (topk_cuda.cu).
// Device functions are inline: each .cu is its own translation unit (no relocatable device code).
#pragma once
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

__device__ inline void topk_bitonic_sort(float* s, int32_t* id, int n) {
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

// Scan tuning (defaults picked on an H200 from benchmarks/tune_ops_gpu.py; RADKIT_TOPK_SOFT,
// RADKIT_TOPK_VMAX and RADKIT_TOPK_SPLIT override them for tuning runs).
struct TopkTune {
  int soft;   // flush once this many takes are pending (at least K)
  int vmax;   // candidates per thread and step, 1..8
};

struct TopkShared {
  int count;  // entries in the append buffer
  float thr_s;
  int32_t thr_i;
};

// Shared list length: K kept entries + an append buffer of at least one step (blockDim <= 1024)
// of candidates; a power of two for the bitonic sort.
__host__ __device__ __forceinline__ int topk_list_len(int K) { return K >= 1024 ? 2 * K : 2048; }

// Thread 0: threshold = the better of the list's k-th entry and the floor (fs, fi).
__device__ __forceinline__ void topk_set_threshold(const float* s, const int32_t* id, int k, float fs,
                                                   int32_t fi, TopkShared* sh) {
  const bool own = topk_better(s[k - 1], id[k - 1], fs, fi);
  sh->thr_s = own ? s[k - 1] : fs;
  sh->thr_i = own ? id[k - 1] : fi;
}

// Sort the appended entries into the list (block-uniform call). Only the first
// n = next power of two >= K + pending entries are sorted (the list [0, K) plus the appended ones,
// padded), not the whole buffer: most flushes after the threshold has settled are small.
__device__ inline void topk_flush(float* s, int32_t* id, int k, int K, int L, int pending, float fs, int32_t fi,
                           TopkShared* sh) {
  int n = 2;
  while (n < K + pending) n <<= 1;
  if (n > L) n = L;  // K + pending <= L always (callers keep pending <= L - K)
  for (int t = K + pending + threadIdx.x; t < n; t += blockDim.x) {
    s[t] = -CUDART_INF_F;
    id[t] = -1;
  }
  __syncthreads();
  topk_bitonic_sort(s, id, n);
  if (threadIdx.x == 0) {
    sh->count = 0;
    topk_set_threshold(s, id, k, fs, fi, sh);
  }
  __syncthreads();
}

// Merge candidates [0, n) into the shared list s/id[0, K) (best first; [K, L) is the append buffer).
// Candidate j is element e = j of row/ids, or with kSeg the j % seg-th entry of segment j / seg
// (e = (j / seg) * seg_stride + j % seg: the first k entries of each partial list). ids: explicit
// candidate ids (-1 = padding, skipped) or nullptr for base + e.
// A step reads V candidates per thread (coalesced: candidate c0 + u * blockDim + tid), V up to 8
// independent loads in flight (the scan is latency-bound with one), and no more than the free
// buffer can take if every one of them were a take. Takes are appended behind the list and
// sorted in (flush) once 256 (or K) are pending, which keeps the threshold tight, or when fewer
// than 4 (or cap / blockDim) candidates per thread would fit. While the list still holds padding
// (threshold = -inf padding) steps read one candidate per thread so the first flush stays small.
// Once the threshold has settled a step costs V reads and one barrier.
// Precondition: list loaded, sh->count == 0, threshold set, block synchronised.
template <bool kSeg>
__device__ inline void topk_scan(const float* __restrict__ row, const int32_t* __restrict__ ids, int64_t n,
                          int64_t base, const bool* __restrict__ mrow, float* s, int32_t* id, int k,
                          int K, float fs, int32_t fi, TopkShared* sh, TopkTune tune, int seg = 1,
                          int seg_stride = 1) {
  constexpr int kMaxV = 8;
  const int L = topk_list_len(K);
  const int cap = L - K;  // >= blockDim for every K (see topk_merge_cuda's thread count)
  const int bd = blockDim.x;
  const int min_free = (cap / bd < 4 ? cap / bd : 4) * bd;
  const int soft = K > tune.soft ? K : tune.soft;
  const int vmax = tune.vmax < kMaxV ? tune.vmax : kMaxV;
  int pending = 0;  // block-uniform copy of sh->count
  for (int64_t c0 = 0; c0 < n;) {
    const float ts = sh->thr_s;  // block-uniform: only flushes (behind barriers) change it
    const int32_t ti = sh->thr_i;
    int V = (cap - pending) / bd;
    V = (ti < 0 && ts == -CUDART_INF_F) ? 1 : (V < vmax ? V : vmax);
    float v[kMaxV];
    int32_t idx[kMaxV];
    bool ok[kMaxV];
#pragma unroll
    for (int u = 0; u < kMaxV; ++u) {
      ok[u] = false;
      idx[u] = -1;
      v[u] = 0.f;
      const int64_t j = c0 + (int64_t)u * bd + threadIdx.x;
      if (u < V && j < n) {
        const int64_t e = kSeg ? (j / seg) * seg_stride + j % seg : j;
        v[u] = row[e];
        idx[u] = ids ? ids[e] : static_cast<int32_t>(base + e);
        ok[u] = !(mrow && !mrow[e]);
      }
    }
    bool any = false;
#pragma unroll
    for (int u = 0; u < kMaxV; ++u) {
      // NaN never enters; masked and padding entries neither
      if (ok[u] && v[u] == v[u] && idx[u] >= 0 && topk_better(v[u], idx[u], ts, ti)) {
        const int pos = atomicAdd(&sh->count, 1);  // pending + V * blockDim <= cap
        s[K + pos] = v[u];
        id[K + pos] = idx[u];
        any = true;
      }
    }
    c0 += (int64_t)V * bd;
    if (__syncthreads_or(any)) {
      pending = sh->count;
      __syncthreads();  // everyone has read the count before the next step appends
      if (pending >= soft || cap - pending < min_free) {
        topk_flush(s, id, k, K, L, pending, fs, fi, sh);
        pending = 0;
      }
    }
  }
  if (pending > 0) topk_flush(s, id, k, K, L, pending, fs, fi, sh);
}
// Load list (src or padding when src is null), set the threshold from it and the floor.
__device__ inline void topk_begin(const float* src_s, const int32_t* src_i, float* s, int32_t* id, int k,
                           int K, float fs, int32_t fi, TopkShared* sh) {
  for (int t = threadIdx.x; t < K; t += blockDim.x) {
    s[t] = src_s ? src_s[t] : -CUDART_INF_F;
    id[t] = src_s ? src_i[t] : -1;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    sh->count = 0;
    topk_set_threshold(s, id, k, fs, fi, sh);
  }
  __syncthreads();
}

__device__ inline void topk_store(const float* s, const int32_t* id, float* dst_s, int32_t* dst_i, int K) {
  for (int t = threadIdx.x; t < K; t += blockDim.x) {
    dst_s[t] = s[t];
    dst_i[t] = id[t];
  }
}

}  // namespace radkit
