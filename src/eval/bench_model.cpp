// Opening a model file for speed measurement: the float engine plus what a bench report says about the file.
#include "eval/bench_model.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "formats/format_traits.h"
#include "io/model_source.h"
#include "kernels/matmul.h"

namespace quantlm::eval {
namespace {

void add_matrix(BenchModel& m, std::map<std::uint32_t, WeightFormatUse>& by_format, const TensorView& w) {
  const formats::FormatTraits& format = *formats::find_format(w.storage.format_id);
  WeightFormatUse& use = by_format[w.storage.format_id];
  if (use.format.empty()) {
    use.format = std::string(format.name);
    use.kernel = kernels::select_kernel(format).name();
  }
  ++use.matrices;
  use.elements += w.shape.elements();
  use.bytes += static_cast<std::uint64_t>(w.bytes());
  m.decode_weight_bytes += static_cast<std::uint64_t>(w.bytes());
}

}  // namespace

BenchModel open_bench_model(const std::filesystem::path& path, std::int64_t context_length) {
  try {
    const io::ModelSource source = io::open_model_source(path);
    BenchModel m;
    m.description = source.description;
    for (const io::SourceTensor& t : source.tensors) {
      m.tensor_bytes += t.data.size();
      m.parameters += t.shape.elements();
    }
    if (const gguf::Value* v = source.find("general.architecture"); v != nullptr && v->as_string() != nullptr) {
      m.architecture = *v->as_string();
    }
    if (const gguf::Value* v = source.find("general.name"); v != nullptr && v->as_string() != nullptr) {
      m.name = *v->as_string();
    }
    if (const gguf::Value* v = source.find("general.file_type"); v != nullptr) m.file_type = v->as_int();
    m.lm = std::make_unique<model::LlamaModel>(source, model::LlamaOptions{.context_length = context_length});

    std::map<std::uint32_t, WeightFormatUse> by_format;
    const model::LlamaWeights& w = m.lm->weights();
    for (const model::LlamaLayer& l : w.layers) {
      for (const TensorView* v : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
        add_matrix(m, by_format, *v);
      }
    }
    add_matrix(m, by_format, w.output);
    if (!w.tied_output) m.decode_weight_bytes += static_cast<std::uint64_t>(w.token_embd.row_bytes());
    for (auto& [id, use] : by_format) m.weight_formats.push_back(std::move(use));
    std::sort(m.weight_formats.begin(), m.weight_formats.end(),
              [](const WeightFormatUse& a, const WeightFormatUse& b) { return a.bytes > b.bytes; });
    return m;
  } catch (const Error& e) {
    throw make_error("MODEL '{}': {}", path.string(), e.what());
  }
}

}  // namespace quantlm::eval
