// similarity_topk CUDA, few queries (Q <= RADKIT_TOPK_FUSED_Q): scores and top-k in one pass.
//
// Each block owns a contiguous slice of database rows and all Q queries. Per chunk of 128 rows,
// every warp scores 16 rows against all queries (bf16: tensor-core mma with fp32 accumulation;
// fp32: CUDA-core fmaf), writes the (Q, 128) scores to shared memory, then the block appends the
// ones beating each query's running k-th entry to that query's list (topk_scan.cuh's append
// buffer + bitonic flush). The database is read once and no (Q, N) score matrix exists. Each block
// writes its best k per query; a second kernel merges the S lists of each query into the output.
//
// bf16 mma, operand k-order: a dot product does not depend on which k slot of the mma a (row, d)
// pair occupies, as long as the database row and the query put the same d in the same slot. So each
// lane loads 8 consecutive bf16 of a row (one 16-byte load) and feeds them to two m16n8k16 mmas; the
// query fragments are staged in shared memory in the matching order. PTX fragment layout (lane l,
// g = l / 4, t = l % 4): A regs {row g, row g+8} x {k pair t, k pair t+4}; B regs k pairs {t, t+4}
// of column g; C regs rows {g, g+8} x columns {2t, 2t+1}.
#include <cuda_runtime.h>
#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>
#include "topk_scan.cuh"

namespace radkit {

constexpr int kFusedThreads = 256;                     // 8 warps
constexpr int kFusedRows = (kFusedThreads / 32) * 16;  // rows per chunk: 16 per warp
constexpr int kFusedMaxK = 256;                        // per-query lists must fit in shared memory

struct FusedArgs {
  const void* q;       // (Q, D) contiguous, same dtype as db
  const void* db;      // (N, D) contiguous, 16-byte aligned rows
  int Q, D, N;         // N < 2^31 (32-bit row math)
  const bool* mask;    // nullptr, (N,) (mask_qstride 0) or (Q, N)
  int64_t mask_qstride;
  int k, K, Lq;        // results, list length kept (pow2 >= k), list + buffer length per query
  int rows_per_block;  // multiple of kFusedRows
  float* part_s;       // (Q, S, k) per-block lists, best first
  int32_t* part_i;
  TopkTune tune;
};

// (s1, i1) ranks before (s2, i2); indices are int32 and padding is -1, which as unsigned is larger
// than every real index (< 2^31): the same order as topk_better with one compare fewer.
__device__ __forceinline__ bool topk_better32(float s1, int32_t i1, float s2, int32_t i2) {
  if (s1 != s2) return s1 > s2;
  return static_cast<uint32_t>(i1) < static_cast<uint32_t>(i2);
}

__device__ __forceinline__ void mma_bf16_16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                               uint32_t a3, uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#else
  __trap();  // the host launches the bf16 kernel only on sm_80 and newer
#endif
}

// bf16: queries as mma B fragments, entry (c * NT + nt) * 32 + lane = query nt * 8 + lane / 4,
// elements [32c + 8 (lane % 4), +8) (zeros past Q or D).
template <int NT>
__device__ void fused_stage_bf16(const FusedArgs& a, uint4* qf) {
  const uint16_t* q = static_cast<const uint16_t*>(a.q);
  const int Dc = (a.D + 31) / 32;
  for (int e = threadIdx.x; e < Dc * NT * 32; e += blockDim.x) {
    const int lane = e & 31, nt = (e >> 5) % NT, c = (e >> 5) / NT;
    const int qq = nt * 8 + (lane >> 2), d = c * 32 + (lane & 3) * 8;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (qq < a.Q && d < a.D) v = *reinterpret_cast<const uint4*>(q + static_cast<size_t>(qq) * a.D + d);
    qf[e] = v;
  }
}

