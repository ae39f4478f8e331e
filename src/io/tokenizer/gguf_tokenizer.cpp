// Building a tokenizer from a GGUF file's tokenizer.ggml.* metadata, with llama.cpp 34af94cd's defaults.
#include <algorithm>
#include <limits>
#include <string>

#include "core/error.h"
#include "core/log.h"
#include "io/gguf/gguf_file.h"
#include "io/tokenizer/tokenizer.h"

namespace quantlm::tokenizer {

namespace {

using gguf::GgufFile;
using gguf::Value;
using gguf::ValueType;

// Reads and type-checks metadata, naming the file and key in every error.
class Metadata {
 public:
  explicit Metadata(const GgufFile& file) : file_(file) {}

  [[nodiscard]] std::string path() const { return file_.path().string(); }

  [[nodiscard]] const Value* find(std::string_view key) const { return file_.find(key); }

  [[nodiscard]] const std::string* string(std::string_view key, bool required) const {
    const Value* v = find(key);
    if (v == nullptr) {
      if (required) throw make_error("{}: metadata key {} is missing (expected a string)", path(), key);
      return nullptr;
    }
    const std::string* s = v->as_string();
    if (s == nullptr) throw wrong_type(key, *v, "a string");
    return s;
  }

  [[nodiscard]] std::optional<bool> boolean(std::string_view key) const {
    const Value* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (v->type() != ValueType::boolean) throw wrong_type(key, *v, "a bool");
    return std::get<bool>(v->storage());
  }

  // A token id: any integer type. Values outside the vocabulary keep the
  // default, as llama.cpp does (files write 0xFFFFFFFF for "none").
  void token_id(std::string_view key, std::int32_t n_tokens, TokenId& id) const {
    const Value* v = find(key);
    if (v == nullptr) return;
    const std::optional<std::int64_t> value = v->type() == ValueType::boolean ? std::nullopt : v->as_int();
    if (!value) throw wrong_type(key, *v, "an integer token id");
    if (*value < 0 || *value >= n_tokens) {
      log_debug("{}: {} = {} is outside the vocabulary of {} tokens; keeping {}", path(), key, *value, n_tokens, id);
      return;
    }
    id = static_cast<TokenId>(*value);
  }

  // An array of `element` type: the vector inside, or nullptr when absent.
  template <typename T>
  [[nodiscard]] const std::vector<T>* array(std::string_view key, ValueType element, std::string_view expected,
                                            bool required) const {
    const Value* v = find(key);
    if (v == nullptr) {
      if (required) throw make_error("{}: metadata key {} is missing (expected {})", path(), key, expected);
      return nullptr;
    }
    const gguf::Array* a = v->as_array();
    if (a == nullptr || a->element_type != element) throw wrong_type(key, *v, expected);
    return &std::get<std::vector<T>>(a->items);
  }

 private:
  [[nodiscard]] Error wrong_type(std::string_view key, const Value& v, std::string_view expected) const {
    std::string type(gguf::value_type_name(v.type()));
    if (const gguf::Array* a = v.as_array()) type += fmt::format(" of {}", gguf::value_type_name(a->element_type));
    return make_error("{}: metadata key {} has type {}, expected {}", path(), key, type, expected);
  }

