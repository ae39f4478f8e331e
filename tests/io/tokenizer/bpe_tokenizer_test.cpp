// Byte-level BPE on a small hand-built vocabulary: merge order, fallbacks, special tokens, decoding, GGUF loading.
// The expected ids are worked out by hand; the same vocabulary written as a GGUF gives the same ids and decoded
// text in llama.cpp 34af94cd (llama_tokenize / llama_detokenize), checked once outside this suite.
#include <gtest/gtest.h>

#include "core/error.h"
#include "io/gguf/gguf_file.h"
#include "io/tokenizer/tokenizer.h"
#include "io/tokenizer/unicode.h"
#include "support/temp_dir.h"
#include "test_support.h"

namespace quantlm::tokenizer {
namespace {

using Ids = std::vector<TokenId>;

// Ids 0..255 are the GPT-2 characters of bytes 0..255 (so a byte's id is its
// value: ' ' is 32 and spelled "Ġ"); merged tokens and specials follow.
constexpr TokenId kLl = 256, kGt = 257, kHe = 258, kGthe = 259, kHell = 260, kHello = 261, kGw = 262, kOr = 263,
                  kGwor = 264, kLd = 265, kGworld = 266, kAa = 267, kGfoo = 268, kEot = 269, kUser = 270, kEuro = 271,
                  kByteA = 272;

std::vector<TokenEntry> make_tokens() {
  std::vector<TokenEntry> tokens;
  for (unsigned b = 0; b < 256; ++b) tokens.push_back({byte_encode(std::string(1, static_cast<char>(b))), 0.0F});
  for (const char* text :
       {"ll", "Ġt", "he", "Ġthe", "hell", "hello", "Ġw", "or", "Ġwor", "ld", "Ġworld", "aa", "Ġfoo"}) {
    tokens.push_back({text, 0.0F});
  }
  tokens.push_back({"<|endoftext|>", 0.0F, TokenType::control});
  tokens.push_back({"<|user|>", 0.0F, TokenType::user_defined});
  tokens.push_back({"€", 0.0F});  // a normal token outside the byte map (decodes as llama.cpp's UNK_BYTE)
  tokens.push_back({"<0x41>", 0.0F, TokenType::byte});
  return tokens;
}

// Rank = position. "h e" outranks "e l", so "hell" must come from "he" + "ll";
// "x y" makes a piece that is not a token.
const std::vector<std::string> kMerges = {"l l", "Ġ t", "h e",   "Ġt he", "e l",     "he ll", "hell o",
                                          "Ġ w", "o r", "Ġw or", "l d",   "Ġwor ld", "a a",   "x y"};

std::unique_ptr<Tokenizer> make(TokenizerConfig config = {}) {
  config.bos = kEot;
  config.eos = kEot;
  if (config.pre_tokenizer == PreTokenizer::llama_default) config.pre_tokenizer = PreTokenizer::gpt2;
  return make_byte_level_bpe_tokenizer(Vocabulary(make_tokens(), "test-vocab"), kMerges, config);
}

TEST(ByteLevelBpe, MergesByRankWithinWords) {
  const auto tok = make();
  EXPECT_EQ(tok->kind(), TokenizerKind::byte_level_bpe);
  // Words "hello", " the", " world"; in "hello" l+l (rank 0) goes first, then
  // h+e (2), leaving e+l (4) stale, then he+ll (5), then hell+o (6).
  EXPECT_EQ(tok->encode("hello the world", false), (Ids{kHello, kGthe, kGworld}));
  // No merge crosses a word boundary: "o" and " w" never meet.
  EXPECT_EQ(tok->encode("hello world", false), (Ids{kHello, kGworld}));
  // " 42" is one word (space and digits) with no merges: three byte tokens.
  EXPECT_EQ(tok->encode(" 42", false), (Ids{' ', '4', '2'}));
}

TEST(ByteLevelBpe, EqualRanksMergeLeftmostFirst) {
  const auto tok = make();
  EXPECT_EQ(tok->encode("aaa", false), (Ids{kAa, 'a'}));
  EXPECT_EQ(tok->encode("aaaa", false), (Ids{kAa, kAa}));
  EXPECT_EQ(tok->encode("aaaaa", false), (Ids{kAa, kAa, 'a'}));
}

TEST(ByteLevelBpe, PiecesThatAreNotTokensFallBackToSingleByteTokens) {
  const auto tok = make();
  // "x y" merges into "xy", which is not a token: its bytes are looked up one by one.
  EXPECT_EQ(tok->encode("xy", false), (Ids{'x', 'y'}));
  // Every byte has a token here, so nothing is lost and UTF-8 round-trips.
  const Ids ids = tok->encode("é€", false);
  EXPECT_EQ(ids, (Ids{0xC3, 0xA9, 0xE2, 0x82, 0xAC}));
  EXPECT_EQ(tok->decode(ids), "é€");
}

TEST(ByteLevelBpe, BytesWithoutTokensAreDropped) {
  // Only 'a' and 'b' exist: 'c' (and the space) cannot be encoded and vanish, as in llama.cpp.
  std::vector<TokenEntry> tokens = {{"a", 0.0F}, {"b", 0.0F}, {"ab", 0.0F}};
  const std::vector<std::string> merges = {"a b"};
  const auto tok = make_byte_level_bpe_tokenizer(Vocabulary(std::move(tokens), "tiny"), merges,
                                                 {.pre_tokenizer = PreTokenizer::gpt2});
  EXPECT_EQ(tok->encode("abc ab", false), (Ids{2, 2}));
}

TEST(ByteLevelBpe, SpecialTokens) {
  const auto tok = make();
  // User-defined tokens are always split out; control tokens only when parsing specials.
  EXPECT_EQ(tok->encode("aa<|user|>aa", false), (Ids{kAa, kUser, kAa}));
  const Ids plain = tok->encode("aa<|endoftext|>", false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), kEot), 0);
  EXPECT_EQ(tok->decode(plain), "aa<|endoftext|>");
  EXPECT_EQ(tok->encode("aa<|endoftext|>", {.parse_special = true}), (Ids{kAa, kEot}));
  EXPECT_EQ(tok->encode("aa", {.add_bos = true, .add_eos = true}), (Ids{kEot, kAa, kEot}));
  EXPECT_EQ(tok->decode(Ids{kEot, kAa}), "aa");
  EXPECT_EQ(tok->decode(Ids{kEot, kAa}, {.render_special = true}), "<|endoftext|>aa");
  EXPECT_EQ(tok->decode(Ids{kUser}), "<|user|>");
}

