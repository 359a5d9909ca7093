// Shared by the host (C++/OpenMP) and device (CUDA) builds: only plain C++ here.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define RADKIT_HD __host__ __device__ __forceinline__
#else
#define RADKIT_HD inline
#endif