// bf16: warp w scores rows [r0, r0 + 16) against all queries into sc[q * kFusedRows + row - chunk].
template <int NT>
__device__ void fused_score_bf16(const FusedArgs& a, const uint4* qf, int32_t r0, int32_t row_end,
                                 float* sc, int rloc) {
  const uint16_t* db = static_cast<const uint16_t*>(a.db);
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int Dc = (a.D + 31) / 32;
  const int32_t ra = r0 + g, rb = r0 + g + 8;
  const bool va = ra < row_end, vb = rb < row_end;
  const uint16_t* pa = db + static_cast<size_t>(va ? ra : 0) * a.D + t * 8;
  const uint16_t* pb = db + static_cast<size_t>(vb ? rb : 0) * a.D + t * 8;
  float acc[NT][4];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;
  constexpr int kU = 4;  // chunks of 32 d whose loads are issued before the mmas use them
  for (int c0 = 0; c0 < Dc; c0 += kU) {
    uint4 xa[kU], xb[kU];
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      const int d = (c0 + u) * 32 + t * 8;  // D % 8 == 0: the 8 elements are all in or all out
      xa[u] = make_uint4(0, 0, 0, 0);
      xb[u] = make_uint4(0, 0, 0, 0);
      if (va && d < a.D) xa[u] = __ldg(reinterpret_cast<const uint4*>(pa + (c0 + u) * 32));
      if (vb && d < a.D) xb[u] = __ldg(reinterpret_cast<const uint4*>(pb + (c0 + u) * 32));
    }
#pragma unroll
    for (int u = 0; u < kU; ++u) {
      if (c0 + u < Dc) {  // warp-uniform: every lane takes part in each mma
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          const uint4 qb = qf[((c0 + u) * NT + nt) * 32 + lane];
          mma_bf16_16816(acc[nt], xa[u].x, xb[u].x, xa[u].y, xb[u].y, qb.x, qb.y);
          mma_bf16_16816(acc[nt], xa[u].z, xb[u].z, xa[u].w, xb[u].w, qb.z, qb.w);
        }
      }
    }
  }
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int qq = nt * 8 + 2 * t + (j & 1);
      if (qq < a.Q) sc[qq * kFusedRows + rloc + g + (j >= 2 ? 8 : 0)] = acc[nt][j];
    }
  }
}

// fp32: queries (QN, Dp) in shared memory, Dp = D rounded up to 128, zero padded.
template <int QN>
__device__ void fused_stage_f32(const FusedArgs& a, float* qs) {
  const float* q = static_cast<const float*>(a.q);
  const int Dp = (a.D + 127) / 128 * 128;
  for (int e = threadIdx.x; e < QN * Dp; e += blockDim.x) {
    const int qq = e / Dp, d = e - qq * Dp;
    qs[e] = (qq < a.Q && d < a.D) ? q[static_cast<size_t>(qq) * a.D + d] : 0.f;
  }
}

// fp32: warp scores rows [r0, r0 + 16) two at a time; lanes split D (float4), then a butterfly sum.
template <int QN>
__device__ void fused_score_f32(const FusedArgs& a, const float* qs, int32_t r0, int32_t row_end,
                                float* sc, int rloc) {
  const float* db = static_cast<const float*>(a.db);
  const int lane = threadIdx.x & 31, Dp = (a.D + 127) / 128 * 128;
  for (int p = 0; p < 16; p += 2) {
    const int32_t ra = r0 + p, rb = ra + 1;
    const bool va = ra < row_end, vb = rb < row_end;
    const float* pa = db + static_cast<size_t>(va ? ra : 0) * a.D;
    const float* pb = db + static_cast<size_t>(vb ? rb : 0) * a.D;
    float s0[QN], s1[QN];
#pragma unroll
    for (int qq = 0; qq < QN; ++qq) s0[qq] = s1[qq] = 0.f;
#pragma unroll 4
    for (int d = lane * 4; d < a.D; d += 128) {  // D % 4 == 0
      const float4 x = va ? __ldg(reinterpret_cast<const float4*>(pa + d)) : make_float4(0.f, 0.f, 0.f, 0.f);
      const float4 y = vb ? __ldg(reinterpret_cast<const float4*>(pb + d)) : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
      for (int qq = 0; qq < QN; ++qq) {
        const float4 w = *reinterpret_cast<const float4*>(qs + qq * Dp + d);
        s0[qq] = fmaf(x.w, w.w, fmaf(x.z, w.z, fmaf(x.y, w.y, fmaf(x.x, w.x, s0[qq]))));
        s1[qq] = fmaf(y.w, w.w, fmaf(y.z, w.z, fmaf(y.y, w.y, fmaf(y.x, w.x, s1[qq]))));
      }
    }
#pragma unroll
    for (int qq = 0; qq < QN; ++qq) {
#pragma unroll
      for (int off = 16; off > 0; off >>= 1) {
        s0[qq] += __shfl_xor_sync(0xffffffffu, s0[qq], off);
        s1[qq] += __shfl_xor_sync(0xffffffffu, s1[qq], off);
      }
    }
    if (lane == 0) {
#pragma unroll
      for (int qq = 0; qq < QN; ++qq) {
        if (qq < a.Q) {
          sc[qq * kFusedRows + rloc + p] = s0[qq];
          sc[qq * kFusedRows + rloc + p + 1] = s1[qq];
        }
      }
    }
  }
}

