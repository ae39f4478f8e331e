// The threaded driver of matrix products: activation packing once per product, rows split into tasks on the pool.
#include "kernels/matmul.h"

#include <algorithm>
#include <array>
#include <cassert>

#include "core/aligned_buffer.h"

namespace quantlm::kernels {
namespace {

// Tasks hold whole multiples of 16 rows, so that tasks never share a cache
// line of Y (16 floats) and every SIMD tile (4 or 8 rows) is complete.
constexpr std::int64_t kRowGranule = 16;
// A task does at least this many multiply-adds: about 3 to 10 µs with the SIMD
// kernels, several times the pool's fork/join cost, so a product this small is
// not worth waking a second thread for. stories260K's 64x64 decode products
// (4096 each) run on the caller alone.
constexpr std::int64_t kMinTaskMacs = 65536;
// Tasks per thread: enough for the dynamic schedule to even out a slow thread.
constexpr std::int64_t kTasksPerThread = 4;
// At most this many products in one run_matmuls call (a Llama block needs 3).
constexpr std::size_t kMaxJobs = 8;

struct Split {
  std::int64_t rows_per_task = 0;
  std::int64_t tasks = 0;
};

Split split_rows(std::int64_t rows, std::int64_t macs_per_row, std::size_t threads) {
  if (rows == 0) return {0, 0};
  const std::int64_t by_work = std::max<std::int64_t>(1, rows * macs_per_row / kMinTaskMacs);
  const std::int64_t by_rows = (rows + kRowGranule - 1) / kRowGranule;
  const std::int64_t wanted = std::min({by_work, by_rows, static_cast<std::int64_t>(threads) * kTasksPerThread});
  std::int64_t per_task = (rows + wanted - 1) / wanted;
  per_task = (per_task + kRowGranule - 1) / kRowGranule * kRowGranule;
  return {per_task, (rows + per_task - 1) / per_task};
}

// Packs every token of `x` into `out` (token t at t * stride).
void pack_tokens(const ActivationPacking& packing, const float* x, std::int64_t n_tokens, std::int64_t cols,
                 std::byte* out, std::int64_t stride, ThreadPool* pool) {
  const auto one = [&](std::size_t t, std::size_t /*thread*/) {
    const auto i = static_cast<std::int64_t>(t);
    packing.pack(x + i * cols, cols, out + i * stride);
  };
  // Prefill packs thousands of values per token: worth the pool when there are many tokens.
  if (pool != nullptr && n_tokens * cols >= 4 * kMinTaskMacs) {
    pool->parallel_for(static_cast<std::size_t>(n_tokens), one);
  } else {
    for (std::size_t t = 0; t < static_cast<std::size_t>(n_tokens); ++t) one(t, 0);
  }
}

}  // namespace

Matmul::Matmul(const TensorView& w, Isa isa)
    : Matmul(w, select_kernel(*formats::find_format(w.storage.format_id), isa)) {}

Matmul::Matmul(const TensorView& w, const MatmulKernel& kernel)
    : w_(w), format_(formats::find_format(w.storage.format_id)), kernel_(&kernel) {
  assert(format_ != nullptr && format_->id == kernel.format && w.shape.rank == 2);
}

void Matmul::run(std::span<const float> x, std::span<float> y, ThreadPool& pool) const {
  const MatmulJob job{this, x, y};
  run_matmuls({&job, 1}, pool);
}

void run_matmuls(std::span<const MatmulJob> jobs, ThreadPool& pool) {
  assert(jobs.size() <= kMaxJobs);
  std::array<MatmulArgs, kMaxJobs> args;
  std::array<Split, kMaxJobs> splits;
  std::array<std::int64_t, kMaxJobs + 1> first_task{};
  std::array<std::int64_t, kMaxJobs> packed_offset{};

  // The packed activations of every job, in one buffer of the calling thread.
  thread_local AlignedBuffer<std::byte> arena;
  std::int64_t packed_bytes = 0;
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    const Matmul& op = *jobs[j].op;
    const std::int64_t n_tokens = op.cols() == 0 ? 0 : static_cast<std::int64_t>(jobs[j].x.size()) / op.cols();
    assert(static_cast<std::int64_t>(jobs[j].x.size()) == n_tokens * op.cols());
    assert(static_cast<std::int64_t>(jobs[j].y.size()) == n_tokens * op.rows());
    args[j] = MatmulArgs{op.weight(), &op.format(), jobs[j].x.data(), op.cols(), nullptr,
                         0,           n_tokens,     jobs[j].y.data(), op.rows()};
    if (op.kernel().packing.packs()) {
      args[j].packed_stride = op.kernel().packing.token_bytes(op.cols());
      packed_offset[j] = packed_bytes;
      packed_bytes += n_tokens * args[j].packed_stride;
    }
    splits[j] = split_rows(op.rows(), n_tokens * op.cols(), pool.size());
    first_task[j + 1] = first_task[j] + splits[j].tasks;
  }
  if (static_cast<std::int64_t>(arena.size()) < packed_bytes) {
    arena = AlignedBuffer<std::byte>(static_cast<std::size_t>(packed_bytes), BufferInit::uninitialized);
  }
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    const ActivationPacking& packing = jobs[j].op->kernel().packing;
    if (!packing.packs()) continue;
    args[j].packed = arena.data() + packed_offset[j];
    pack_tokens(packing, args[j].x, args[j].n_tokens, args[j].cols(), arena.data() + packed_offset[j],
                args[j].packed_stride, &pool);
  }

  const std::size_t n_jobs = jobs.size();
  pool.parallel_for(static_cast<std::size_t>(first_task[n_jobs]), [&](std::size_t task, std::size_t /*thread*/) {
    const auto t = static_cast<std::int64_t>(task);
    std::size_t j = 0;
    while (first_task[j + 1] <= t) ++j;
    const std::int64_t begin = (t - first_task[j]) * splits[j].rows_per_task;
    const std::int64_t end = std::min(args[j].rows(), begin + splits[j].rows_per_task);
    jobs[j].op->kernel().rows(args[j], begin, end);
  });
}

void run_serial(const MatmulKernel& kernel, MatmulArgs args) {
  if (kernel.packing.packs()) {
    thread_local AlignedBuffer<std::byte> buffer;
    args.packed_stride = kernel.packing.token_bytes(args.cols());
    const auto need = static_cast<std::size_t>(args.n_tokens * args.packed_stride);
    if (buffer.size() < need) buffer = AlignedBuffer<std::byte>(need, BufferInit::uninitialized);
    for (std::int64_t t = 0; t < args.n_tokens; ++t) {
      kernel.packing.pack(args.x + t * args.x_stride, args.cols(), buffer.data() + t * args.packed_stride);
    }
    args.packed = buffer.data();
  }
  kernel.rows(args, 0, args.rows());
}

}  // namespace quantlm::kernels
