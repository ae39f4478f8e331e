// The SentencePiece-style tokenizer on small hand-built vocabularies: merge order, space prefix, byte and unknown
// fallback.
#include <gtest/gtest.h>

#include "core/error.h"
#include "io/tokenizer/tokenizer.h"

namespace quantlm::tokenizer {
namespace {

using Ids = std::vector<TokenId>;

// <unk> <s> </s>, then <0x00>..<0xFF> at ids 3..258 (byte b is id 3 + b), then pieces.
constexpr TokenId kBytes = 3;
constexpr TokenId kSpace = 259, kA = 260, kC = 262, kAb = 263, kBc = 264, kSpaceA = 265, kUser = 266;

std::vector<TokenEntry> make_tokens(float ab_score, float bc_score) {
  std::vector<TokenEntry> t = {
      {"<unk>", 0.0F, TokenType::unknown}, {"<s>", 0.0F, TokenType::control}, {"</s>", 0.0F, TokenType::control}};
  for (unsigned b = 0; b < 256; ++b) t.push_back({fmt::format("<0x{:02X}>", b), 0.0F, TokenType::byte});
  t.push_back({"\xE2\x96\x81", -1.0F});  // ▁
  t.push_back({"a", -2.0F});
  t.push_back({"b", -3.0F});
  t.push_back({"c", -4.0F});
  t.push_back({"ab", ab_score});
  t.push_back({"bc", bc_score});
  t.push_back(
      {"\xE2\x96\x81"
       "a",
       -5.0F});
  t.push_back({"<x>", 0.0F, TokenType::user_defined});
  return t;
}

std::unique_ptr<Tokenizer> make(float ab_score = -1.5F, float bc_score = -1.5F, bool space_prefix = true) {
  TokenizerConfig config;
  config.unk = 0;
  config.bos = 1;
  config.eos = 2;
  config.add_bos = true;
  config.add_space_prefix = space_prefix;
  return make_sentencepiece_tokenizer(Vocabulary(make_tokens(ab_score, bc_score), "spm-test"), config);
}

TEST(SentencePiece, HighestScoreMergesFirst) {
  // "abc" is ▁ a b c; ab and bc compete for b and no three-letter piece exists.
  // ab first when it scores higher, and when the scores tie (leftmost pair):
  EXPECT_EQ(make(-1.0F, -1.5F)->encode("abc", false), (Ids{kSpace, kAb, kC}));
  EXPECT_EQ(make(-1.5F, -1.5F)->encode("abc", false), (Ids{kSpace, kAb, kC}));
  // bc first when it scores higher; a then stays free and ▁a (score -5) merges last.
  EXPECT_EQ(make(-1.5F, -1.0F)->encode("abc", false), (Ids{kSpaceA, kBc}));
  EXPECT_EQ(make()->encode("ab c", false), (Ids{kSpace, kAb, kSpace, kC}));
}

TEST(SentencePiece, SpacePrefixAndSpaces) {
  const auto tok = make();
  EXPECT_EQ(tok->encode("a", false), (Ids{kSpaceA}));
  EXPECT_EQ(tok->encode("a", true), (Ids{1, kSpaceA}));
  EXPECT_EQ(make(-1.5F, -1.5F, false)->encode("a", false), (Ids{kA}));
  // Spaces become ▁ pieces: "a  a" is ▁a ▁ ▁a.
  EXPECT_EQ(tok->encode("a  a", false), (Ids{kSpaceA, kSpace, kSpaceA}));
  // Decoding strips the one prefix space of the first token, unless a BOS comes first.
  EXPECT_EQ(tok->decode(Ids{kSpaceA, kSpace, kSpaceA}), "a  a");
  EXPECT_EQ(tok->decode(Ids{1, kSpaceA}), " a");
  EXPECT_EQ(tok->decode(Ids{kSpace, kSpaceA}), " a");  // only one space is stripped
  EXPECT_EQ(make(-1.5F, -1.5F, false)->decode(Ids{kSpaceA}), " a");
}

TEST(SentencePiece, ByteFallbackForUnknownCharacters) {
  const auto tok = make();
  // "é" (C3 A9) is no piece: its bytes. "\n" likewise.
  EXPECT_EQ(tok->encode("é\n", false), (Ids{kSpace, kBytes + 0xC3, kBytes + 0xA9, kBytes + '\n'}));
  EXPECT_EQ(tok->decode(tok->encode("é\n", false)), "é\n");
  // Invalid UTF-8 passes through as bytes too.
  EXPECT_EQ(tok->decode(tok->encode("a\xFF", false)), "a\xFF");
}

TEST(SentencePiece, UnknownTokenWhenThereAreNoByteTokens) {
  std::vector<TokenEntry> tokens = {{"<unk>", 0.0F, TokenType::unknown}, {"\xE2\x96\x81", -1.0F}, {"a", -1.0F}};
  TokenizerConfig config;
  config.unk = 0;
  config.add_space_prefix = true;
  const auto tok = make_sentencepiece_tokenizer(Vocabulary(tokens, "no-bytes"), config);
  EXPECT_EQ(tok->encode("aé", false), (Ids{1, 2, 0, 0}));  // one <unk> per byte
  config.unk = kNoToken;
  const auto strict = make_sentencepiece_tokenizer(Vocabulary(tokens, "no-bytes"), config);
  try {
    (void)strict->encode("aé", false);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no byte token <0xC3>"), std::string::npos) << e.what();
  }
}

TEST(SentencePiece, UserDefinedTokensSplitTheTextAndRestartThePrefix) {
  const auto tok = make();
  // "a<x>a": a, <x>, then " a" again because a special token came before it.
  EXPECT_EQ(tok->encode("a<x>a", false), (Ids{kSpaceA, kUser, kSpaceA}));
  EXPECT_EQ(tok->decode(Ids{kSpaceA, kUser, kSpaceA}), "a<x> a");
  // Control tokens stay text unless parsed.
  EXPECT_EQ(tok->encode("<s>", {.parse_special = true}), (Ids{1}));
  EXPECT_EQ(tok->encode("a</s>", {.parse_special = true}), (Ids{kSpaceA, 2}));
}

TEST(SentencePiece, DecodeOptions) {
  const auto tok = make();
  const Ids ids = {1, kSpaceA, 2};
  EXPECT_EQ(tok->decode(ids), " a");
  EXPECT_EQ(tok->decode(ids, {.render_special = true}), "<s> a</s>");
  // remove_special drops the BOS (add_bos is set) but not the EOS (add_eos is not).
  EXPECT_EQ(tok->decode(ids, {.remove_special = true, .render_special = true}), " a</s>");
  EXPECT_EQ(tok->token_to_piece(0), "<unk>");
  EXPECT_EQ(tok->token_to_piece(0, false), "");
  EXPECT_EQ(tok->token_to_piece(kBytes + 'A'), "A");
  EXPECT_EQ(tok->token_to_piece(kSpaceA), " a");
}

TEST(SentencePiece, OutOfRangeIdsAreErrors) {
  const auto tok = make();
  for (const TokenId id : {-1, tok->vocab_size(), 1 << 30}) {
    try {
      (void)tok->decode(Ids{kA, id});
      FAIL() << "no error for " << id;
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(fmt::format("token id {} is out of range", id)), std::string::npos) << what;
      EXPECT_NE(what.find("spm-test"), std::string::npos) << what;
    }
  }
  EXPECT_THROW((void)tok->token_to_piece(-5), Error);
}

TEST(SentencePiece, ConfigIdsMustBeInTheVocabulary) {
  TokenizerConfig config;
  config.bos = 9999;
  EXPECT_THROW((void)make_sentencepiece_tokenizer(Vocabulary(make_tokens(-1, -1), "v"), config), Error);
  const auto no_bos = make_sentencepiece_tokenizer(Vocabulary(make_tokens(-1, -1), "v"), {});
  EXPECT_THROW((void)no_bos->encode("a", true), Error);
}

TEST(Vocabulary, RejectsWhatTheTokenizersCannotUse) {
  EXPECT_THROW((void)Vocabulary({}, "v"), Error);
  EXPECT_THROW((void)Vocabulary({{"a", 0.0F}, {"", 0.0F}}, "v"), Error);
  try {
    (void)Vocabulary({{"a", 0.0F}, {"b", 0.0F}, {"a", 0.0F}}, "dup.gguf");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokens 0 and 2 have the same text"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)Vocabulary({{"<0xZZ>", 0.0F, TokenType::byte}}, "v"), Error);
  EXPECT_THROW((void)Vocabulary({{"A", 0.0F, TokenType::byte}}, "v"), Error);
  const Vocabulary ok({{"<0x0a>", 0.0F, TokenType::byte}}, "v");
  EXPECT_EQ(ok.byte_value(0), 0x0A);
  EXPECT_EQ(ok.find("<0x0a>"), 0);
  EXPECT_EQ(ok.find("nope"), kNoToken);
}

}  // namespace
}  // namespace quantlm::tokenizer
