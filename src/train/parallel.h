// Runs independent tasks on an optional thread pool, so every op gives the same bits whatever the thread count.
#pragma once

#include <cstddef>

#include "core/thread_pool.h"

namespace quantlm::train {

// Calls fn(i) once for every i in [0, n). Each task must write only its own
// outputs and read nothing another task writes: then no sum depends on which
// thread ran what, and results are bit-identical for 1, 2 or 16 threads.
// pool == nullptr (or a one-thread pool) runs the tasks in order on the caller.
template <typename Fn>
void for_each_task(ThreadPool* pool, std::size_t n, const Fn& fn) {
  if (pool == nullptr || pool->size() <= 1 || n <= 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  pool->parallel_for(n, [&fn](std::size_t i, std::size_t /*thread*/) { fn(i); });
}

}  // namespace quantlm::train
