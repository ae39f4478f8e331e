// GGUF writing: validation, header serialization and the temporary-file-then-rename protocol.
#include "io/gguf/gguf_writer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <type_traits>
#include <unordered_set>

#include "core/error.h"
#include "io/gguf/gguf_file.h"
#include "io/gguf/gguf_layout.h"

namespace quantlm::gguf {
namespace {

// The header is assembled in memory (it is small next to the tensors) and written in one go.
class HeaderBuffer {
 public:
  template <typename T>
  void put(T value) {
    static_assert(std::is_arithmetic_v<T>);
    const std::size_t at = bytes_.size();
    bytes_.resize(at + sizeof(T));
    std::memcpy(bytes_.data() + at, &value, sizeof(T));  // little-endian host, asserted in byte_reader.h
  }
  void put_raw(const void* data, std::size_t n) {
    if (n == 0) return;
    const std::size_t at = bytes_.size();
    bytes_.resize(at + n);
    std::memcpy(bytes_.data() + at, data, n);
  }
  void put_string(std::string_view s) {
    put<std::uint64_t>(s.size());
    put_raw(s.data(), s.size());
  }
  void pad_to(std::uint64_t alignment) { bytes_.resize(layout::align_up(bytes_.size(), alignment)); }
  [[nodiscard]] const std::vector<std::byte>& bytes() const { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
};

void put_value(HeaderBuffer& out, const Value& value) {
  out.put<std::uint32_t>(static_cast<std::uint32_t>(value.type()));
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          out.put<std::uint8_t>(v ? 1 : 0);
        } else if constexpr (std::is_same_v<T, std::string>) {
          out.put_string(v);
        } else if constexpr (std::is_same_v<T, Array>) {
          out.put<std::uint32_t>(static_cast<std::uint32_t>(v.element_type));
          out.put<std::uint64_t>(v.size());
          std::visit(
              [&](const auto& items) {
                using Item = typename std::decay_t<decltype(items)>::value_type;
                if constexpr (std::is_same_v<Item, std::string>) {
                  for (const std::string& s : items) out.put_string(s);
                } else {
                  out.put_raw(items.data(), items.size() * sizeof(Item));
                }
              },
              v.items);
        } else {
          out.put<T>(v);
        }
      },
      value.storage());
}

// Throws when the reader would refuse this metadata; returns the alignment.
std::uint32_t check_metadata(const std::string& path, const std::vector<KeyValue>& metadata) {
  std::unordered_set<std::string_view> seen;
  std::uint32_t alignment = kDefaultAlignment;
  for (std::size_t i = 0; i < metadata.size(); ++i) {
    const KeyValue& kv = metadata[i];
    const std::string where = fmt::format("{}: metadata key {}", path, quote_for_message(kv.key));
    if (kv.key.empty()) throw make_error("{}: metadata key {}: the key is empty", path, i);
    if (kv.key.size() > layout::kMaxStringBytes) throw make_error("{}: key longer than the 1 GiB limit", where);
    if (!seen.insert(kv.key).second) throw make_error("{}: duplicate key", where);
    if (const std::string* s = kv.value.as_string(); s != nullptr && s->size() > layout::kMaxStringBytes) {
      throw make_error("{}: string of {} bytes exceeds the 1 GiB limit", where, s->size());
    }
    if (const Array* a = kv.value.as_array()) {
      if (!a->consistent()) {
        throw make_error("{}: array with element type {} ({}) does not hold matching items{}", where,
                         value_type_name(a->element_type), static_cast<std::uint32_t>(a->element_type),
                         a->element_type == ValueType::boolean ? " (bool items must be 0 or 1)" : "");
      }
      if (a->size() > layout::kMaxArrayItems) {
        throw make_error("{}: {} items exceed the limit of {}", where, a->size(), layout::kMaxArrayItems);
      }
      if (const auto* strings = std::get_if<std::vector<std::string>>(&a->items)) {
        for (const std::string& s : *strings) {
          if (s.size() > layout::kMaxStringBytes) throw make_error("{}: an element exceeds the 1 GiB limit", where);
        }
      }
    }
    if (kv.key == kAlignmentKey) {
      if (kv.value.type() != ValueType::u32) {
        throw make_error("{}: expected type u32, found {}", where, value_type_name(kv.value.type()));
      }
      alignment = std::get<std::uint32_t>(kv.value.storage());
      if (!layout::is_valid_alignment(alignment)) {
        throw make_error("{}: expected a nonzero power of two, found {}", where, alignment);
      }
    }
  }
  return alignment;
}

