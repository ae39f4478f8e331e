// Loads an imatrix GGUF into per-weight column importance, as llama-quantize normalizes it.
#include "quant/imatrix.h"

#include <cmath>
#include <cstring>
#include <span>
#include <string_view>
#include <utility>

#include "core/error.h"
#include "io/gguf/gguf_file.h"
#include "io/gguf/gguf_writer.h"

namespace quantlm::quant {
namespace {

constexpr std::string_view kSums = ".in_sum2";
constexpr std::string_view kCounts = ".counts";
constexpr std::string_view kAbsmax = ".in_absmax";

bool strip_suffix(std::string& name, std::string_view suffix) {
  if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  name.resize(name.size() - suffix.size());
  return true;
}

std::span<const std::byte> bytes_of(const std::vector<float>& v) { return std::as_bytes(std::span(v)); }

std::vector<float> read_f32(const gguf::GgufFile& file, const gguf::TensorInfo& info) {
  if (info.format->id != formats::FormatId::F32) {
    throw make_error("{}: imatrix tensor '{}' is {}, expected F32", file.path().string(), info.name, info.format->name);
  }
  const auto bytes = file.tensor_data(info);
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

}  // namespace

const std::vector<float>* Imatrix::find(const std::string& weight) const {
  const auto it = importance.find(weight);
  return it != importance.end() ? &it->second : nullptr;
}

Imatrix load_imatrix(const std::filesystem::path& path) {
  gguf::GgufFile file = [&] {
    try {
      return gguf::GgufFile::open(path);
    } catch (const Error& e) {
      throw make_error("--imatrix: {} (only llama-imatrix's GGUF output is read, not the legacy .dat format)",
                       e.what());
    }
  }();
  Imatrix m;
  m.path = path;
  const std::string where = path.string();
  if (const gguf::Value* v = file.find("imatrix.datasets"); v != nullptr) {
    const gguf::Array* a = v->as_array();
    if (a != nullptr && a->element_type == gguf::ValueType::string)
      m.datasets = std::get<std::vector<std::string>>(a->items);
  }
  if (const gguf::Value* v = file.find("imatrix.chunk_count"); v != nullptr)
    m.chunk_count = static_cast<std::uint32_t>(v->as_int().value_or(0));
  if (const gguf::Value* v = file.find("imatrix.chunk_size"); v != nullptr)
    m.chunk_size = static_cast<std::uint32_t>(v->as_int().value_or(0));

  std::map<std::string, std::pair<const gguf::TensorInfo*, const gguf::TensorInfo*>> parts;
  for (const gguf::TensorInfo& t : file.tensors()) {
    std::string name = t.name;
    if (strip_suffix(name, kSums)) {
      parts[name].first = &t;
    } else if (strip_suffix(name, kCounts)) {
      parts[name].second = &t;
    }
  }
  if (parts.empty()) throw make_error("{}: no '<weight>.in_sum2' tensors: not an importance matrix", where);
  for (const auto& [name, pair] : parts) {
    if (pair.first == nullptr || pair.second == nullptr) {
      throw make_error("{}: '{}' has {} but not {}", where, name, pair.first ? kSums : kCounts,
                       pair.first ? kCounts : kSums);
    }
    const std::vector<float> sums = read_f32(file, *pair.first);
    const std::vector<float> counts = read_f32(file, *pair.second);
    if (counts.empty() || sums.size() % counts.size() != 0) {
      throw make_error("{}: '{}' has {} sums for {} experts' counts", where, name, sums.size(), counts.size());
    }
    const std::size_t cols = sums.size() / counts.size();
    std::vector<float> importance(sums.size());
    for (std::size_t e = 0; e < counts.size(); ++e) {
      // llama.cpp rounds the stored count to an integer, then divides in float.
      const auto count = static_cast<float>(std::lround(counts[e]));
      for (std::size_t i = 0; i < cols; ++i) {
        importance[e * cols + i] = count > 0.0F ? sums[e * cols + i] / count : 1.0F;
      }
    }
    for (const float x : importance) {
      if (!std::isfinite(x)) throw make_error("{}: '{}' has a non-finite importance value", where, name);
    }
    m.importance.emplace(name, std::move(importance));
  }
  return m;
}

void save_imatrix(const ImatrixData& data, const std::filesystem::path& path) {
  std::vector<gguf::KeyValue> md;
  md.push_back({"general.type", gguf::Value::from_string("imatrix")});
  gguf::Array datasets;
  datasets.element_type = gguf::ValueType::string;
  datasets.items = data.datasets;
  md.push_back({"imatrix.datasets", gguf::Value::from_array(std::move(datasets))});
  md.push_back({"imatrix.chunk_count", gguf::Value::from_u32(data.chunk_count)});
  md.push_back({"imatrix.chunk_size", gguf::Value::from_u32(data.chunk_size)});

  const formats::FormatTraits* f32 = &formats::traits(formats::FormatId::F32);
  auto shape2 = [](std::int64_t rows, std::int64_t cols) {
    Shape s;
    s.rank = 2;
    s.dims[0] = rows;
    s.dims[1] = cols;
    return s;
  };
  std::vector<gguf::TensorSpec> specs;
  for (const auto& [name, e] : data.entries) {
    const auto cols = static_cast<std::int64_t>(e.sum_sq.size());
    if (!e.absmax.empty() && e.absmax.size() != e.sum_sq.size()) {
      throw make_error("{}: '{}' has {} absmax values for {} columns", path.string(), name, e.absmax.size(), cols);
    }
    specs.push_back({name + std::string(kSums), shape2(1, cols), f32});
    specs.push_back({name + std::string(kCounts), shape2(1, 1), f32});
    if (!e.absmax.empty()) specs.push_back({name + std::string(kAbsmax), shape2(1, cols), f32});
  }
  gguf::GgufWriter writer(path, md, std::move(specs));
  for (const auto& [name, e] : data.entries) {
    writer.write_tensor(bytes_of(e.sum_sq));
    writer.write_tensor(bytes_of(std::vector<float>{e.count}));
    if (!e.absmax.empty()) writer.write_tensor(bytes_of(e.absmax));
  }
  writer.finish();
}

}  // namespace quantlm::quant