TEST(ByteLevelBpe, DecodeUndoesTheByteMap) {
  const auto tok = make();
  EXPECT_EQ(tok->decode(Ids{kHello, kGworld, '\n' + 0}), "hello world\n");
  EXPECT_EQ(tok->token_to_piece(kGthe), " the");
  EXPECT_EQ(tok->token_to_piece(kByteA), "A");  // a byte-typed <0xXX> token
  EXPECT_EQ(tok->token_to_piece(kEuro), "[UNK_BYTE_0xe282ac€]");
  EXPECT_THROW((void)tok->token_to_piece(999), Error);
  EXPECT_THROW((void)tok->decode(Ids{kAa, -1}), Error);
}

TEST(ByteLevelBpe, CleanSpacesFollowsLlamaCpp) {
  const auto raw = make();
  const auto clean = make({.clean_spaces = true});
  const std::string text = "a , b . c ' d 's 've 't ?";
  const Ids ids = raw->encode(text, false);
  EXPECT_EQ(clean->encode(text, false), ids);
  EXPECT_EQ(raw->decode(ids), text);
  // " ," " ." " ?" lose their space; " ' " loses both; " 's" and " 've" lose theirs, " 't" keeps it.
  EXPECT_EQ(clean->decode(ids), "a, b. c'd's've 't?");
}

TEST(ByteLevelBpe, IgnoreMergesTakesWholeWordTokens) {
  // "Ġfoo" is a token but no merges build it.
  EXPECT_EQ(make()->encode(" foo", false), (Ids{' ', 'f', 'o', 'o'}));
  EXPECT_EQ(make({.ignore_merges = true})->encode(" foo", false), (Ids{kGfoo}));
}