  const GgufFile& file_;
};

std::vector<TokenEntry> read_tokens(const Metadata& md) {
  const auto& texts = *md.array<std::string>("tokenizer.ggml.tokens", ValueType::string, "an array of strings", true);
  const auto n = texts.size();
  if (n == 0) throw make_error("{}: tokenizer.ggml.tokens is empty", md.path());
  const auto* scores = md.array<float>("tokenizer.ggml.scores", ValueType::f32, "an array of f32", false);
  const auto* types = md.array<std::int32_t>("tokenizer.ggml.token_type", ValueType::i32, "an array of i32", false);
  if (scores != nullptr && scores->size() < n) {
    throw make_error("{}: tokenizer.ggml.scores has {} entries for {} tokens", md.path(), scores->size(), n);
  }
  if (types != nullptr && types->size() < n) {
    throw make_error("{}: tokenizer.ggml.token_type has {} entries for {} tokens", md.path(), types->size(), n);
  }
  std::vector<TokenEntry> tokens(n);
  for (std::size_t i = 0; i < n; ++i) {
    TokenEntry& t = tokens[i];
    // llama.cpp names empty tokens so that they stay distinct and printable.
    t.text = texts[i].empty() ? fmt::format("[EMPTY_{}]", i) : texts[i];
    t.score = scores != nullptr ? (*scores)[i] : 0.0F;
    t.type = types != nullptr ? token_type_from_int((*types)[i]) : TokenType::normal;
  }
  return tokens;
}

}  // namespace

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const GgufFile& file) {
  const Metadata md(file);
  const std::string model = *md.string("tokenizer.ggml.model", true);
  const std::string* pre_name = md.string("tokenizer.ggml.pre", false);

  TokenizerConfig config;
  std::optional<PreTokenizerInfo> pre;
  // Defaults by model, as llama.cpp sets them before reading the metadata.
  if (model == "llama") {
    config.bos = 1;
    config.eos = 2;
    config.unk = 0;
    config.add_bos = true;
    config.add_space_prefix = true;
  } else if (model == "gpt2") {
    if (pre_name == nullptr) {
      log_warn(
          "{}: tokenizer.ggml.pre is missing; using the default pre-tokenizer, which may tokenize differently "
          "from the model's own tokenizer",
          md.path());
    }
    pre = find_pre_tokenizer(pre_name != nullptr ? *pre_name : "default");
    if (!pre) {
      throw make_error("{}: tokenizer.ggml.pre = \"{}\" is not supported (supported: {})", md.path(), *pre_name,
                       supported_pre_tokenizers());
    }
    config.bos = pre->has_bos ? 11 : kNoToken;  // llama.cpp's default for BPE vocabularies
    config.eos = 11;
    config.add_bos = pre->add_bos;
    config.clean_spaces = pre->clean_spaces;
    config.ignore_merges = pre->ignore_merges;
    config.pre_tokenizer = pre->kind;
  } else {
    throw make_error("{}: tokenizer.ggml.model = \"{}\" is not supported (supported: llama, gpt2)", md.path(), model);
  }

  std::vector<TokenEntry> tokens = read_tokens(md);
  const auto n_tokens = static_cast<std::int32_t>(
      std::min<std::size_t>(tokens.size(), static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())));
  for (TokenId* id : {&config.bos, &config.eos, &config.unk}) {
    if (*id >= n_tokens) *id = kNoToken;  // a default outside a small vocabulary means none
  }
  md.token_id("tokenizer.ggml.bos_token_id", n_tokens, config.bos);
  md.token_id("tokenizer.ggml.eos_token_id", n_tokens, config.eos);
  md.token_id("tokenizer.ggml.unknown_token_id", n_tokens, config.unk);
  md.token_id("tokenizer.ggml.seperator_token_id", n_tokens, config.sep);  // sic: the key GGUF uses
  md.token_id("tokenizer.ggml.padding_token_id", n_tokens, config.pad);
  if (const auto v = md.boolean("tokenizer.ggml.add_bos_token")) config.add_bos = *v;
  if (const auto v = md.boolean("tokenizer.ggml.add_eos_token")) config.add_eos = *v;
  // For BPE this only affects decoding (the first token's leading space is
  // dropped), as in llama.cpp.
  if (const auto v = md.boolean("tokenizer.ggml.add_space_prefix")) config.add_space_prefix = *v;

  Vocabulary vocab(std::move(tokens), md.path());
  if (model == "llama") return make_sentencepiece_tokenizer(std::move(vocab), config);
  const auto* merges = md.array<std::string>("tokenizer.ggml.merges", ValueType::string, "an array of strings", true);
  return make_byte_level_bpe_tokenizer(std::move(vocab), *merges, config);
}

}  // namespace quantlm::tokenizer
