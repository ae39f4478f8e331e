// libFuzzer target: parse arbitrary bytes as GGUF, touch every byte it hands out, and round-trip what parses.
#include <stdlib.h>  // NOLINT(modernize-deprecated-headers): mkdtemp is POSIX

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/gguf/gguf_file.h"
#include "io/gguf/gguf_writer.h"

namespace {

using quantlm::gguf::GgufFile;

// Inputs this size or smaller are also written back out (disk I/O dominates the rest).
constexpr std::size_t kMaxRoundTripBytes = 1 << 20;

// Anything that breaks an invariant is a finding: crash so libFuzzer saves the input.
void check(bool ok) {
  if (!ok) __builtin_trap();
}

const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    // tmpfs when available: the round trip fsyncs every file it writes.
    const std::filesystem::path base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string pattern = (base / "quantlm-fuzz-XXXXXX").string();
    check(::mkdtemp(pattern.data()) != nullptr);
    return std::filesystem::path(pattern);
  }();
  // Removed at a normal exit (-max_total_time, -runs); a crash leaves it behind.
  static const bool cleanup_registered = [] {
    return std::atexit([] {
             std::error_code ec;
             std::filesystem::remove_all(dir, ec);
           }) == 0;
  }();
  static_cast<void>(cleanup_registered);
  return dir;
}

std::vector<char> read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Reads every byte of every tensor and every accessor, so ASan sees any out-of-bounds span.
std::uint64_t touch(const GgufFile& file) {
  std::uint64_t sum = file.version() + file.alignment() + file.data_offset();
  check(file.data_offset() <= file.file_size());
  for (const auto& kv : file.metadata()) {
    check(file.find(kv.key) == &kv.value);
    sum += kv.value.to_display_string().size() + kv.value.to_display_string(0).size();
    sum += static_cast<std::uint64_t>(kv.value.as_int().value_or(0));
    if (const auto* array = kv.value.as_array()) sum += array->size();
  }
  for (const auto& t : file.tensors()) {
    check(file.find_tensor(t.name) == &t);
    const auto data = file.tensor_data(t);
    check(data.size() == t.bytes);
    for (const std::byte b : data) sum += static_cast<std::uint8_t>(b);
    const quantlm::TensorView view = file.tensor_view(t);
    check(view.bytes() == static_cast<std::int64_t>(t.bytes));
    if (view.shape.rows() > 0 && view.row_bytes() > 0) {
      const std::byte* last_row = view.row(view.shape.rows() - 1);
      sum += static_cast<std::uint8_t>(last_row[view.row_bytes() - 1]);
    }
  }
  return sum;
}

// Whatever the reader accepts, the writer must write; reading that back gives
// the same tensors, and writing it again gives the same bytes.
void round_trip(const GgufFile& file) {
  const std::filesystem::path first = scratch_dir() / "first.gguf";
  const std::filesystem::path second = scratch_dir() / "second.gguf";
  quantlm::gguf::write_copy(file, first);  // an Error here escapes: a finding
  const GgufFile copy = GgufFile::open(first);
  check(copy.metadata().size() == file.metadata().size());
  check(copy.tensors().size() == file.tensors().size());
  for (std::size_t i = 0; i < file.tensors().size(); ++i) {
    const auto a = file.tensor_data(file.tensors()[i]);
    const auto b = copy.tensor_data(copy.tensors()[i]);
    check(a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin()));
  }
  quantlm::gguf::write_copy(copy, second);
  check(read_all(first) == read_all(second));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const GgufFile file = GgufFile::from_bytes(bytes, "fuzz.gguf");
    static volatile std::uint64_t sink = 0;
    sink = sink + touch(file);
    if (size <= kMaxRoundTripBytes) round_trip(file);
  } catch (const quantlm::Error&) {
    // Rejected input: the expected outcome for most of them. Any other exception type is a finding.
  }
  return 0;
}
