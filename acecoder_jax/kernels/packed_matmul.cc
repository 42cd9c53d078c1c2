// y[M, N] = x[M, K] @ W[K, N] in float32, with W packed as panels [ceil(N / kTile), K, kTile].
//
// Decoding multiplies a handful of rows by every weight matrix: ~4 FLOP per weight byte, too few
// for a GEMM kernel's blocking to pay off and too many for a plain streaming loop. Here each panel
// is one contiguous stream, read once from memory and kept in L2 while every row block of x is
// multiplied against it in registers (kRows x kTile accumulators). Panels are split over XLA's
// intra-op thread pool. Compiled on the host that runs it (-march=native), so the vector width
// follows the machine: GCC/Clang vector extensions lower to AVX-512, AVX2 or NEON.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "parallel_for.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr int64_t kTile = 48;  // output columns per panel; the layout contract with Python
#if defined(__AVX512F__)
constexpr int kLanes = 16, kRows = 8;  // 8 x 3 zmm accumulators of 32 registers
#elif defined(__AVX__)
constexpr int kLanes = 8, kRows = 2;  // 2 x 6 ymm of 16
#else
constexpr int kLanes = 4, kRows = 2;  // 2 x 12 of 32 (NEON) or spills (SSE)
#endif
constexpr int kVecs = kTile / kLanes;
// Panel rows prefetched ahead, non-temporally (read once per step, no use keeping them in the inner
// caches): 64 rows (12 KiB) ahead measured best on the 2-core EPYC VM, 66 vs 63 GB/s at batch 8
// for 32 rows with temporal prefetches, when its memory streams fastest.
constexpr int kAhead = 64;
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float)), aligned(sizeof(float))));

// R rows of x against one panel; `cols` < kTile only in the last panel (its padding is not stored).
template <int R>
void PanelRows(const float* x, int64_t k, const float* panel, float* y, int64_t n, int64_t cols) {
  Vec acc[R][kVecs];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < kVecs; ++v) acc[r][v] = Vec{};
  for (int64_t i = 0; i < k; ++i, panel += kTile) {
    for (int line = 0; line < kTile * 4 / 64; ++line) __builtin_prefetch(panel + kAhead * kTile + line * 16, 0, 0);
    Vec w[kVecs];
    for (int v = 0; v < kVecs; ++v) w[v] = *reinterpret_cast<const Vec*>(panel + v * kLanes);
    for (int r = 0; r < R; ++r) {
      const float xr = x[r * k + i];
      for (int v = 0; v < kVecs; ++v) acc[r][v] += xr * w[v];
    }
  }
  for (int r = 0; r < R; ++r) {
    float out[kTile];
    for (int v = 0; v < kVecs; ++v) *reinterpret_cast<Vec*>(out + v * kLanes) = acc[r][v];
    std::memcpy(y + r * n, out, cols * sizeof(float));
  }
}

// The last m % kRows rows, with a kernel instantiated for exactly that many.
template <int R>
void TailRows(int rows, const float* x, int64_t k, const float* panel, float* y, int64_t n, int64_t cols) {
  if constexpr (R > 0) {
    if (rows == R) return PanelRows<R>(x, k, panel, y, n, cols);
    TailRows<R - 1>(rows, x, k, panel, y, n, cols);
  }
}

void Panels(const float* x, const float* w, float* y, int64_t m, int64_t k, int64_t n, int64_t first,
            int64_t last) {
  for (int64_t p = first; p < last; ++p) {
    const float* panel = w + p * k * kTile;
    const int64_t col = p * kTile, cols = std::min(kTile, n - col);
    int64_t r = 0;
    for (; r + kRows <= m; r += kRows) PanelRows<kRows>(x + r * k, k, panel, y + r * n + col, n, cols);
    if (r < m) TailRows<kRows - 1>(static_cast<int>(m - r), x + r * k, k, panel, y + r * n + col, n, cols);
  }
}

ffi::Error PackedMatmul(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> w,
                        ffi::ResultBuffer<ffi::F32> y, int64_t n) {
  const auto xd = x.dimensions(), wd = w.dimensions();
  if (xd.size() != 2 || wd.size() != 3 || wd[2] != kTile || wd[1] != xd[1] || wd[0] != (n + kTile - 1) / kTile)
    return ffi::Error::InvalidArgument("packed_matmul: x must be [M, K] and w [ceil(n / 48), K, 48]");
  const float* xp = x.typed_data();
  const float* wp = w.typed_data();
  float* yp = y->typed_data();
  const int64_t m = xd[0], k = xd[1], panels = wd[0];
  const int64_t chunks = std::min<int64_t>(panels, std::max<int64_t>(1, pool.num_threads()) * 4);  // for balance
  acecoder::ParallelFor(pool, chunks, [=](int64_t c) {
    Panels(xp, wp, yp, m, k, n, c * panels / chunks, (c + 1) * panels / chunks);
  });
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(AcecoderPackedMatmulF32, PackedMatmul,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("n"));
