// Writing a model source as a Hugging Face directory: config.json + model.safetensors.
#include "io/loaders/hf_writer.h"

#include <set>

#include "core/aligned_buffer.h"
#include "core/error.h"
#include "io/gguf/gguf_value.h"
#include "io/loaders/hf_config.h"
#include "io/loaders/hf_names.h"
#include "io/loaders/loader_util.h"
#include "io/loaders/safetensors_writer.h"

namespace quantlm::io {

namespace {

std::string dtype_name(const formats::FormatTraits& format) {
  switch (format.element_type) {
    case ElementType::f32:
      return "F32";
    case ElementType::f16:
      return "F16";
    case ElementType::bf16:
      return "BF16";
    case ElementType::blocks:
      break;
  }
  return {};
}

}  // namespace

void write_hf_directory(const ModelSource& source, const std::filesystem::path& dir) {
  const HfConfig config = hf_config_from_source(source);
  const std::vector<ExpectedTensor> expected = expected_tensors(config);

  // Check everything before creating any file.
  std::vector<SafetensorsSpec> specs;
  std::vector<std::pair<const SourceTensor*, std::int64_t>> plan;  // tensor, RoPE heads to un-permute
  std::set<std::string_view> known;
  for (const ExpectedTensor& e : expected) {
    known.insert(e.name);
    const SourceTensor* t = source.find_tensor(e.name);
    if (t == nullptr) {
      if (!e.required) continue;
      throw make_error("{}: tensor {} is missing", source.description, e.name);
    }
    const std::string dtype = dtype_name(*t->format);
    if (dtype.empty()) {
      throw make_error("{}: tensor {} is {}; only F32, F16 and BF16 tensors can be written to safetensors",
                       source.description, t->name, t->format->name);
    }
    if (t->shape != e.shape) {
      throw make_error("{}: tensor {} has shape {}, but the metadata implies {}", source.description, t->name,
                       t->shape.to_string(), e.shape.to_string());
    }
    specs.push_back({*gguf_to_hf_name(e.name), dtype, {t->shape.dims.begin(), t->shape.dims.begin() + t->shape.rank}});
    plan.emplace_back(t, e.rope_heads);
  }
  for (const SourceTensor& t : source.tensors) {
    if (!known.contains(t.name)) {
      throw make_error("{}: tensor {} has no Hugging Face {} counterpart", source.description,
                       gguf::quote_for_message(t.name), config.architecture_name);
    }
  }
  std::error_code ec;
  if (std::filesystem::exists(dir / "model.safetensors.index.json", ec)) {
    throw make_error("{}: the directory holds a sharded checkpoint (model.safetensors.index.json); choose another",
                     dir.string());
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) throw make_error("{}: cannot create the directory: {}", dir.string(), ec.message());

  SafetensorsWriter writer(dir / "model.safetensors", std::move(specs), {{"format", "pt"}});
  for (const auto& [t, rope_heads] : plan) {
    if (rope_heads == 0) {
      writer.write_tensor(t->data);
      continue;
    }
    // GGUF's interleaved pairs back to rotate-half, one tensor's buffer at a time.
    AlignedBuffer<> permuted(t->data.size(), BufferInit::uninitialized);
    const std::int64_t element = t->format->block_bytes;
    permute_rope_rows(t->data, permuted.bytes(), rope_heads, t->shape.rank == 2 ? t->shape[1] * element : element,
                      true);
    writer.write_tensor(permuted.bytes());
  }
  writer.finish();
  // config.json last: a directory with a config.json has its weights.
  AtomicFile config_file(dir / "config.json");
  config_file.write(hf_config_to_json(config));
  config_file.commit();
}

}  // namespace quantlm::io