// Block b: best k of rows [b * rows_per_block, +rows_per_block) for every query -> part (q, b).
template <bool kBf16, int QN>
__global__ void __launch_bounds__(kFusedThreads) topk_fused_kernel(FusedArgs a) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ TopkShared sh[16];
  const int Q = a.Q, Lq = a.Lq, K = a.K, k = a.k, R = kFusedRows;
  float* ls = reinterpret_cast<float*>(smem_raw);
  int32_t* li = reinterpret_cast<int32_t*>(ls + Q * Lq);
  float* sc = reinterpret_cast<float*>(li + Q * Lq);
  void* qbuf = sc + Q * R;
  if constexpr (kBf16) {
    fused_stage_bf16<QN / 8>(a, static_cast<uint4*>(qbuf));
  } else {
    fused_stage_f32<QN>(a, static_cast<float*>(qbuf));
  }
  for (int e = threadIdx.x; e < Q * Lq; e += blockDim.x) {
    ls[e] = -CUDART_INF_F;
    li[e] = -1;
  }
  if (threadIdx.x < Q) sh[threadIdx.x] = TopkShared{0, -CUDART_INF_F, -1};
  __syncthreads();
  const int64_t start64 = static_cast<int64_t>(blockIdx.x) * a.rows_per_block;
  // N <= 2^31 - 4096 (host check): c0 + R below never overflows int32
  const int32_t start = static_cast<int32_t>(start64 < a.N ? start64 : a.N);
  const int32_t end = static_cast<int32_t>(start64 + a.rows_per_block < a.N ? start64 + a.rows_per_block : a.N);
  const int cap = Lq - K;  // >= R (Lq = next pow2 >= K + R)
  const int rloc = (threadIdx.x >> 5) * 16;
  for (int32_t c0 = start; c0 < end; c0 += R) {
    if constexpr (kBf16) {
      fused_score_bf16<QN / 8>(a, static_cast<const uint4*>(qbuf), c0 + rloc, end, sc, rloc);
    } else {
      fused_score_f32<QN>(a, static_cast<const float*>(qbuf), c0 + rloc, end, sc, rloc);
    }
    __syncthreads();
    const int nrow = end - c0 < R ? end - c0 : R;
    for (int e = threadIdx.x; e < Q * R; e += blockDim.x) {
      const int qq = e / R, r = e - qq * R;  // R is a power of two: shifts
      if (r >= nrow) continue;
      const float v = sc[e];
      const int32_t row = c0 + r;
      if (v != v) continue;  // NaN never enters
      if (a.mask != nullptr && !a.mask[qq * a.mask_qstride + row]) continue;
      if (topk_better32(v, row, sh[qq].thr_s, sh[qq].thr_i)) {
        const int pos = atomicAdd(&sh[qq].count, 1);  // pending <= cap - R before the chunk
        ls[qq * Lq + K + pos] = v;
        li[qq * Lq + K + pos] = row;
      }
    }
    __syncthreads();
    for (int qq = 0; qq < Q; ++qq) {  // block-uniform: every thread reads the same counts
      const int pending = sh[qq].count;
      if (pending > cap - R || pending >= a.tune.soft) {
        topk_flush(ls + qq * Lq, li + qq * Lq, k, K, Lq, pending, -CUDART_INF_F, -1, &sh[qq]);
      }
    }
  }
  for (int qq = 0; qq < Q; ++qq) {
    const int pending = sh[qq].count;
    if (pending > 0) topk_flush(ls + qq * Lq, li + qq * Lq, k, K, Lq, pending, -CUDART_INF_F, -1, &sh[qq]);
  }
  const int64_t S = gridDim.x;
  for (int e = threadIdx.x; e < Q * k; e += blockDim.x) {
    const int qq = e / k, t = e - qq * k;
    a.part_s[(qq * S + blockIdx.x) * k + t] = ls[qq * Lq + t];
    a.part_i[(qq * S + blockIdx.x) * k + t] = li[qq * Lq + t];
  }
}

