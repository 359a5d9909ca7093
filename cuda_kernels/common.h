// Shared by the host (C++/OpenMP) and device (CUDA) builds: only plain C++ here.
#pragma once
#include <cstdint>
#include <cstdlib>

#if defined(__CUDACC__)
#define RADKIT_HD __host__ __device__ __forceinline__
#else
#define RADKIT_HD inline
#endif

namespace radkit {

// Host only: integer launch knob from the environment (RADKIT_*), clamped to [lo, hi]; dflt when unset.
inline int env_int(const char* name, int dflt, int lo, int hi) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == 0) return dflt;
  const int x = std::atoi(v);
  return x < lo ? lo : (x > hi ? hi : x);
}

}  // namespace radkit
