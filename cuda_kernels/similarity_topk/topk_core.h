// similarity_topk: ordering and heap helpers shared by the CPU loop and the CUDA kernel.
//
// Total order of candidates (best first): higher score first; equal scores -> lower
// database index first; padding (score -inf, index -1) ranks after every real entry,
// including real -inf scores. NaN scores never enter (filtered by the callers).
#pragma once
#include "../common.h"

namespace radkit {

RADKIT_HD int64_t topk_rank(int64_t idx) { return idx < 0 ? INT64_MAX : idx; }

// true when (s1, i1) ranks strictly before (s2, i2)
RADKIT_HD bool topk_better(float s1, int64_t i1, float s2, int64_t i2) {
  if (s1 != s2) return s1 > s2;
  return topk_rank(i1) < topk_rank(i2);
}

// Replace the root (the worst kept entry) of a size-k "worst on top" heap and sift down.
RADKIT_HD void topk_heap_replace_top(float* hs, int64_t* hi, int64_t k, float s, int64_t i) {
  int64_t p = 0;
  while (true) {
    const int64_t l = 2 * p + 1;
    if (l >= k) break;
    int64_t w = l;  // the worse child
    if (l + 1 < k && topk_better(hs[l], hi[l], hs[l + 1], hi[l + 1])) w = l + 1;
    if (!topk_better(s, i, hs[w], hi[w])) break;
    hs[p] = hs[w];
    hi[p] = hi[w];
    p = w;
  }
  hs[p] = s;
  hi[p] = i;
}

}  // namespace radkit