// GGUF's dimension order: innermost first.
std::vector<std::uint64_t> to_ne(const Shape& shape) {
  std::vector<std::uint64_t> ne;
  for (int d = shape.rank - 1; d >= 0; --d) ne.push_back(static_cast<std::uint64_t>(shape[d]));
  return ne;
}

}  // namespace

struct GgufWriter::Impl {
  std::filesystem::path path;
  std::filesystem::path temp_path;
  int fd = -1;
  std::uint32_t alignment = kDefaultAlignment;
  std::vector<TensorSpec> specs;
  std::vector<std::uint64_t> sizes;
  std::size_t next = 0;
  bool finished = false;
  bool failed = false;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    if (!finished) discard();
  }

  [[nodiscard]] std::string describe() const {
    return fmt::format("'{}' (temporary file '{}')", path.string(), temp_path.string());
  }

  // Closes and removes the temporary file; the destination was never touched.
  void discard() noexcept {
    if (fd >= 0) ::close(fd);
    fd = -1;
    if (!temp_path.empty()) ::unlink(temp_path.c_str());
    temp_path.clear();
  }

  [[noreturn]] void fail_system(const std::string& what, int errno_value) {
    failed = true;
    const std::string message = fmt::format("{} {}", what, describe());
    discard();
    throw system_error(message, errno_value);
  }

  void check_usable() const {
    if (failed) throw make_error("{}: the GGUF writer already failed; nothing more can be written", path.string());
    if (finished) throw make_error("{}: the GGUF writer was already finished", path.string());
  }

  void create_temp() {
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    const std::string base = path.filename().string() + ".tmp-";
    constexpr std::string_view kChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::random_device seed;
    std::mt19937_64 rng((static_cast<std::uint64_t>(seed()) << 32U) ^ seed());
    // Not mkstemp: it creates files 0600, and an output model should get the
    // permissions the user's umask gives any new file.
    for (int attempt = 0; attempt < 100; ++attempt) {
      std::string name = base;
      for (int i = 0; i < 6; ++i) name += kChars[rng() % kChars.size()];
      const std::filesystem::path candidate = dir / name;
      fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd >= 0) {
        temp_path = candidate;
        return;
      }
      if (errno != EEXIST) {
        failed = true;
        throw system_error(fmt::format("cannot create a temporary file beside '{}'", path.string()), errno);
      }
    }
    failed = true;
    throw make_error("cannot create a temporary file beside '{}': 100 names were taken", path.string());
  }

  void write_all(const std::byte* data, std::size_t n) {
    while (n > 0) {
      const std::size_t chunk = std::min<std::size_t>(n, std::size_t{1} << 30);  // Linux caps one write near 2 GiB
      const ssize_t written = ::write(fd, data, chunk);
      if (written < 0) {
        if (errno == EINTR) continue;
        fail_system("cannot write", errno);
      }
      if (written == 0) fail_system("cannot write", EIO);
      data += written;
      n -= static_cast<std::size_t>(written);
    }
  }

  void write_zeros(std::uint64_t n) {
    static constexpr std::array<std::byte, 4096> kZeros{};
    while (n > 0) {
      const std::size_t chunk = std::min<std::uint64_t>(n, kZeros.size());
      write_all(kZeros.data(), chunk);
      n -= chunk;
    }
  }
};

