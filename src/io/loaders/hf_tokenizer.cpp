// A tokenizer from a Hugging Face tokenizer.json (byte-level or byte-fallback BPE) and its tokenizer.ggml.* metadata.
#include "io/loaders/hf_tokenizer.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/loaders/loader_util.h"

namespace quantlm::io {

namespace {

using nlohmann::json;
using tokenizer::TokenEntry;
using tokenizer::TokenId;
using tokenizer::TokenType;

// The Split regexes of the byte-level families the tokenizers implement, as tokenizer.json spells them.
constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

json read_json(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw make_error("{}: cannot open the file for reading", path.string());
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw make_error("{}: invalid JSON ({})", path.string(), e.what());
  }
}

// Every object of type `type` in a component that may be a "Sequence" of others.
void collect(const json& component, std::string_view type, std::vector<const json*>& out) {
  if (!component.is_object()) return;
  if (component.value("type", "") == type) out.push_back(&component);
  for (const char* list : {"pretokenizers", "normalizers", "decoders"}) {
    if (const auto it = component.find(list); it != component.end() && it->is_array()) {
      for (const json& c : *it) collect(c, type, out);
    }
  }
}

std::vector<const json*> find_all(const json& root, const char* component, std::string_view type) {
  std::vector<const json*> out;
  if (const auto it = root.find(component); it != root.end()) collect(*it, type, out);
  return out;
}

// A special token as tokenizer_config.json gives it: a string or {"content": ...}.
std::optional<std::string> token_text(const json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    return (*it)["content"].get<std::string>();
  return std::nullopt;
}

}  // namespace

