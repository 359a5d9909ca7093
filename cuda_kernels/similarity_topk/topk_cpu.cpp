// similarity_topk CPU loops: merge one score tile into running per-query heaps, then
// sort the heaps. Scores come from a BLAS tile product in the binding. No torch headers.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>
#include "topk_core.h"

namespace radkit {

// scores: (Q, T) row stride `ld`; mask: nullable, element (q, base + j) at
// mask[q * mask_qstride + base + j]; heaps: (Q, k) each, initialised to padding.
void topk_merge_cpu(const float* scores, int64_t Q, int64_t T, int64_t ld, int64_t base,
                    const bool* mask, int64_t mask_qstride, float* heap_s, int64_t* heap_i,
                    int64_t k) {
#pragma omp parallel for schedule(static) if (Q > 1)
  for (int64_t q = 0; q < Q; ++q) {
    const float* row = scores + q * ld;
    const bool* mrow = mask ? mask + q * mask_qstride + base : nullptr;
    float* hs = heap_s + q * k;
    int64_t* hi = heap_i + q * k;
    for (int64_t j = 0; j < T; ++j) {
      const float s = row[j];
      // cheap reject first: most scores lose against the current worst kept entry
      if (!(s >= hs[0])) continue;  // also drops NaN
      if (mrow && !mrow[j]) continue;
      const int64_t idx = base + j;
      if (topk_better(s, idx, hs[0], hi[0])) topk_heap_replace_top(hs, hi, k, s, idx);
    }
  }
}

// Sort each heap best-first into (scores_out, idx_out), both (Q, k).
void topk_finalize_cpu(const float* heap_s, const int64_t* heap_i, int64_t Q, int64_t k,
                       float* scores_out, int64_t* idx_out) {
#pragma omp parallel for schedule(static) if (Q > 1)
  for (int64_t q = 0; q < Q; ++q) {
    const float* hs = heap_s + q * k;
    const int64_t* hi = heap_i + q * k;
    std::vector<int64_t> order(k);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return topk_better(hs[a], hi[a], hs[b], hi[b]);
    });
    for (int64_t j = 0; j < k; ++j) {
      scores_out[q * k + j] = hs[order[j]];
      idx_out[q * k + j] = hi[order[j]];
    }
  }
}

}  // namespace radkit
