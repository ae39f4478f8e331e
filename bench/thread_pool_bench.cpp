// Fork/join cost of an empty ThreadPool::parallel_for, beside a plain function call as the floor.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <thread>

#include "core/thread_pool.h"

namespace quantlm {
namespace {

// What each task does: nothing the compiler can remove.
[[gnu::noinline]] void empty_task(std::size_t task, std::size_t thread) { benchmark::DoNotOptimize(task + thread); }

// The baseline: one direct call of the task.
void BM_PlainCall(benchmark::State& state) {
  for (auto _ : state) empty_task(0, 0);
}

// Back-to-back calls, one task per thread: workers are polling when each job
// arrives, as between the matrix products of one decode step.
void BM_ParallelFor(benchmark::State& state) {
  const auto threads = static_cast<std::size_t>(state.range(0));
  ThreadPool pool(threads);
  for (auto _ : state) {
    pool.parallel_for(threads, [](std::size_t task, std::size_t thread) { empty_task(task, thread); });
  }
}

// The same after an idle gap longer than the poll budget: the workers sleep,
// so this is the cost of waking them through the condition variable.
void BM_ParallelForAfterIdle(benchmark::State& state) {
  const auto threads = static_cast<std::size_t>(state.range(0));
  ThreadPool pool(threads);
  for (auto _ : state) {
    std::this_thread::sleep_for(ThreadPool::kDefaultSpin + std::chrono::milliseconds(1));
    const auto start = std::chrono::steady_clock::now();
    pool.parallel_for(threads, [](std::size_t task, std::size_t thread) { empty_task(task, thread); });
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
}

BENCHMARK(BM_PlainCall)->Repetitions(10)->ReportAggregatesOnly(true);
BENCHMARK(BM_ParallelFor)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->Repetitions(10)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_ParallelForAfterIdle)
    ->ArgName("threads")
    ->Arg(2)
    ->UseManualTime()
    ->Iterations(200)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

}  // namespace
}  // namespace quantlm

BENCHMARK_MAIN();