HfTokenizer load_hf_tokenizer(const std::filesystem::path& dir, const HfConfig& config) {
  const auto path = dir / "tokenizer.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return {};
  const std::string file = path.string();
  const json root = read_json(path);
  if (!root.is_object()) throw make_error("{}: expected a JSON object", file);
  const auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object()) throw make_error("{}: key model is missing", file);
  const json& model = *model_it;
  const std::string model_type = model.value("type", "");
  if (model_type != "BPE") {
    throw make_error("{}: model type \"{}\" is not supported (BPE only: byte-level or with byte fallback)", file,
                     model_type);
  }
  const auto vocab_it = model.find("vocab");
  if (vocab_it == model.end() || !vocab_it->is_object() || vocab_it->empty()) {
    throw make_error("{}: model.vocab is missing or empty", file);
  }

  // Merges: "a b" strings, or [a, b] pairs in newer files.
  std::vector<std::string> merges;
  if (const auto it = model.find("merges"); it != model.end() && it->is_array()) {
    merges.reserve(it->size());
    for (const json& m : *it) {
      if (m.is_string()) {
        merges.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      } else {
        throw make_error(R"({}: model.merges entry {} is neither "a b" nor ["a", "b"])", file, merges.size());
      }
    }
  }

  // Ids: the model's vocabulary plus added tokens; llama.cpp pads up to config's vocab_size with [PAD<i>].
  std::map<TokenId, std::pair<std::string, TokenType>> by_id;
  const auto add = [&](const std::string& text, const json& id, TokenType type, bool replace) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() >= config.vocab_size) {
      throw make_error("{}: token {} has id {}, outside the model's vocab_size {}", file, gguf::quote_for_message(text),
                       id.dump(), config.vocab_size);
    }
    const auto [it, inserted] = by_id.try_emplace(static_cast<TokenId>(id.get<std::int64_t>()), text, type);
    if (!inserted && (!replace || it->second.first != text)) {
      throw make_error("{}: id {} is given to both {} and {}", file, it->first,
                       gguf::quote_for_message(it->second.first), gguf::quote_for_message(text));
    }
    it->second.second = type;
  };
  for (const auto& [text, id] : vocab_it->items()) add(text, id, TokenType::normal, false);
  if (const auto it = root.find("added_tokens"); it != root.end() && it->is_array()) {
    for (const json& t : *it) {
      if (!t.is_object() || !t.contains("content") || !t["content"].is_string() || !t.contains("id")) {
        throw make_error("{}: an added_tokens entry lacks content or id", file);
      }
      add(t["content"].get<std::string>(), t["id"],
          t.value("special", false) ? TokenType::control : TokenType::user_defined, true);
    }
  }
  const std::int64_t n_tokens = std::max<std::int64_t>(config.vocab_size, by_id.rbegin()->first + 1);

  const bool byte_level =
      !find_all(root, "pre_tokenizer", "ByteLevel").empty() || !find_all(root, "decoder", "ByteLevel").empty();
  const bool byte_fallback = model.value("byte_fallback", false);
  if (!byte_level && !byte_fallback) {
    throw make_error("{}: a BPE tokenizer without ByteLevel or byte_fallback is not supported", file);
  }

  // SentencePiece-style BPE in llama.cpp merges by token score, so each merge
  // result gets -rank: the same priorities as the merges' order (which is how
  // transformers' converter ordered them, by the SentencePiece scores).
  std::map<std::string, float, std::less<>> merge_score;
  if (!byte_level) {
    for (std::size_t r = 0; r < merges.size(); ++r) {
      const std::size_t space = merges[r].find(' ');
      if (space == std::string::npos) throw make_error("{}: model.merges entry {} has no space", file, r);
      std::string merged = merges[r].substr(0, space) + merges[r].substr(space + 1);
      merge_score.try_emplace(std::move(merged), -static_cast<float>(r));
    }
  }
  const std::string unk_text = model.contains("unk_token") && model["unk_token"].is_string()
                                   ? model["unk_token"].get<std::string>()
                                   : std::string();
  std::vector<TokenEntry> tokens(static_cast<std::size_t>(n_tokens));
  for (TokenId id = 0; id < n_tokens; ++id) {
    TokenEntry& t = tokens[static_cast<std::size_t>(id)];
    const auto it = by_id.find(id);
    if (it == by_id.end()) {
      t = {fmt::format("[PAD{}]", id), 0.0F, TokenType::unused};
      continue;
    }
    t.text = it->second.first;
    t.type = it->second.second;
    if (!byte_level) {
      if (t.type == TokenType::normal && tokenizer::parse_byte_token(t.text) >= 0) t.type = TokenType::byte;
      if (t.text == unk_text) t.type = TokenType::unknown;
      const auto s = merge_score.find(t.text);
      // Tokens no merge makes (characters, bytes, specials) rank below every merge.
      t.score = s != merge_score.end() ? s->second : -static_cast<float>(merges.size() + static_cast<std::size_t>(id));
    }
  }

  // Special ids and flags: config.json's ids, then tokenizer_config.json's.
  const std::string source_name = file;
  tokenizer::Vocabulary vocab(std::move(tokens), source_name);
  json tok_config = json::object();
  if (std::filesystem::is_regular_file(dir / "tokenizer_config.json", ec)) {
    tok_config = read_json(dir / "tokenizer_config.json");
    if (!tok_config.is_object())
      throw make_error("{}: expected a JSON object", (dir / "tokenizer_config.json").string());
  }
  tokenizer::TokenizerConfig tc;
  std::string model_name;
  std::string pre_name;
  if (byte_level) {
    model_name = "gpt2";
    const auto splits = find_all(root, "pre_tokenizer", "Split");
    std::string regex;
    if (!splits.empty()) {
      const json& pattern = (*splits.front())["pattern"];
      if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string()) {
        regex = pattern["Regex"].get<std::string>();
      }
    }
    if (regex.empty()) {
      pre_name = "gpt-2";
    } else if (regex == kLlama3Regex) {
      pre_name = "llama-bpe";
    } else if (regex == kQwen2Regex) {
      pre_name = "qwen2";
    } else {
      throw make_error("{}: pre_tokenizer Split regex {} is not one of the supported families (GPT-2, Llama 3, Qwen2)",
                       file, gguf::quote_for_message(regex, 200));
    }
    const auto info = tokenizer::find_pre_tokenizer(pre_name);
    tc.pre_tokenizer = info->kind;
    tc.clean_spaces = info->clean_spaces;
    tc.ignore_merges = model.value("ignore_merges", info->ignore_merges);
    tc.add_bos = info->add_bos;
  } else {
    model_name = "llama";
    tc.add_bos = true;
    // The space before the text: a Prepend("▁") normalizer (Llama 2) or a Metaspace pre-tokenizer that prepends.
    bool prefix = false;
    for (const json* p : find_all(root, "normalizer", "Prepend"))
      prefix = prefix || p->value("prepend", "") == "\u2581";
    for (const json* m : find_all(root, "pre_tokenizer", "Metaspace")) {
      prefix = prefix || m->value("add_prefix_space", false) || m->value("prepend_scheme", "never") != "never";
    }
    tc.add_space_prefix = prefix;
  }
  const auto id_of = [&](const std::optional<std::string>& text) {
    return text ? vocab.find(*text) : tokenizer::kNoToken;
  };
  const auto valid = [&](std::optional<std::int64_t> id) {
    return id && *id >= 0 && *id < vocab.size() ? static_cast<TokenId>(*id) : tokenizer::kNoToken;
  };
  tc.unk = unk_text.empty() ? tokenizer::kNoToken : vocab.find(unk_text);
  tc.bos = valid(config.bos_token_id);
  tc.eos = valid(config.eos_token_id);
  if (const TokenId id = id_of(token_text(tok_config, "bos_token")); id != tokenizer::kNoToken) tc.bos = id;
  if (const TokenId id = id_of(token_text(tok_config, "eos_token")); id != tokenizer::kNoToken) tc.eos = id;
  if (const TokenId id = id_of(token_text(tok_config, "pad_token")); id != tokenizer::kNoToken) tc.pad = id;
  if (tok_config.contains("add_bos_token") && tok_config["add_bos_token"].is_boolean()) {
    tc.add_bos = tok_config["add_bos_token"].get<bool>();
  }
  if (tok_config.contains("add_eos_token") && tok_config["add_eos_token"].is_boolean()) {
    tc.add_eos = tok_config["add_eos_token"].get<bool>();
  }
  if (tc.add_bos && tc.bos == tokenizer::kNoToken) tc.add_bos = false;  // nothing to add

  HfTokenizer out;
  const std::vector<std::string> gguf_merges = byte_level ? merges : std::vector<std::string>{};
  append_tokenizer_metadata(vocab, tc, model_name, pre_name, gguf_merges, out.metadata);
  if (byte_level) {
    out.tokenizer = tokenizer::make_byte_level_bpe_tokenizer(std::move(vocab), merges, tc);
  } else {
    out.tokenizer = tokenizer::make_sentencepiece_tokenizer(std::move(vocab), tc);
  }
  return out;
}

}  // namespace quantlm::io