TEST(ByteLevelBpe, RoundTripsArbitraryUtf8) {
  const auto tok = make();
  const std::string text = "Hello, world! It's 2024: naïve café—“quotes” 你好 🙂\n\tnew line  x";
  EXPECT_EQ(tok->decode(tok->encode(text, false)), text);
  // Invalid UTF-8 becomes U+FFFD before byte mapping, as in llama.cpp.
  EXPECT_EQ(tok->decode(tok->encode("a\xFF"
                                    "b",
                                    false)),
            "a\xEF\xBF\xBD"
            "b");
}

TEST(ByteLevelBpe, MalformedMergesAreErrors) {
  for (const std::string bad : {"ab", "a", "a "}) {
    SCOPED_TRACE(bad);
    const std::vector<std::string> merges = {"a b", bad};
    try {
      (void)make_byte_level_bpe_tokenizer(Vocabulary(make_tokens(), "v.gguf"), merges, {});
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("tokenizer.ggml.merges[1]"), std::string::npos) << e.what();
    }
  }
}

// The same vocabulary through GGUF metadata, with llama.cpp's per-pre-tokenizer flags.
TEST(ByteLevelBpe, LoadsFromGgufMetadata) {
  const test::TempDir dir;
  std::vector<std::string> texts;
  std::vector<std::int32_t> types;
  for (const TokenEntry& t : make_tokens()) {
    texts.push_back(t.text);
    types.push_back(static_cast<std::int32_t>(t.type));
  }
  auto write = [&](const std::string& name, const std::string& pre) {
    std::vector<gguf::KeyValue> md = {
        {"tokenizer.ggml.model", gguf::Value::from_string("gpt2")},
        {"tokenizer.ggml.pre", gguf::Value::from_string(pre)},
        {"tokenizer.ggml.tokens", gguf::Value::from_array({gguf::ValueType::string, texts})},
        {"tokenizer.ggml.token_type", gguf::Value::from_array({gguf::ValueType::i32, types})},
        {"tokenizer.ggml.merges", gguf::Value::from_array({gguf::ValueType::string, kMerges})},
        {"tokenizer.ggml.bos_token_id", gguf::Value::from_u32(kEot)},
        {"tokenizer.ggml.eos_token_id", gguf::Value::from_u32(kEot)},
        {"tokenizer.ggml.padding_token_id", gguf::Value::from_u32(0xFFFFFFFF)},  // "none", kept as default
    };
    test::write_metadata_gguf(dir / name, std::move(md));
    return load_gguf_tokenizer(gguf::GgufFile::open(dir / name));
  };

  const auto gpt2 = write("gpt2.gguf", "gpt-2");
  EXPECT_EQ(gpt2->kind(), TokenizerKind::byte_level_bpe);
  EXPECT_EQ(gpt2->config().pre_tokenizer, PreTokenizer::gpt2);
  EXPECT_EQ(gpt2->bos(), kEot);
  EXPECT_EQ(gpt2->config().pad, kNoToken);
  EXPECT_FALSE(gpt2->adds_bos_by_default());
  EXPECT_TRUE(gpt2->config().clean_spaces);
  EXPECT_EQ(gpt2->encode("hello the world<|user|>", false), (Ids{kHello, kGthe, kGworld, kUser}));
  EXPECT_EQ(gpt2->decode(Ids{kHello, '.'}), "hello.");

  const auto llama3 = write("llama3.gguf", "llama-bpe");
  EXPECT_EQ(llama3->config().pre_tokenizer, PreTokenizer::llama3);
  EXPECT_TRUE(llama3->adds_bos_by_default());
  EXPECT_TRUE(llama3->config().ignore_merges);
  EXPECT_EQ(llama3->encode(" foo 12345", false), (Ids{kGfoo, ' ', '1', '2', '3', '4', '5'}));

  const auto qwen2 = write("qwen2.gguf", "qwen2");
  EXPECT_EQ(qwen2->config().pre_tokenizer, PreTokenizer::qwen2);
  EXPECT_FALSE(qwen2->config().clean_spaces);
  EXPECT_EQ(qwen2->decode(Ids{'a', ' ', '.'}), "a .");
}

}  // namespace
}  // namespace quantlm::tokenizer