// One block per query: merge the S sorted lists (k entries each) into the output (Q, k).
// The list starts as block 0's list (already sorted, so the threshold is tight from the start);
// the other S - 1 lists are scanned as one flat candidate array.
__global__ void topk_fused_combine_kernel(const float* __restrict__ part_s, const int32_t* __restrict__ part_i,
                                          int S, int k, int K, float* out_s, int64_t* out_i, TopkTune tune) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  float* s = reinterpret_cast<float*>(smem_raw);
  int32_t* id = reinterpret_cast<int32_t*>(s + topk_list_len(K));
  __shared__ TopkShared sh;
  const int64_t q = blockIdx.x;
  const float* ps = part_s + q * S * k;
  const int32_t* pi = part_i + q * S * k;
  for (int t = threadIdx.x; t < K; t += blockDim.x) {
    s[t] = t < k ? ps[t] : -CUDART_INF_F;
    id[t] = t < k ? pi[t] : -1;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    sh.count = 0;
    topk_set_threshold(s, id, k, -CUDART_INF_F, -1, &sh);
  }
  __syncthreads();
  topk_scan<false>(ps + k, pi + k, static_cast<int64_t>(S - 1) * k, 0, nullptr, s, id, k, K, -CUDART_INF_F, -1,
                   &sh, tune);
  for (int t = threadIdx.x; t < k; t += blockDim.x) {
    out_s[q * k + t] = s[t];
    out_i[q * k + t] = id[t];
  }
}

namespace {

using FusedKernel = void (*)(FusedArgs);

FusedKernel fused_kernel(bool bf16, int Q) {
  if (bf16) return Q <= 8 ? &topk_fused_kernel<true, 8> : &topk_fused_kernel<true, 16>;
  if (Q <= 1) return &topk_fused_kernel<false, 1>;
  if (Q <= 2) return &topk_fused_kernel<false, 2>;
  if (Q <= 4) return &topk_fused_kernel<false, 4>;
  if (Q <= 8) return &topk_fused_kernel<false, 8>;
  return &topk_fused_kernel<false, 16>;
}

int fused_list_len(int K) {
  int L = 1;
  while (L < K + kFusedRows) L <<= 1;
  return L;
}

size_t fused_smem(bool bf16, int Q, int D, int K) {
  const size_t lists = static_cast<size_t>(Q) * (fused_list_len(K) * 8 + kFusedRows * 4);
  const int qn = bf16 ? (Q <= 8 ? 8 : 16) : (Q <= 1 ? 1 : Q <= 2 ? 2 : Q <= 4 ? 4 : Q <= 8 ? 8 : 16);
  const size_t qbuf = bf16 ? static_cast<size_t>((D + 31) / 32) * (qn / 8) * 32 * 16
                           : static_cast<size_t>(qn) * ((D + 127) / 128 * 128) * 4;
  return lists + qbuf;
}

// Resident blocks per SM of (kernel, smem, device), with the dynamic shared memory limit raised once.
int fused_occupancy(FusedKernel kern, size_t smem, int dev) {
  static std::mutex mu;
  static std::map<std::tuple<FusedKernel, size_t, int>, int> cache;
  std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_tuple(kern, smem, dev);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  int nb = 0;
  if (cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)) != cudaSuccess ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&nb, kern, kFusedThreads, smem) != cudaSuccess) {
    cudaGetLastError();  // clear: the caller falls back to the tiled path
    nb = 0;
  }
  cache.emplace(key, nb);
  return nb;
}

}  // namespace

