// Tests of ThreadPool: every task exactly once, deterministic assignment, nesting, exceptions, sleeping workers.
#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <thread>
#include <vector>

namespace quantlm {
namespace {

using std::chrono::microseconds;

constexpr std::size_t kThreadCounts[] = {1, 2, 3, 8};
constexpr std::size_t kTaskCounts[] = {0, 1, 2, 3, 7, 8, 9, 64, 1000, 10007};

// Runs one parallel_for and checks each task ran once, on a valid thread.
void expect_each_task_once(ThreadPool& pool, std::size_t n_tasks, Schedule schedule) {
  std::vector<std::atomic<int>> runs(n_tasks);
  std::atomic<bool> bad_thread{false};
  pool.parallel_for(
      n_tasks,
      [&](std::size_t task, std::size_t thread) {
        runs[task].fetch_add(1, std::memory_order_relaxed);
        if (thread >= pool.size()) bad_thread = true;
      },
      schedule);
  for (std::size_t i = 0; i < n_tasks; ++i) {
    ASSERT_EQ(runs[i].load(), 1) << "task " << i << " of " << n_tasks << " with " << pool.size() << " threads";
  }
  EXPECT_FALSE(bad_thread);
}

TEST(ThreadPool, RunsEveryTaskExactlyOnce) {
  for (const std::size_t threads : kThreadCounts) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (const std::size_t n : kTaskCounts) {
      expect_each_task_once(pool, n, Schedule::dynamic);
      expect_each_task_once(pool, n, Schedule::deterministic);
    }
  }
}

TEST(ThreadPool, ZeroTasksReturnsWithoutCalling) {
  ThreadPool pool(3);
  bool called = false;
  pool.parallel_for(0, [&](std::size_t, std::size_t) { called = true; });
  EXPECT_FALSE(called);
}

TEST(ThreadPool, ZeroThreadsMeansOne) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.size(), 1U);
  expect_each_task_once(pool, 10, Schedule::dynamic);
}

TEST(ThreadPool, DeterministicRangesPartitionTasksInOrder) {
  for (const std::size_t threads : kThreadCounts) {
    for (const std::size_t n : kTaskCounts) {
      std::size_t next = 0;
      for (std::size_t t = 0; t < threads; ++t) {
        const TaskRange range = ThreadPool::deterministic_range(t, n, threads);
        EXPECT_EQ(range.begin, next);
        const std::size_t size = range.end - range.begin;
        EXPECT_TRUE(size == n / threads || size == n / threads + 1);
        next = range.end;
      }
      EXPECT_EQ(next, n);
    }
  }
  EXPECT_EQ(ThreadPool::deterministic_range(0, 10, 3), (TaskRange{0, 4}));
  EXPECT_EQ(ThreadPool::deterministic_range(2, 10, 3), (TaskRange{7, 10}));
}

TEST(ThreadPool, DeterministicScheduleRunsEachTaskOnItsOwner) {
  for (const std::size_t threads : kThreadCounts) {
    ThreadPool pool(threads);
    for (int repeat = 0; repeat < 20; ++repeat) {
      constexpr std::size_t kTasks = 37;
      std::vector<std::size_t> owner(kTasks, 999);
      pool.parallel_for(
          kTasks, [&](std::size_t task, std::size_t thread) { owner[task] = thread; }, Schedule::deterministic);
      for (std::size_t t = 0; t < threads; ++t) {
        const TaskRange range = ThreadPool::deterministic_range(t, kTasks, threads);
        for (std::size_t i = range.begin; i < range.end; ++i) ASSERT_EQ(owner[i], t) << "task " << i;
      }
    }
  }
}

TEST(ThreadPool, ManyRepeatedCallsAddUp) {
  ThreadPool pool(3);
  std::atomic<std::size_t> sum{0};
  for (int call = 0; call < 5000; ++call) {
    pool.parallel_for(5, [&](std::size_t task, std::size_t) { sum.fetch_add(task + 1, std::memory_order_relaxed); });
  }
  EXPECT_EQ(sum.load(), 5000U * 15U);
}

