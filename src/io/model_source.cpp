// open_model_source: recognises the kind of model file and hands it to its loader; the GGUF loader itself.
#include "io/model_source.h"

#include <array>
#include <cstring>
#include <fstream>
#include <memory>
#include <system_error>

#include "core/error.h"
#include "io/gguf/gguf_file.h"
#include "io/loaders/hf_loader.h"
#include "io/loaders/llama2c_loader.h"
#include "io/tokenizer/tokenizer.h"

namespace quantlm::io {

namespace {

// GGUF needs nothing translated: metadata is copied, tensor data stays in the
// mapping, which the source keeps alive through keep_alive.
ModelSource open_gguf(const std::filesystem::path& path) {
  auto file = std::make_shared<const gguf::GgufFile>(gguf::GgufFile::open(path));
  ModelSource source;
  source.description = fmt::format("GGUF v{} '{}'", file->version(), path.string());
  source.path = path;
  source.metadata = file->metadata();
  source.tensors.reserve(file->tensors().size());
  for (const gguf::TensorInfo& info : file->tensors()) {
    source.tensors.push_back(SourceTensor{info.name, info.shape, info.format, file->tensor_data(info)});
  }
  if (file->find("tokenizer.ggml.model") != nullptr) source.tokenizer = tokenizer::load_gguf_tokenizer(*file);
  source.keep_alive.push_back(file);
  return source;
}

// Whether the file starts with "GGUF". A file too short to hold the magic is not GGUF.
bool starts_with_gguf_magic(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw make_error("{}: cannot open the file for reading", path.string());
  std::array<char, 4> magic{};
  in.read(magic.data(), magic.size());
  return in.gcount() == 4 && std::memcmp(magic.data(), "GGUF", 4) == 0;
}

}  // namespace

const gguf::Value* ModelSource::find(std::string_view key) const {
  for (const gguf::KeyValue& kv : metadata) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

const SourceTensor* ModelSource::find_tensor(std::string_view name) const {
  for (const SourceTensor& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

ModelSource open_model_source(const std::filesystem::path& path, const SourceOptions& options) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) throw make_error("{}: no such file or directory", path.string());
  if (std::filesystem::is_directory(status)) {
    if (!std::filesystem::is_regular_file(path / "config.json", ec)) {
      throw make_error("{}: a directory without config.json (expected a Hugging Face model directory)", path.string());
    }
    return open_hf_directory(path, options);
  }
  if (!std::filesystem::is_regular_file(status)) throw make_error("{}: not a regular file", path.string());
  if (starts_with_gguf_magic(path)) return open_gguf(path);
  if (path.extension() == ".bin") return open_llama2c(path, options);
  // A Hugging Face directory named by one of its files.
  if ((path.filename() == "config.json" || path.extension() == ".safetensors") &&
      std::filesystem::is_regular_file(path.parent_path() / "config.json", ec)) {
    return open_hf_directory(path.parent_path(), options);
  }
  throw make_error(
      "{}: unknown model file kind (expected a GGUF file, a llama2.c .bin checkpoint or a Hugging Face directory "
      "with config.json)",
      path.string());
}

}  // namespace quantlm::io