// Blocks for the fused path, or 0 when it does not apply (then the tiled GEMM + merge path runs):
// Q above RADKIT_TOPK_FUSED_Q (default 16, at most 16; 0 turns the path off), k > 256, N = 0,
// D not a multiple of 8 (bf16) / 4 (fp32), misaligned pointers, bf16 below sm_80, or lists too large
// for shared memory. RADKIT_TOPK_FUSED_BPS: blocks per SM (default 0 = as many as fit).
int topk_fused_blocks(int64_t Q, int64_t N, int64_t D, int k, bool bf16, bool aligned16) {
  const int max_q = env_int("RADKIT_TOPK_FUSED_Q", 16, 0, 16);
  if (Q < 1 || Q > max_q || N < 1 || N > (int64_t(1) << 31) - 4096 || k < 1 || k > kFusedMaxK || !aligned16) return 0;
  if (D < 1 || D % (bf16 ? 8 : 4) != 0 || D > (1 << 20)) return 0;
  int dev = 0, sms = 0, major = 0, optin = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  if (bf16 && major < 8) return 0;
  int K = 32;
  while (K < k) K <<= 1;
  const size_t smem = fused_smem(bf16, static_cast<int>(Q), static_cast<int>(D), K);
  if (smem > static_cast<size_t>(optin)) return 0;
  const int nb = fused_occupancy(fused_kernel(bf16, static_cast<int>(Q)), smem, dev);
  if (nb < 1) return 0;
  const int bps = env_int("RADKIT_TOPK_FUSED_BPS", 0, 0, 32);
  const int64_t chunks = (N + kFusedRows - 1) / kFusedRows;
  const int64_t S = std::min<int64_t>(chunks, static_cast<int64_t>(bps > 0 ? bps : nb) * sms);
  return static_cast<int>(std::max<int64_t>(S, 1));
}

// S from topk_fused_blocks (> 0); K = max(32, next pow2 >= k); scratch: 2 * Q * S * k int32.
// Writes out_s (Q, k) float32 and out_i (Q, k) int64, padding (-inf, -1).
cudaError_t topk_fused_cuda(const void* q, const void* db, bool bf16, int Q, int64_t N, int D, const bool* mask,
                            int64_t mask_qstride, int k, int K, int S, int32_t* scratch, float* out_s,
                            int64_t* out_i, cudaStream_t stream) {
  const TopkTune tune{env_int("RADKIT_TOPK_SOFT", 256, 1, 1 << 20), env_int("RADKIT_TOPK_VMAX", 8, 1, 8)};
  const int64_t chunks = (N + kFusedRows - 1) / kFusedRows;
  FusedArgs a{q, db, Q, D, static_cast<int>(N), mask, mask_qstride, k, K, fused_list_len(K),
              static_cast<int>((chunks + S - 1) / S * kFusedRows),
              reinterpret_cast<float*>(scratch), scratch + static_cast<int64_t>(Q) * S * k, tune};
  const size_t smem = fused_smem(bf16, Q, D, K);
  fused_kernel(bf16, Q)<<<S, kFusedThreads, smem, stream>>>(a);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  const size_t csmem = static_cast<size_t>(topk_list_len(K)) * (sizeof(float) + sizeof(int32_t));
  topk_fused_combine_kernel<<<Q, 256, csmem, stream>>>(a.part_s, a.part_i, S, k, K, out_s, out_i, tune);
  return cudaGetLastError();
}

}  // namespace radkit
