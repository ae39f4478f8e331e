// Loading a Hugging Face model directory: config.json, single or sharded safetensors, q/k rows permuted for Llama.
#include "io/loaders/hf_loader.h"

#include <fmt/ranges.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numbers>
#include <set>

#include "core/error.h"
#include "core/log.h"
#include "io/gguf/gguf_file.h"
#include "io/loaders/hf_config.h"
#include "io/loaders/hf_names.h"
#include "io/loaders/hf_tokenizer.h"
#include "io/loaders/loader_util.h"
#include "io/loaders/safetensors_file.h"
#include "io/tokenizer/tokenizer.h"

namespace quantlm::io {

namespace {

using nlohmann::json;

struct Located {
  const SafetensorsFile* file;
  const SafetensorsTensor* tensor;
};

// The shard files named by model.safetensors.index.json's weight_map, each a
// plain file name inside `dir` (a name with a path in it is refused, so an
// index cannot point outside the directory).
std::vector<std::filesystem::path> shard_files(const std::filesystem::path& dir) {
  const auto index_path = dir / "model.safetensors.index.json";
  const std::string file = index_path.string();
  std::ifstream in(index_path, std::ios::binary);
  if (!in) throw make_error("{}: cannot open the file for reading", file);
  json index;
  try {
    index = json::parse(in);
  } catch (const json::exception& e) {
    throw make_error("{}: invalid JSON ({})", file, e.what());
  }
  const auto map = index.is_object() ? index.find("weight_map") : index.end();
  if (map == index.end() || !map->is_object() || map->empty()) {
    throw make_error("{}: key weight_map is missing or not a non-empty object", file);
  }
  std::set<std::string> names;
  for (const auto& [tensor, shard] : map->items()) {
    if (!shard.is_string()) throw make_error("{}: weight_map entry {} is not a file name", file, tensor);
    const std::string s = shard.get<std::string>();
    if (s.empty() || s == "." || s == ".." || s.find_first_of("/\\") != std::string::npos) {
      throw make_error("{}: weight_map entry {}: \"{}\" is not a file name in the directory", file, tensor,
                       gguf::quote_for_message(s));
    }
    names.insert(s);
  }
  std::vector<std::filesystem::path> out;
  out.reserve(names.size());
  for (const std::string& s : names) out.push_back(dir / s);
  return out;
}

// llama.cpp's converter turns llama3 RoPE scaling into per-frequency factors
// (a rope_freqs.weight tensor of head_dim / 2 floats); this is its formula.
void add_llama3_rope_freqs(const HfConfig& c, ModelSource& source) {
  const HfRopeScaling& rs = c.rope_scaling;
  const std::int64_t n = c.head_dim / 2;
  const std::span<std::byte> bytes = own_bytes(source, static_cast<std::size_t>(n) * sizeof(float));
  const double low_wavelen = static_cast<double>(rs.original_context) / rs.low_freq_factor;
  const double high_wavelen = static_cast<double>(rs.original_context) / rs.high_freq_factor;
  for (std::int64_t i = 0; i < n; ++i) {
    // torch computes the frequencies in float32.
    const auto freq = static_cast<float>(
        1.0 / std::pow(c.rope_theta, static_cast<double>(static_cast<float>(2 * i) / static_cast<float>(c.head_dim))));
    const double wavelen = 2.0 * std::numbers::pi / static_cast<double>(freq);
    double factor = 1.0;
    if (wavelen > low_wavelen) {
      factor = rs.factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (static_cast<double>(rs.original_context) / wavelen - rs.low_freq_factor) /
                            (rs.high_freq_factor - rs.low_freq_factor);
      factor = 1.0 / ((1.0 - smooth) / rs.factor + smooth);
    }
    const auto f = static_cast<float>(factor);
    std::memcpy(bytes.data() + i * 4, &f, 4);
  }
  source.tensors.push_back(
      SourceTensor{"rope_freqs.weight", Shape{{n, 0, 0, 0}, 1}, &formats::traits(formats::FormatId::F32), bytes});
}

std::shared_ptr<const tokenizer::Tokenizer> load_vocabulary_gguf(const std::filesystem::path& path,
                                                                 ModelSource& source) {
  const gguf::GgufFile vocab = gguf::GgufFile::open(path);
  if (vocab.find("tokenizer.ggml.model") == nullptr) {
    throw make_error("{}: no tokenizer.ggml.model: the file has no tokenizer to lend", path.string());
  }
  // The tokenizer metadata travels too, so a GGUF written from this source carries its vocabulary.
  for (const gguf::KeyValue& kv : vocab.metadata()) {
    if (kv.key.starts_with("tokenizer.")) source.metadata.push_back(kv);
  }
  return tokenizer::load_gguf_tokenizer(vocab);
}

}  // namespace

ModelSource open_hf_directory(const std::filesystem::path& dir, const SourceOptions& options) {
  const HfConfig config = read_hf_config(dir / "config.json");
  ModelSource source;
  source.description = fmt::format("Hugging Face directory '{}'", dir.string());
  source.path = dir;
  append_gguf_metadata(config, source.metadata);
  std::string name = dir.filename().string();
  if (name.empty()) name = dir.parent_path().filename().string();  // "dir/" has an empty filename
  source.metadata.push_back({"general.name", gguf::Value::from_string(name)});

  std::vector<std::filesystem::path> files;
  std::error_code ec;
  if (std::filesystem::is_regular_file(dir / "model.safetensors.index.json", ec)) {
    files = shard_files(dir);
  } else if (std::filesystem::is_regular_file(dir / "model.safetensors", ec)) {
    files.push_back(dir / "model.safetensors");
  } else {
    throw make_error("{}: neither model.safetensors nor model.safetensors.index.json is present", dir.string());
  }

  // GGUF name -> where it is. Every tensor of every shard must be accounted for.
  std::map<std::string, Located, std::less<>> by_name;
  for (const auto& path : files) {
    auto shard = std::make_shared<const SafetensorsFile>(SafetensorsFile::open(path));
    source.keep_alive.push_back(shard);
    for (const SafetensorsTensor& t : shard->tensors()) {
      // Older Llama exports save RoPE's inverse frequencies as a buffer; it is recomputed from rope_theta.
      if (t.name.ends_with(".rotary_emb.inv_freq")) continue;
      const auto gguf_name = hf_to_gguf_name(t.name);
      if (!gguf_name) {
        throw make_error("{}: tensor {} is not part of a {} (unknown name)", path.string(),
                         gguf::quote_for_message(t.name), config.architecture_name);
      }
      if (!by_name.emplace(*gguf_name, Located{shard.get(), &t}).second) {
        throw make_error("{}: tensor {} is stored twice", path.string(), gguf::quote_for_message(t.name));
      }
    }
  }

  std::size_t used = 0;
  for (const ExpectedTensor& e : expected_tensors(config)) {
    const auto it = by_name.find(e.name);
    if (it == by_name.end()) {
      if (!e.required) continue;
      throw make_error("{}: tensor {} ({}) is missing", dir.string(), gguf_to_hf_name(e.name).value_or(e.name), e.name);
    }
    ++used;
    const SafetensorsFile* file = it->second.file;
    const SafetensorsTensor* t = it->second.tensor;
    const auto fail = [&](const std::string& detail) {
      return make_error("{}: tensor {}: {}", file->path().string(), gguf::quote_for_message(t->name), detail);
    };
    if (t->dtype.format == nullptr)
      throw fail(fmt::format("dtype {} is not supported (F32, F16 or BF16)", t->dtype.name));
    Shape shape{{0, 0, 0, 0}, static_cast<int>(t->shape.size())};
    for (std::size_t i = 0; i < t->shape.size() && i < 4; ++i) shape.dims[i] = t->shape[i];
    if (t->shape.size() > 4 || shape != e.shape) {
      throw fail(fmt::format("shape [{}] does not match config.json, which implies {}", fmt::join(t->shape, ", "),
                             e.shape.to_string()));
    }
    std::span<const std::byte> data = file->data(*t);
    if (e.rope_heads > 0) {
      // Rotate-half rows to GGUF's interleaved pairs (llama.cpp's LlamaModel.permute).
      const std::span<std::byte> permuted = own_bytes(source, data.size());
      permute_rope_rows(data, permuted, e.rope_heads, shape.rank == 2 ? shape[1] * t->dtype.bytes : t->dtype.bytes,
                        false);
      data = permuted;
    } else {
      data = aligned_data(source, data, t->dtype.bytes);
    }
    source.tensors.push_back(SourceTensor{e.name, shape, t->dtype.format, data});
  }
  if (used != by_name.size()) {
    for (const auto& [gguf_name, where] : by_name) {
      if (source.find_tensor(gguf_name) == nullptr) {
        throw make_error("{}: tensor {} does not belong to a model with this config.json", where.file->path().string(),
                         gguf::quote_for_message(where.tensor->name));
      }
    }
  }
  if (config.rope_scaling.type == "llama3") add_llama3_rope_freqs(config, source);

  HfTokenizer tok = load_hf_tokenizer(dir, config);
  source.tokenizer = std::move(tok.tokenizer);
  source.metadata.insert(source.metadata.end(), tok.metadata.begin(), tok.metadata.end());
  if (source.tokenizer == nullptr && !options.vocabulary_gguf.empty()) {
    source.tokenizer = load_vocabulary_gguf(options.vocabulary_gguf, source);
  }
  if (source.tokenizer != nullptr && source.tokenizer->vocab_size() > config.vocab_size) {
    throw make_error("{}: the tokenizer has {} tokens, more than vocab_size = {}", dir.string(),
                     source.tokenizer->vocab_size(), config.vocab_size);
  }
  return source;
}

}  // namespace quantlm::io
