// Torch binding of radkit's fused ops. The CPU build compiles this file with the *_cpu.cpp
// loops; the CUDA build adds -DRADKIT_WITH_CUDA and the *.cu launchers.
// Argument checks raise c10::Error (ValueError-like messages); radkit.ops validates first.
#include <torch/extension.h>
#include <limits>
#include <vector>
#include "ct_preprocess/ct_preprocess_core.h"
#include "similarity_topk/topk_core.h"

#ifdef RADKIT_WITH_CUDA
// c10's stream header needs only the CUDA runtime (ATen/cuda/CUDAContext.h pulls cuSPARSE)
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#endif

namespace radkit {
template <typename T>
void ct_preprocess_cpu(const T* in, int64_t batch, int64_t in_numel, const CtAxis* axes,
                       CtWindow win, float* out);
void topk_merge_cpu(const float* scores, int64_t Q, int64_t T, int64_t ld, int64_t base,
                    const bool* mask, int64_t mask_qstride, float* heap_s, int64_t* heap_i,
                    int64_t k);
void topk_finalize_cpu(const float* heap_s, const int64_t* heap_i, int64_t Q, int64_t k,
                       float* scores_out, int64_t* idx_out);
#ifdef RADKIT_WITH_CUDA
template <typename T>
cudaError_t ct_preprocess_cuda(const T* in, int64_t batch, int64_t in_numel,
                               const CtAxis* axes, CtWindow win, float* out, cudaStream_t stream);
cudaError_t topk_merge_cuda(const float* scores, int64_t Q, int64_t T, int64_t ld, int64_t base,
                            const bool* mask, int64_t mask_qstride, float* run_s,
                            int32_t* run_i, int k, int K, float* part_s, int32_t* part_i, int S,
                            cudaStream_t stream);
int topk_split_count(int64_t Q, int64_t T, int K);
#endif
}  // namespace radkit

using radkit::CtAxis;

// volume: (B, X, Y, Z) int16 (stored values) or float32 (HU), contiguous. axis_params: (3, 7) float64 rows
// [out_size, crop_off, res_size, scale, in_size, stride, flip], one per output axis.
// window: [slope, intercept, lo, hi]. Returns (B, *out_size) float32 in [0, 1].
torch::Tensor ct_preprocess(torch::Tensor volume, torch::Tensor axis_params, std::vector<double> window) {
  TORCH_CHECK(volume.dim() == 4, "volume must be (B, X, Y, Z), got ", volume.sizes());
  const bool is_f32 = volume.scalar_type() == torch::kFloat32;
  TORCH_CHECK(is_f32 || volume.scalar_type() == torch::kInt16, "volume must be int16 or float32, got ",
              volume.scalar_type());
  TORCH_CHECK(window.size() == 4, "window must be [slope, intercept, lo, hi]");
  TORCH_CHECK(window[3] > window[2], "window hi must exceed lo");
  auto p = axis_params.to(torch::kCPU, torch::kFloat64).contiguous();
  TORCH_CHECK(p.dim() == 2 && p.size(0) == 3 && p.size(1) == 7, "axis_params must be (3, 7)");
  volume = volume.contiguous();
  const double* pp = p.data_ptr<double>();
  CtAxis axes[3];
  for (int a = 0; a < 3; ++a) {
    const double* r = pp + a * 7;
    axes[a] = CtAxis{(int64_t)r[0], (int64_t)r[1], (int64_t)r[2], r[3], (int64_t)r[4], (int64_t)r[5], (int32_t)r[6]};
    TORCH_CHECK(axes[a].in_size >= 1 && axes[a].out_size >= 0, "bad axis_params row ", a);
  }
  radkit::CtWindow win{(float)window[0], (float)window[1], (float)window[2], (float)window[3],
                       (float)(1.0 / (window[3] - window[2]))};
  const int64_t B = volume.size(0);
  auto out = torch::empty({B, axes[0].out_size, axes[1].out_size, axes[2].out_size},
                          volume.options().dtype(torch::kFloat32));
  const int64_t in_numel = volume.size(1) * volume.size(2) * volume.size(3);
  if (volume.is_cuda()) {
#ifdef RADKIT_WITH_CUDA
    auto stream = c10::cuda::getCurrentCUDAStream().stream();
    auto err = is_f32 ? radkit::ct_preprocess_cuda(volume.data_ptr<float>(), B, in_numel, axes, win,
                                                   out.data_ptr<float>(), stream)
                      : radkit::ct_preprocess_cuda(volume.data_ptr<int16_t>(), B, in_numel, axes, win,
                                                   out.data_ptr<float>(), stream);
    TORCH_CHECK(err == cudaSuccess, "ct_preprocess CUDA launch failed: ", cudaGetErrorString(err));
#else
    TORCH_CHECK(false, "this radkit ops build has no CUDA support; use the cuda build");
#endif
  } else {
    if (is_f32) {
      radkit::ct_preprocess_cpu(volume.data_ptr<float>(), B, in_numel, axes, win, out.data_ptr<float>());
    } else {
      radkit::ct_preprocess_cpu(volume.data_ptr<int16_t>(), B, in_numel, axes, win, out.data_ptr<float>());
    }
  }
  return out;
}

