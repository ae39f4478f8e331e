// Fork/join protocol of ThreadPool: a generation counter polled then slept on, and a countdown of workers.
#include "core/thread_pool.h"

#include <algorithm>
#include <utility>

namespace quantlm {
namespace {

using Clock = std::chrono::steady_clock;

// The pool whose task this thread is running, and its index there, so that a
// nested parallel_for on the same pool runs inline instead of deadlocking.
thread_local const ThreadPool* t_pool = nullptr;
thread_local std::size_t t_thread_index = 0;

// Marks the calling thread as a participant of `pool` for one job.
class ParticipantScope {
 public:
  ParticipantScope(const ThreadPool* pool, std::size_t thread_index)
      : saved_pool_(std::exchange(t_pool, pool)), saved_index_(std::exchange(t_thread_index, thread_index)) {}
  ParticipantScope(const ParticipantScope&) = delete;
  ParticipantScope& operator=(const ParticipantScope&) = delete;
  ParticipantScope(ParticipantScope&&) = delete;
  ParticipantScope& operator=(ParticipantScope&&) = delete;
  ~ParticipantScope() {
    t_pool = saved_pool_;
    t_thread_index = saved_index_;
  }

 private:
  const ThreadPool* saved_pool_;
  std::size_t saved_index_;
};

// Polls `done` for up to `budget`; true as soon as it returns true. Every
// poll yields the core rather than spinning on a pause instruction: when the
// two threads share a core (more threads than free cores, or the scheduler put
// them together) the thread being waited for needs this core to run, and with
// nobody else waiting sched_yield returns in about 0.2 us. Measured on the
// 2-vCPU VM, an empty 2-thread parallel_for took 0.48 us median and 0.6 us at
// the 90th percentile this way; with 32 or 256 pause-polls before the first
// yield the 90th percentile was 1.8 and 6.6 us (the pause phase, whenever the
// threads shared a vCPU), and the medians were no better.
template <typename Done>
bool spin_until(const Done& done, std::chrono::microseconds budget) {
  const Clock::time_point deadline = Clock::now() + budget;
  do {
    if (done()) return true;
    std::this_thread::yield();
  } while (Clock::now() < deadline);
  return done();
}

std::mutex g_default_pool_mutex;
std::unique_ptr<ThreadPool> g_default_pool;  // guarded by g_default_pool_mutex

}  // namespace

ThreadPool::ThreadPool(std::size_t n_threads, std::chrono::microseconds spin)
    : n_threads_(std::max<std::size_t>(n_threads, 1)), spin_(spin) {
  workers_.reserve(n_threads_ - 1);
  try {
    for (std::size_t t = 1; t < n_threads_; ++t) workers_.emplace_back([this, t] { worker_loop(t); });
  } catch (...) {
    stop_workers();  // joinable threads must not outlive the vector
    throw;
  }
}

ThreadPool::~ThreadPool() { stop_workers(); }

TaskRange ThreadPool::deterministic_range(std::size_t thread, std::size_t n_tasks, std::size_t n_threads) {
  const std::size_t base = n_tasks / n_threads;
  const std::size_t extra = n_tasks % n_threads;
  const std::size_t begin = thread * base + std::min(thread, extra);
  return {begin, begin + base + (thread < extra ? 1 : 0)};
}

void ThreadPool::run(std::size_t n_tasks, TaskRef task, Schedule schedule) {
  if (n_tasks == 0) return;
  // One task, or one thread, needs no fork. Both schedules give task 0 to
  // thread 0, so this shortcut keeps Schedule::deterministic's assignment.
  if (n_tasks == 1 || n_threads_ == 1 || t_pool == this) {
    run_inline(n_tasks, task);
    return;
  }

  const std::lock_guard call_lock(call_mutex_);
  job_ = Job{task, n_tasks, schedule};
  next_task_.store(0, std::memory_order_relaxed);
  failed_.store(false, std::memory_order_relaxed);
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  // Publishes the job. seq_cst pairs with a worker's increment of
  // sleeping_workers_ before its last look at generation_: either it sees
  // this job, or this thread sees it asleep and wakes it.
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleeping_workers_.load(std::memory_order_seq_cst) > 0) {
    const std::lock_guard lock(sleep_mutex_);
    wake_cv_.notify_all();
  }

