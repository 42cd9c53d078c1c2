// Work sharing over XLA:CPU's intra-op thread pool for the FFI kernels in this directory.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "xla/ffi/api/ffi.h"

namespace acecoder {

inline void Pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Runs fn(i) for every i in [0, n) on the calling thread and on up to num_threads() - 1 pool
// threads, each claiming the next index until none is left. The caller never waits for an index no
// thread has claimed (so it finishes alone when the pool is busy); it only spins on indices other
// threads are running. A helper that starts after the caller returned finds nothing to claim.
template <typename F>
void ParallelFor(xla::ffi::ThreadPool& pool, int64_t n, F fn) {
  struct Shared {
    explicit Shared(int64_t n, F fn) : n(n), fn(std::move(fn)) {}
    std::atomic<int64_t> next{0}, done{0};
    const int64_t n;
    F fn;
    void Work() {
      for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) {
        fn(i);
        done.fetch_add(1, std::memory_order_release);
      }
    }
  };
  auto shared = std::make_shared<Shared>(n, std::move(fn));
  const int64_t helpers = std::min<int64_t>(pool.num_threads(), n) - 1;
  for (int64_t t = 0; t < helpers; ++t) pool.Schedule([shared] { shared->Work(); });
  shared->Work();
  while (shared->done.load(std::memory_order_acquire) < n) Pause();
}

}  // namespace acecoder