static int64_t next_pow2(int64_t v) {
  int64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

// queries (Q, D), database (N, D) float32 or bfloat16; mask: empty, (N,) or (Q, N) bool.
// Returns (scores (Q, k) float32, indices (Q, k) int64), padding (-inf, -1).
std::vector<torch::Tensor> similarity_topk(torch::Tensor queries, torch::Tensor database, int64_t k,
                                           torch::Tensor mask, int64_t tile) {
  TORCH_CHECK(queries.dim() == 2 && database.dim() == 2 && queries.size(1) == database.size(1),
              "queries (Q, D) and database (N, D) must share D; got ", queries.sizes(), " and ", database.sizes());
  TORCH_CHECK(k >= 1, "k must be >= 1, got ", k);
  TORCH_CHECK(tile >= 1, "tile must be >= 1");
  const int64_t Q = queries.size(0), N = database.size(0);
  const bool has_mask = mask.defined() && mask.numel() > 0;
  int64_t mask_qstride = 0;
  if (has_mask) {
    TORCH_CHECK(mask.scalar_type() == torch::kBool, "mask must be bool");
    TORCH_CHECK((mask.dim() == 1 && mask.size(0) == N) || (mask.dim() == 2 && mask.size(0) == Q && mask.size(1) == N),
                "mask must be (N,) or (Q, N), got ", mask.sizes());
    mask = mask.contiguous();
    mask_qstride = mask.dim() == 2 ? N : 0;
  }
  const bool low_precision = queries.scalar_type() != torch::kFloat32;
  auto q = queries.contiguous();
  if (queries.is_cuda()) {
#ifdef RADKIT_WITH_CUDA
    TORCH_CHECK(k <= 4096, "k must be <= 4096 on CUDA, got ", k);
    TORCH_CHECK(N < (int64_t(1) << 31), "CUDA top-k keeps int32 indices: N must be < 2^31, got ", N);
    const int64_t K = std::max<int64_t>(next_pow2(k), 32);
    auto f32 = queries.options().dtype(torch::kFloat32);
    auto run_s = torch::full({Q, K}, -std::numeric_limits<float>::infinity(), f32);
    auto run_i = torch::full({Q, K}, -1, queries.options().dtype(torch::kInt32));
    auto stream = c10::cuda::getCurrentCUDAStream().stream();
    // few queries: each tile is split across several blocks per query (scratch for their lists)
    const int s_max = radkit::topk_split_count(Q, std::min(tile, N), (int)K);
    auto part_s = torch::empty({s_max > 1 ? Q * s_max * K : 0}, f32);
    auto part_i = torch::empty({s_max > 1 ? Q * s_max * K : 0}, queries.options().dtype(torch::kInt32));
    for (int64_t base = 0; base < N; base += tile) {
      const int64_t T = std::min(tile, N - base);
      auto dbt = database.narrow(0, base, T);
      // bf16 tiles: tensor-core GEMM with fp32 accumulation and fp32 output
      auto sc = low_precision ? at::mm(q, dbt.t(), at::kFloat) : at::mm(q, dbt.t());
      sc = sc.contiguous();
      auto err = radkit::topk_merge_cuda(sc.data_ptr<float>(), Q, T, T, base,
                                         has_mask ? mask.data_ptr<bool>() : nullptr, mask_qstride,
                                         run_s.data_ptr<float>(), run_i.data_ptr<int32_t>(),
                                         (int)k, (int)K, part_s.data_ptr<float>(), part_i.data_ptr<int32_t>(),
                                         std::min(s_max, radkit::topk_split_count(Q, T, (int)K)), stream);
      TORCH_CHECK(err == cudaSuccess, "similarity_topk CUDA merge failed: ", cudaGetErrorString(err));
    }
    return {run_s.narrow(1, 0, k).contiguous(), run_i.narrow(1, 0, k).to(torch::kInt64)};
#else
    TORCH_CHECK(false, "this radkit ops build has no CUDA support; use the cuda build");
#endif
  }
  if (low_precision) q = q.to(torch::kFloat32);
  auto heap_s = torch::full({Q, k}, -std::numeric_limits<float>::infinity(), torch::kFloat32);
  auto heap_i = torch::full({Q, k}, -1, torch::kInt64);
  // Reused buffers: fresh large allocations per tile cost more in page faults than the GEMM.
  const int64_t D = queries.size(1), tmax = std::min(tile, std::max<int64_t>(N, 1));
  auto score_buf = torch::empty({Q * tmax}, torch::kFloat32);
  auto tile_buf = low_precision ? torch::empty({tmax * D}, torch::kFloat32) : torch::Tensor();
  for (int64_t base = 0; base < N; base += tile) {
    const int64_t T = std::min(tile, N - base);
    auto dbt = database.narrow(0, base, T);
    if (low_precision) {  // exact upcast: fp32 accumulation
      auto t32 = tile_buf.narrow(0, 0, T * D).view({T, D});
      t32.copy_(dbt);
      dbt = t32;
    }
    auto sc = score_buf.narrow(0, 0, Q * T).view({Q, T});
    at::mm_out(sc, q, dbt.t());
    radkit::topk_merge_cpu(sc.data_ptr<float>(), Q, T, T, base, has_mask ? mask.data_ptr<bool>() : nullptr,
                           mask_qstride, heap_s.data_ptr<float>(), heap_i.data_ptr<int64_t>(), k);
  }
  auto out_s = torch::empty({Q, k}, torch::kFloat32);
  auto out_i = torch::empty({Q, k}, torch::kInt64);
  radkit::topk_finalize_cpu(heap_s.data_ptr<float>(), heap_i.data_ptr<int64_t>(), Q, k,
                            out_s.data_ptr<float>(), out_i.data_ptr<int64_t>());
  return {out_s, out_i};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("ct_preprocess", &ct_preprocess, "fused CT preprocessing (see radkit.ops.reference)");
  m.def("similarity_topk", &similarity_topk, "streamed exact inner-product top-k");
#ifdef RADKIT_WITH_CUDA
  m.attr("with_cuda") = true;
#else
  m.attr("with_cuda") = false;
#endif
}