  {
    const ParticipantScope scope(this, 0);
    run_share(0);
  }
  wait_for_workers();
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void ThreadPool::run_inline(std::size_t n_tasks, TaskRef task) const {
  // The caller is thread 0 of this pool, unless it is one of its tasks.
  const std::size_t thread_index = t_pool == this ? t_thread_index : 0;
  const ParticipantScope scope(this, thread_index);
  for (std::size_t i = 0; i < n_tasks; ++i) task.call(task.fn, i, thread_index);
}

void ThreadPool::worker_loop(std::size_t thread_index) {
  const ParticipantScope scope(this, thread_index);
  std::uint64_t seen = 0;
  for (;;) {
    seen = wait_for_job(seen);
    if (stopping_.load(std::memory_order_acquire)) return;
    run_share(thread_index);
    finish_share();
  }
}

std::uint64_t ThreadPool::wait_for_job(std::uint64_t seen) {
  std::uint64_t generation = seen;
  const auto changed = [&] {
    generation = generation_.load(std::memory_order_seq_cst);
    return generation != seen;
  };
  if (spin_until(changed, spin_)) return generation;

  std::unique_lock lock(sleep_mutex_);
  sleeping_workers_.fetch_add(1, std::memory_order_seq_cst);
  wake_cv_.wait(lock, changed);
  sleeping_workers_.fetch_sub(1, std::memory_order_relaxed);
  return generation;
}

void ThreadPool::run_share(std::size_t thread_index) {
  const Job job = job_;
  if (job.schedule == Schedule::deterministic) {
    const TaskRange range = deterministic_range(thread_index, job.n_tasks, n_threads_);
    for (std::size_t i = range.begin; i < range.end && !failed_.load(std::memory_order_relaxed); ++i) {
      run_task(job.task, i, thread_index);
    }
    return;
  }
  while (!failed_.load(std::memory_order_relaxed)) {
    const std::size_t i = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (i >= job.n_tasks) return;
    run_task(job.task, i, thread_index);
  }
}

void ThreadPool::run_task(TaskRef task, std::size_t task_index, std::size_t thread_index) noexcept {
  try {
    task.call(task.fn, task_index, thread_index);
  } catch (...) {
    const std::lock_guard lock(error_mutex_);
    if (!error_) error_ = std::current_exception();
    failed_.store(true, std::memory_order_relaxed);
  }
}

void ThreadPool::finish_share() {
  // The release half publishes this worker's writes (and error_) to the
  // caller; seq_cst pairs with the caller setting caller_sleeping_ before its
  // last look at pending_, as in run().
  if (pending_.fetch_sub(1, std::memory_order_seq_cst) == 1 && caller_sleeping_.load(std::memory_order_seq_cst)) {
    const std::lock_guard lock(sleep_mutex_);
    done_cv_.notify_one();
  }
}

void ThreadPool::wait_for_workers() {
  const auto done = [this] { return pending_.load(std::memory_order_seq_cst) == 0; };
  if (spin_until(done, spin_)) return;

  std::unique_lock lock(sleep_mutex_);
  caller_sleeping_.store(true, std::memory_order_seq_cst);
  done_cv_.wait(lock, done);
  caller_sleeping_.store(false, std::memory_order_relaxed);
}

void ThreadPool::stop_workers() noexcept {
  stopping_.store(true, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_seq_cst);  // releases stopping_ to pollers and sleepers
  {
    const std::lock_guard lock(sleep_mutex_);
    wake_cv_.notify_all();
  }
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
}

std::size_t hardware_thread_count() { return std::max(std::thread::hardware_concurrency(), 1U); }

ThreadPool& default_thread_pool() {
  const std::lock_guard lock(g_default_pool_mutex);
  if (!g_default_pool) g_default_pool = std::make_unique<ThreadPool>(hardware_thread_count());
  return *g_default_pool;
}

void set_default_thread_count(std::size_t n_threads) {
  const std::lock_guard lock(g_default_pool_mutex);
  g_default_pool = std::make_unique<ThreadPool>(n_threads == 0 ? hardware_thread_count() : n_threads);
}

}  // namespace quantlm
