// similarity_topk CUDA merge of one score tile into the running best-first lists (K = next power
// of two >= k entries per query, in global memory).
//
// Scan (one block, one candidate row): candidates beating the current threshold are appended to
// a shared buffer behind the kept list; when the buffer could overflow, list + buffer are
// bitonic-sorted best-first and the threshold tightens to the new k-th entry.
// Many queries: one block per query scans the whole tile. Few queries (Q = 1 search): one block per
// query would leave most SMs idle, so the tile is split across S blocks per query, each keeping
// its own best K of its slice (pruned by the running k-th entry, which can only improve), then one
// block per query merges the S partial lists into the running list.
#include <cuda_runtime.h>
#include "topk_scan.cuh"

namespace radkit {

// One block per query: the whole tile into the running list.
__global__ void topk_merge_kernel(const float* __restrict__ scores, int64_t T, int64_t ld,
                                  int64_t base, const bool* __restrict__ mask,
                                  int64_t mask_qstride, float* run_s, int32_t* run_i,
                                  int k, int K, TopkTune tune) {
  extern __shared__ unsigned char smem_raw[];
  float* s = reinterpret_cast<float*>(smem_raw);
  int32_t* id = reinterpret_cast<int32_t*>(s + topk_list_len(K));
  __shared__ TopkShared sh;
  const int64_t q = blockIdx.x;
  const bool* mrow = mask ? mask + q * mask_qstride + base : nullptr;
  topk_begin(run_s + q * K, run_i + q * K, s, id, k, K, -CUDART_INF_F, -1, &sh);
  topk_scan<false>(scores + q * ld, nullptr, T, base, mrow, s, id, k, K, -CUDART_INF_F, -1, &sh, tune);
  topk_store(s, id, run_s + q * K, run_i + q * K, K);
}

// Block (b, q): best K of slice b of query q's tile row, pruned by the running k-th entry.
__global__ void topk_partial_kernel(const float* __restrict__ scores, int64_t T, int64_t ld,
                                    int64_t base, const bool* __restrict__ mask,
                                    int64_t mask_qstride, const float* run_s, const int32_t* run_i,
                                    int k, int K, int64_t chunk, float* part_s, int32_t* part_i,
                                    TopkTune tune) {
  extern __shared__ unsigned char smem_raw[];
  float* s = reinterpret_cast<float*>(smem_raw);
  int32_t* id = reinterpret_cast<int32_t*>(s + topk_list_len(K));
  __shared__ TopkShared sh;
  const int64_t q = blockIdx.y, b = blockIdx.x, S = gridDim.x;
  const int64_t j0 = b * chunk;
  const int64_t n = (j0 < T) ? ((T - j0 < chunk) ? T - j0 : chunk) : 0;
  const float fs = run_s[q * K + k - 1];
  const int32_t fi = run_i[q * K + k - 1];
  const bool* mrow = mask ? mask + q * mask_qstride + base + j0 : nullptr;
  topk_begin(nullptr, nullptr, s, id, k, K, fs, fi, &sh);
  topk_scan<false>(scores + q * ld + j0, nullptr, n, base + j0, mrow, s, id, k, K, fs, fi, &sh, tune);
  topk_store(s, id, part_s + (q * S + b) * K, part_i + (q * S + b) * K, K);
}

// One block per query: the S partial lists (S * K entries with ids) into the running list.
__global__ void topk_combine_kernel(const float* __restrict__ part_s, const int32_t* __restrict__ part_i,
                                    int S, float* run_s, int32_t* run_i, int k, int K, TopkTune tune) {
  extern __shared__ unsigned char smem_raw[];
  float* s = reinterpret_cast<float*>(smem_raw);
  int32_t* id = reinterpret_cast<int32_t*>(s + topk_list_len(K));
  __shared__ TopkShared sh;
  const int64_t q = blockIdx.x, stride = static_cast<int64_t>(S) * K;
  topk_begin(run_s + q * K, run_i + q * K, s, id, k, K, -CUDART_INF_F, -1, &sh);
  // only the first k of each partial list can reach the top k
  topk_scan<true>(part_s + q * stride, part_i + q * stride, static_cast<int64_t>(S) * k, 0, nullptr, s, id,
                  k, K, -CUDART_INF_F, -1, &sh, tune, k, K);
  topk_store(s, id, run_s + q * K, run_i + q * K, K);
}

// Blocks per query for a tile of T scores: enough blocks to fill every SM about four times
// (RADKIT_TOPK_SPLIT overrides the 4), each slice at least max(4K, 2048) scores long (so the
// combine step stays small), at most 256.
int topk_split_count(int64_t Q, int64_t T, int K) {
  int dev = 0, sms = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || sms < 1) {
    sms = 1;
  }
  const int64_t waves = env_int("RADKIT_TOPK_SPLIT", 4, 1, 64);
  int64_t s = (waves * static_cast<int64_t>(sms) + Q - 1) / (Q > 0 ? Q : 1);
  const int64_t by_size = T / (K >= 512 ? 4 * static_cast<int64_t>(K) : 2048);
  if (s > by_size) s = by_size;
  if (s > 256) s = 256;
  return s < 1 ? 1 : static_cast<int>(s);
}

// run_s/run_i: (Q, K) best-first, initialised to padding (-inf, -1) by the caller.
// part_s/part_i: scratch of at least Q * S * K entries when S > 1 (S from topk_split_count).
cudaError_t topk_merge_cuda(const float* scores, int64_t Q, int64_t T, int64_t ld, int64_t base,
                            const bool* mask, int64_t mask_qstride, float* run_s,
                            int32_t* run_i, int k, int K, float* part_s, int32_t* part_i, int S,
                            cudaStream_t stream) {
  if (Q == 0 || T == 0) return cudaSuccess;
  const size_t smem = static_cast<size_t>(topk_list_len(K)) * (sizeof(float) + sizeof(int32_t));
  const int threads = K >= 1024 ? 1024 : (K < 256 ? 256 : K);
  const TopkTune tune{env_int("RADKIT_TOPK_SOFT", 256, 1, 1 << 20), env_int("RADKIT_TOPK_VMAX", 8, 1, 8)};
  cudaError_t err;
  if (S <= 1) {
    err = cudaFuncSetAttribute(topk_merge_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (err != cudaSuccess) return err;
    topk_merge_kernel<<<(unsigned)Q, threads, smem, stream>>>(scores, T, ld, base, mask, mask_qstride,
                                                              run_s, run_i, k, K, tune);
    return cudaGetLastError();
  }
  err = cudaFuncSetAttribute(topk_partial_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return err;
  err = cudaFuncSetAttribute(topk_combine_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return err;
  const int64_t chunk = (T + S - 1) / S;
  topk_partial_kernel<<<dim3((unsigned)S, (unsigned)Q), threads, smem, stream>>>(
      scores, T, ld, base, mask, mask_qstride, run_s, run_i, k, K, chunk, part_s, part_i, tune);
  err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  topk_combine_kernel<<<(unsigned)Q, threads, smem, stream>>>(part_s, part_i, S, run_s, run_i, k, K, tune);
  return cudaGetLastError();
}

}  // namespace radkit