// With no polling, every call wakes sleeping workers through the condition
// variable, and the caller sleeps until they finish: the slow path.
TEST(ThreadPool, SleepingWorkersWakeForEveryCall) {
  ThreadPool pool(4, microseconds{0});
  for (int call = 0; call < 300; ++call) {
    expect_each_task_once(pool, 16, call % 2 == 0 ? Schedule::dynamic : Schedule::deterministic);
    if (call % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let them all fall asleep
  }
}

TEST(ThreadPool, CallerWaitsForSlowTasks) {
  ThreadPool pool(2, microseconds{10});
  std::atomic<int> done{0};
  pool.parallel_for(2, [&](std::size_t, std::size_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    done.fetch_add(1);
  });
  EXPECT_EQ(done.load(), 2);
}

TEST(ThreadPool, NestedCallsRunInlineOnTheCallingThread) {
  constexpr std::size_t kOuter = 8;
  constexpr std::size_t kInner = 8;
  ThreadPool pool(3);
  std::vector<std::atomic<int>> runs(kOuter * kInner);
  std::atomic<bool> thread_changed{false};
  pool.parallel_for(kOuter, [&](std::size_t outer, std::size_t outer_thread) {
    pool.parallel_for(kInner, [&](std::size_t inner, std::size_t inner_thread) {
      runs[outer * kInner + inner].fetch_add(1);
      if (inner_thread != outer_thread) thread_changed = true;
    });
  });
  for (const std::atomic<int>& r : runs) EXPECT_EQ(r.load(), 1);
  EXPECT_FALSE(thread_changed);
}

TEST(ThreadPool, ExceptionPropagatesToCaller) {
  for (const std::size_t threads : kThreadCounts) {
    ThreadPool pool(threads);
    for (const Schedule schedule : {Schedule::dynamic, Schedule::deterministic}) {
      try {
        pool.parallel_for(
            100,
            [](std::size_t task, std::size_t) {
              if (task == 42) throw std::invalid_argument("task 42 failed");
            },
            schedule);
        FAIL() << "no exception with " << threads << " threads";
      } catch (const std::invalid_argument& e) {
        EXPECT_STREQ(e.what(), "task 42 failed");
      }
      expect_each_task_once(pool, 100, schedule);  // the pool still works
    }
  }
}

TEST(ThreadPool, ExceptionFromEveryTaskIsReportedOnce) {
  ThreadPool pool(3);
  EXPECT_THROW(pool.parallel_for(1000, [](std::size_t, std::size_t) { throw std::runtime_error("all fail"); }),
               std::runtime_error);
}

TEST(ThreadPool, CallsFromSeveralThreadsTakeTurns) {
  ThreadPool pool(3);
  std::atomic<std::size_t> sum{0};
  constexpr int kCallers = 3;
  std::vector<std::thread> callers;
  callers.reserve(kCallers);
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&] {
      for (int call = 0; call < 200; ++call) {
        pool.parallel_for(10, [&](std::size_t task, std::size_t) { sum.fetch_add(task, std::memory_order_relaxed); });
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(sum.load(), 3U * 200U * 45U);
}

TEST(ThreadPool, DefaultPoolCanBeResized) {
  EXPECT_GE(default_thread_pool().size(), 1U);
  EXPECT_EQ(default_thread_pool().size(), hardware_thread_count());
  set_default_thread_count(3);
  EXPECT_EQ(default_thread_pool().size(), 3U);
  std::atomic<int> count{0};
  parallel_for(10, [&](std::size_t, std::size_t) { count.fetch_add(1); });
  EXPECT_EQ(count.load(), 10);
  set_default_thread_count(0);
  EXPECT_EQ(default_thread_pool().size(), hardware_thread_count());
}

}  // namespace
}  // namespace quantlm
