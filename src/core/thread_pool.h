// A persistent thread pool whose parallel_for forks and joins in microseconds, cheap enough for every decode step.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace quantlm {

// How parallel_for hands tasks to threads.
enum class Schedule : std::uint8_t {
  // Threads take the next task index from a shared counter, which balances
  // tasks of uneven cost. Which thread runs a task varies from call to call.
  dynamic,
  // Thread t runs the contiguous block ThreadPool::deterministic_range(t, ...)
  // on every call, so per-thread accumulators (calibration statistics) summed
  // in thread order give the same bits on every run with that thread count.
  deterministic,
};

// Task indices [begin, end).
struct TaskRange {
  std::size_t begin = 0;
  std::size_t end = 0;
  friend bool operator==(const TaskRange&, const TaskRange&) = default;
};

// size() threads run the tasks of each parallel_for: the calling thread
// (thread index 0) and size() - 1 workers that live as long as the pool.
// Between calls a worker polls for about `spin` (a decode step issues its next
// call within microseconds, and waking a sleeping thread costs tens of them),
// yielding its core between polls, then sleeps on a condition variable so an
// idle pool does not burn CPU. The caller waits for the workers the same way.
// NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding): the padding is the cache-line grouping below
class ThreadPool {
 public:
  static constexpr std::chrono::microseconds kDefaultSpin{100};

  // n_threads of 0 counts as 1, which runs every task on the caller.
  explicit ThreadPool(std::size_t n_threads, std::chrono::microseconds spin = kDefaultSpin);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ThreadPool(ThreadPool&&) = delete;
  ThreadPool& operator=(ThreadPool&&) = delete;
  ~ThreadPool();

  [[nodiscard]] std::size_t size() const { return n_threads_; }

  // Calls fn(task_index, thread_index) once for every task_index in
  // [0, n_tasks) and returns when all calls have returned. thread_index is in
  // [0, size()), for indexing per-thread scratch; fn is called concurrently,
  // so it must be safe to call from several threads at once.
  //
  // The first exception a task throws is rethrown here once every thread has
  // stopped; tasks that had not started by then are skipped. A call made from
  // inside one of this pool's tasks runs its tasks serially on that thread,
  // with that thread's index. Calls from several outside threads take turns.
  template <typename Fn>
  void parallel_for(std::size_t n_tasks, const Fn& fn, Schedule schedule = Schedule::dynamic) {
    static_assert(std::is_invocable_v<const Fn&, std::size_t, std::size_t>,
                  "parallel_for calls fn(std::size_t task_index, std::size_t thread_index)");
    const TaskRef task{[](const void* f, std::size_t i, std::size_t t) { (*static_cast<const Fn*>(f))(i, t); },
                       std::addressof(fn)};
    run(n_tasks, task, schedule);
  }

  // The tasks `thread` runs under Schedule::deterministic: contiguous blocks
  // in thread order, the first n_tasks % n_threads threads taking one more.
  [[nodiscard]] static TaskRange deterministic_range(std::size_t thread, std::size_t n_tasks, std::size_t n_threads);

 private:
  // A non-owning, type-erased reference to the caller's fn: no allocation per call.
  struct TaskRef {
    void (*call)(const void* fn, std::size_t task, std::size_t thread) = nullptr;
    const void* fn = nullptr;
  };
  struct Job {
    TaskRef task;
    std::size_t n_tasks = 0;
    Schedule schedule = Schedule::dynamic;
  };

  void run(std::size_t n_tasks, TaskRef task, Schedule schedule);
  void run_inline(std::size_t n_tasks, TaskRef task) const;
  void worker_loop(std::size_t thread_index);
  [[nodiscard]] std::uint64_t wait_for_job(std::uint64_t seen);
  void run_share(std::size_t thread_index);
  void run_task(TaskRef task, std::size_t task_index, std::size_t thread_index) noexcept;
  void finish_share();
  void wait_for_workers();
  void stop_workers() noexcept;

  static constexpr std::size_t kCacheLine = 64;

  const std::size_t n_threads_;
  const std::chrono::microseconds spin_;
  std::vector<std::thread> workers_;
  std::mutex call_mutex_;  // one job at a time

  // The fields are grouped by who writes and who polls them, one cache line
  // per group, so that polling never pulls in a line another thread writes.

  // What a worker reads to start a job; the caller writes job_ before it bumps generation_.
  alignas(kCacheLine) std::atomic<std::uint64_t> generation_{0};  // bumped once per job, and to stop
  Job job_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> sleeping_workers_{0};

  // Schedule::dynamic's next task index, contended by every thread.
  alignas(kCacheLine) std::atomic<std::size_t> next_task_{0};

  // What the caller polls to join, and what the last worker to finish checks.
  alignas(kCacheLine) std::atomic<std::size_t> pending_{0};  // workers not done with the job
  std::atomic<bool> caller_sleeping_{false};

  // A task threw: the others skip their remaining tasks, and the caller rethrows error_.
  alignas(kCacheLine) std::atomic<bool> failed_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;  // the first exception of the current job

  // The slow path: workers wait for a new generation on wake_cv_, the caller
  // for pending_ == 0 on done_cv_. sleeping_workers_ and caller_sleeping_ let
  // the other side skip the mutex and the notify (a system call) while nobody sleeps.
  std::mutex sleep_mutex_;
  std::condition_variable wake_cv_;
  std::condition_variable done_cv_;
};

// std::thread::hardware_concurrency(), or 1 when it is unknown.
[[nodiscard]] std::size_t hardware_thread_count();

// The process-wide pool, created on first use with hardware_thread_count()
// threads or the count set below.
[[nodiscard]] ThreadPool& default_thread_pool();

// Replaces the default pool with one of n_threads threads (0: hardware count).
// Call it before parallel work starts (e.g. from main, after reading
// --threads): references to the previous default pool become invalid.
void set_default_thread_count(std::size_t n_threads);

// parallel_for on default_thread_pool().
template <typename Fn>
void parallel_for(std::size_t n_tasks, const Fn& fn, Schedule schedule = Schedule::dynamic) {
  default_thread_pool().parallel_for(n_tasks, fn, schedule);
}

}  // namespace quantlm
