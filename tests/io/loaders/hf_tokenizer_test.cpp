// tokenizer.json: a SentencePiece-style vocabulary rebuilt from stories260K's GGUF tokenizes as the GGUF does;
// byte-level BPE.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "io/gguf/gguf_file.h"
#include "io/model_source.h"
#include "io/tokenizer/tokenizer.h"
#include "support/assets.h"
#include "support/temp_dir.h"
#include "synthetic_hf.h"

namespace quantlm::io {
namespace {

using nlohmann::json;
using tokenizer::TokenId;

// The positions where a UTF-8 string may be split (code point boundaries).
std::vector<std::size_t> boundaries(const std::string& s) {
  std::vector<std::size_t> out;
  for (std::size_t i = 1; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0U) != 0x80U) out.push_back(i);
  }
  return out;
}

// tokenizer.json for a SentencePiece vocabulary: merges in score order, each
// making a token from two others (how transformers' converter orders them).
json sentencepiece_tokenizer_json(const tokenizer::Tokenizer& tok) {
  const auto& v = tok.vocabulary();
  json vocab = json::object();
  std::vector<TokenId> by_score;
  for (TokenId id = 0; id < v.size(); ++id) {
    vocab[v[id].text] = id;
    if (v[id].type == tokenizer::TokenType::normal) by_score.push_back(id);
  }
  std::stable_sort(by_score.begin(), by_score.end(), [&](TokenId a, TokenId b) { return v[a].score > v[b].score; });
  json merges = json::array();
  for (const TokenId id : by_score) {
    const std::string& text = v[id].text;
    for (const std::size_t cut : boundaries(text)) {
      const std::string left = text.substr(0, cut);
      const std::string right = text.substr(cut);
      if (v.find(left) != tokenizer::kNoToken && v.find(right) != tokenizer::kNoToken) {
        merges.push_back(left + " " + right);
        break;
      }
    }
  }
  json added = json::array();
  for (TokenId id : {0, 1, 2}) {
    added.push_back({{"id", id}, {"content", v[id].text}, {"special", true}});
  }
  return {{"version", "1.0"},
          {"added_tokens", added},
          {"normalizer",
           {{"type", "Sequence"},
            {"normalizers",
             {{{"type", "Prepend"}, {"prepend", "\u2581"}},
              {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}}},
          {"pre_tokenizer", nullptr},
          {"model",
           {{"type", "BPE"}, {"unk_token", "<unk>"}, {"byte_fallback", true}, {"vocab", vocab}, {"merges", merges}}}};
}

TEST(HfTokenizer, SentencePieceFromTokenizerJsonMatchesTheGguf) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const auto model = assets / "models/stories260K";
  const auto gguf_tok = tokenizer::load_gguf_tokenizer(gguf::GgufFile::open(model / "stories260K.gguf"));
  test::TempDir tmp;
  std::filesystem::copy_file(model / "hf/config.json", tmp / "config.json");
  std::filesystem::create_symlink(model / "hf/model.safetensors", tmp / "model.safetensors");
  std::ofstream(tmp / "tokenizer.json") << sentencepiece_tokenizer_json(*gguf_tok).dump();

  const ModelSource s = open_model_source(tmp.path());
  ASSERT_NE(s.tokenizer, nullptr);
  EXPECT_EQ(s.tokenizer->kind(), tokenizer::TokenizerKind::sentencepiece);
  EXPECT_EQ(s.tokenizer->vocab_size(), 512);
  EXPECT_EQ(s.tokenizer->bos(), 1);
  EXPECT_EQ(s.tokenizer->eos(), 2);
  EXPECT_EQ(s.tokenizer->unk(), 0);
  EXPECT_TRUE(s.tokenizer->adds_bos_by_default());
  for (TokenId id = 0; id < 512; ++id) {
    EXPECT_EQ(s.tokenizer->vocabulary()[id].type, gguf_tok->vocabulary()[id].type) << id;
  }
  std::ifstream in(assets / "text/tinystories/sample.txt");
  std::stringstream text;
  text << in.rdbuf();
  const auto ids = s.tokenizer->encode(text.str(), true);
  EXPECT_EQ(ids, gguf_tok->encode(text.str(), true));
  EXPECT_EQ(ids.size(), 1879U);  // the golden count (llama.cpp)
  EXPECT_EQ(s.tokenizer->decode(std::span(ids).subspan(1)), text.str());
  ASSERT_NE(s.find("tokenizer.ggml.model"), nullptr);
  EXPECT_EQ(*s.find("tokenizer.ggml.model")->as_string(), "llama");
}

// GPT-2's byte-to-character map: printable bytes stand for themselves, the rest move to U+0100 and up.
std::string byte_char(int b) {
  int shifted = 0;
  int code = 0;
  for (int i = 0; i <= b; ++i) {
    const bool printable = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || i >= 174;
    code = printable ? i : 256 + shifted++;
  }
  std::string out;
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
  return out;
}

struct ByteLevel {
  json vocab = json::object();
  std::vector<std::string> merges = {"h e", "l l", "he ll", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "1 2"};
  std::vector<tokenizer::TokenEntry> entries;

  ByteLevel() {
    for (int b = 0; b < 256; ++b) entries.push_back({byte_char(b), 0.0F, tokenizer::TokenType::normal});
    for (const std::string& m : merges) {
      entries.push_back({m.substr(0, m.find(' ')) + m.substr(m.find(' ') + 1), 0.0F, tokenizer::TokenType::normal});
    }
    for (std::size_t i = 0; i < entries.size(); ++i) vocab[entries[i].text] = i;
  }

  [[nodiscard]] json tokenizer_json(const json& pre_tokenizer) const {
    return {{"added_tokens", {{{"id", entries.size()}, {"content", "<|endoftext|>"}, {"special", true}}}},
            {"pre_tokenizer", pre_tokenizer},
            {"decoder", {{"type", "ByteLevel"}}},
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
  }
};

TEST(HfTokenizer, ByteLevelFamilies) {
  const ByteLevel bl;
  const std::string qwen_regex =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  const json gpt2_pre = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  const json qwen_pre = {{"type", "Sequence"},
                         {"pretokenizers",
                          {{{"type", "Split"}, {"pattern", {{"Regex", qwen_regex}}}, {"behavior", "Isolated"}},
                           {{"type", "ByteLevel"}, {"use_regex", false}}}}};
  for (const auto& [pre, kind, name] : {std::tuple{gpt2_pre, tokenizer::PreTokenizer::gpt2, "gpt-2"},
                                        std::tuple{qwen_pre, tokenizer::PreTokenizer::qwen2, "qwen2"}}) {
    SCOPED_TRACE(name);
    test::TempDir tmp;
    auto config = test_util::small_config("Qwen2ForCausalLM");
    config["vocab_size"] = 300;  // ids 266..299 become [PAD<id>] tokens
    config["bos_token_id"] = 265;
    config["eos_token_id"] = 265;
    test_util::write_hf_dir(tmp.path(), config, test_util::tensors_for(config));
    std::ofstream(tmp / "tokenizer.json") << bl.tokenizer_json(pre).dump();
    const ModelSource s = open_model_source(tmp.path());
    ASSERT_NE(s.tokenizer, nullptr);
    EXPECT_EQ(s.tokenizer->kind(), tokenizer::TokenizerKind::byte_level_bpe);
    EXPECT_EQ(s.tokenizer->config().pre_tokenizer, kind);
    EXPECT_EQ(s.tokenizer->vocab_size(), 300);
    EXPECT_EQ(s.tokenizer->vocabulary()[299].text, "[PAD299]");
    EXPECT_EQ(s.tokenizer->vocabulary()[265].type, tokenizer::TokenType::control);
    EXPECT_EQ(*s.find("tokenizer.ggml.pre")->as_string(), name);

    // The same vocabulary and merges through the factory give the same ids.
    auto entries = bl.entries;
    entries.push_back({"<|endoftext|>", 0.0F, tokenizer::TokenType::control});
    for (int id = 266; id < 300; ++id)
      entries.push_back({fmt::format("[PAD{}]", id), 0.0F, tokenizer::TokenType::unused});
    tokenizer::TokenizerConfig tc = s.tokenizer->config();
    const auto direct =
        tokenizer::make_byte_level_bpe_tokenizer(tokenizer::Vocabulary(entries, "direct"), bl.merges, tc);
    for (const std::string text : {"hello world", "hello  world 12345<|endoftext|>x", "héllo\nworld"}) {
      const auto ids = s.tokenizer->encode(text, tokenizer::EncodeOptions{.parse_special = true});
      EXPECT_EQ(ids, direct->encode(text, tokenizer::EncodeOptions{.parse_special = true})) << text;
      EXPECT_EQ(s.tokenizer->decode(ids, {.render_special = true}), text);
    }
    const auto hello = s.tokenizer->encode("hello world", false);
    EXPECT_EQ(hello, (std::vector<TokenId>{258, 'o', 263}));  // "hell" "o" "Ġworld"
  }
}

TEST(HfTokenizer, Unsupported) {
  const ByteLevel bl;
  test::TempDir tmp;
  auto config = test_util::small_config("Qwen2ForCausalLM");
  config["vocab_size"] = 300;
  test_util::write_hf_dir(tmp.path(), config, test_util::tensors_for(config));
  const auto expect = [&](const json& tokenizer_json, const std::vector<std::string>& needles) {
    std::ofstream(tmp / "tokenizer.json") << tokenizer_json.dump();
    auto all = needles;
    all.push_back("tokenizer.json");
    test_util::expect_error([&] { (void)open_model_source(tmp.path()); }, all);
  };
  json t = bl.tokenizer_json({{"type", "Split"}, {"pattern", {{"Regex", "\\w+"}}}});
  expect(t, {"regex", "not one of the supported"});
  t["model"]["type"] = "Unigram";
  expect(t, {"Unigram", "not supported"});
  t = bl.tokenizer_json(nullptr);
  t.erase("decoder");
  expect(t, {"without ByteLevel or byte_fallback"});
  t = bl.tokenizer_json(nullptr);
  t["model"]["vocab"]["zzz"] = 5000;
  expect(t, {"zzz", "outside"});
  t = bl.tokenizer_json(nullptr);
  t["model"]["vocab"]["zzz"] = 3;
  expect(t, {"id 3"});
  t = bl.tokenizer_json(nullptr);
  t["model"]["merges"] = {{1, 2}};
  expect(t, {"merges"});
  std::ofstream(tmp / "tokenizer.json") << "{";
  test_util::expect_error([&] { (void)open_model_source(tmp.path()); }, {"tokenizer.json", "invalid JSON"});
}

}  // namespace
}  // namespace quantlm::io