GgufWriter::GgufWriter(const std::filesystem::path& path, const std::vector<KeyValue>& metadata,
                       std::vector<TensorSpec> tensors, std::uint32_t version)
    : impl_(std::make_unique<Impl>()) {
  Impl& w = *impl_;
  w.path = path;
  const std::string where = path.string();
  if (version != 2 && version != 3) {
    throw make_error("{}: GGUF version {} cannot be written (expected 2 or 3)", where, version);
  }
  w.alignment = check_metadata(where, metadata);

  HeaderBuffer header;
  header.put<std::uint32_t>(kMagic);
  header.put<std::uint32_t>(version);
  header.put<std::uint64_t>(tensors.size());
  header.put<std::uint64_t>(metadata.size());
  for (const KeyValue& kv : metadata) {
    header.put_string(kv.key);
    put_value(header, kv.value);
  }

  // Tensor infos, with offsets laid out back to back, each padded to the alignment.
  std::unordered_set<std::string_view> names;
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorSpec& t = tensors[i];
    const std::string context = fmt::format("{}: tensor {} ({})", where, i, quote_for_message(t.name));
    if (t.name.size() > layout::kMaxTensorNameBytes) {
      throw make_error("{}: name is {} bytes long, expected at most {} (llama.cpp's limit)", context, t.name.size(),
                       layout::kMaxTensorNameBytes);
    }
    if (!names.insert(t.name).second) throw make_error("{}: duplicate tensor name", context);
    if (t.format == nullptr) throw make_error("{}: no format given", context);
    if (t.shape.rank < 0 || t.shape.rank > static_cast<int>(layout::kMaxDims)) {
      throw make_error("{}: rank {} is outside [0, {}]", context, t.shape.rank, layout::kMaxDims);
    }
    const std::vector<std::uint64_t> ne = to_ne(t.shape);
    std::uint64_t bytes = 0;
    if (const std::string problem = layout::tensor_bytes(ne, *t.format, bytes); !problem.empty()) {
      throw make_error("{}: shape {}: {}", context, t.shape.to_string(), problem);
    }
    if (offset > std::uint64_t{1} << 62 || bytes > (std::uint64_t{1} << 62) - offset) {
      throw make_error("{}: the data section would exceed 2^62 bytes", context);
    }
    header.put_string(t.name);
    header.put<std::uint32_t>(static_cast<std::uint32_t>(ne.size()));
    for (const std::uint64_t d : ne) header.put<std::uint64_t>(d);
    header.put<std::uint32_t>(static_cast<std::uint32_t>(t.format->id));
    header.put<std::uint64_t>(offset);
    w.sizes.push_back(bytes);
    offset = layout::align_up(offset + bytes, w.alignment);
  }
  header.pad_to(w.alignment);
  w.specs = std::move(tensors);

  w.create_temp();
  w.write_all(header.bytes().data(), header.bytes().size());
}

GgufWriter::~GgufWriter() = default;

void GgufWriter::write_tensor(std::span<const std::byte> data) {
  Impl& w = *impl_;
  w.check_usable();
  if (w.next >= w.specs.size()) {
    w.failed = true;
    w.discard();
    throw make_error("{}: write_tensor called after all {} tensors were written", w.path.string(), w.specs.size());
  }
  const TensorSpec& t = w.specs[w.next];
  const std::uint64_t expected = w.sizes[w.next];
  if (data.size() != expected) {
    w.failed = true;
    w.discard();
    throw make_error("{}: tensor {} ({}): expected {} bytes ({} {}), got {}", w.path.string(), w.next,
                     quote_for_message(t.name), expected, t.format->name, t.shape.to_string(), data.size());
  }
  w.write_all(data.data(), data.size());
  w.write_zeros(layout::align_up(expected, w.alignment) - expected);
  ++w.next;
}

void GgufWriter::finish() {
  Impl& w = *impl_;
  w.check_usable();
  if (w.next != w.specs.size()) {
    w.failed = true;
    w.discard();
    throw make_error("{}: finish() called after {} of {} tensors; {} was not written", w.path.string(), w.next,
                     w.specs.size(), quote_for_message(w.specs[w.next].name));
  }
  if (::fsync(w.fd) != 0) w.fail_system("cannot flush", errno);
  const int fd = w.fd;
  w.fd = -1;
  if (::close(fd) != 0) w.fail_system("cannot close", errno);  // NFS reports write errors here
  if (::rename(w.temp_path.c_str(), w.path.c_str()) != 0) w.fail_system("cannot rename into place", errno);
  w.temp_path.clear();
  w.finished = true;
  // Make the rename itself durable. Best effort: the file is in place whatever happens here.
  const std::filesystem::path dir = w.path.has_parent_path() ? w.path.parent_path() : std::filesystem::path(".");
  if (const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir_fd >= 0) {
    static_cast<void>(::fsync(dir_fd));
    ::close(dir_fd);
  }
}

void write_copy(const GgufFile& file, const std::filesystem::path& path) {
  std::vector<TensorSpec> specs;
  specs.reserve(file.tensors().size());
  for (const TensorInfo& t : file.tensors()) specs.push_back({t.name, t.shape, t.format});
  GgufWriter writer(path, file.metadata(), std::move(specs), file.version());
  for (const TensorInfo& t : file.tensors()) writer.write_tensor(file.tensor_data(t));
  writer.finish();
}

}  // namespace quantlm::gguf
