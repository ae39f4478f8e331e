// Malformed tokenizer.bin files and missing or ill-typed GGUF metadata: each gives a quantlm::Error that says what and
// where.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "io/gguf/gguf_file.h"
#include "io/tokenizer/tokenizer.h"
#include "support/temp_dir.h"
#include "test_support.h"

namespace quantlm::tokenizer {
namespace {

using gguf::KeyValue;
using gguf::Value;
using gguf::ValueType;

// Expects `fn` to throw a quantlm::Error whose message contains every one of `parts`.
template <typename Fn>
void expect_error(Fn&& fn, std::initializer_list<std::string_view> parts) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning " << *parts.begin();
  } catch (const Error& e) {
    const std::string what = e.what();
    for (const std::string_view part : parts) EXPECT_NE(what.find(part), std::string::npos) << what;
  }
}

// A tokenizer.bin writer whose fields can be set to anything.
class BinWriter {
 public:
  BinWriter& i32(std::int32_t v) { return raw(&v, 4); }
  BinWriter& f32(float v) { return raw(&v, 4); }
  BinWriter& bytes(std::string_view s) { return raw(s.data(), s.size()); }
  BinWriter& token(float score, std::string_view text) {
    return f32(score).i32(static_cast<std::int32_t>(text.size())).bytes(text);
  }
  // The three tokens every llama2.c vocabulary starts with.
  BinWriter& specials() { return token(0, "<unk>").token(0, "\n<s>\n").token(0, "\n</s>\n"); }
  void write(const std::filesystem::path& path) const {
    std::ofstream(path, std::ios::binary).write(data_.data(), static_cast<std::streamsize>(data_.size()));
  }

 private:
  BinWriter& raw(const void* p, std::size_t n) {
    const auto* c = static_cast<const char*>(p);
    data_.insert(data_.end(), c, c + n);
    return *this;
  }
  std::vector<char> data_;
};

TEST(Llama2cTokenizerErrors, MalformedFiles) {
  const test::TempDir dir;
  const auto path = dir / "tokenizer.bin";
  auto load = [&](std::optional<std::int32_t> n = std::nullopt) {
    return [&path, n] { (void)load_llama2c_tokenizer(path, n); };
  };

  BinWriter().bytes(std::string_view("\x01\x00", 2)).write(path);
  expect_error(load(), {"tokenizer.bin", "max_token_length", "2 bytes"});

  BinWriter().i32(0).specials().write(path);
  expect_error(load(), {"max_token_length is 0"});

  BinWriter().i32(8).specials().f32(0).write(path);  // a score without its length
  expect_error(load(), {"token 3", "expected float32 score and int32 length"});

  BinWriter().i32(8).specials().f32(0).i32(-1).write(path);
  expect_error(load(), {"token 3", "length -1"});

  BinWriter().i32(8).specials().f32(0).i32(9).bytes("123456789").write(path);
  expect_error(load(), {"token 3", "length 9", "max_token_length (8)"});

  BinWriter().i32(8).specials().f32(0).i32(5).bytes("abc").write(path);
  expect_error(load(), {"token 3", "run past the end"});

  BinWriter().i32(8).specials().token(std::numeric_limits<float>::quiet_NaN(), "a").write(path);
  expect_error(load(), {"token 3", "NaN"});

  BinWriter().i32(8).specials().token(-1, "a").token(-2, "a").write(path);
  expect_error(load(), {"tokens 3 and 4 have the same text"});

  BinWriter().i32(8).specials().token(-1, "a").write(path);
  expect_error(load(5), {"ends after 4 tokens", "vocab_size = 5"});
  expect_error(load(3), {"bytes follow the 3 tokens"});
  expect_error(load(2), {"vocab_size 2 is too small"});
  EXPECT_EQ(load_llama2c_tokenizer(path, 4)->vocab_size(), 4);

  BinWriter().i32(8).token(0, "<unk>").write(path);
  expect_error(load(), {"1 tokens, expected at least"});

  expect_error([&] { (void)load_llama2c_tokenizer(dir / "missing.bin"); }, {"missing.bin"});
}

TEST(Llama2cTokenizer, ConvertsTheExportBack) {
  const test::TempDir dir;
  BinWriter().i32(8).specials().token(0, "<0x0A>").token(-1, " a").token(-2, "b").write(dir / "t.bin");
  const auto tok = load_llama2c_tokenizer(dir / "t.bin");
  const Vocabulary& v = tok->vocabulary();
  EXPECT_EQ(v[1].text, "<s>");
  EXPECT_EQ(v[2].text, "</s>");
  EXPECT_EQ(v[0].type, TokenType::unknown);
  EXPECT_EQ(v[1].type, TokenType::control);
  EXPECT_EQ(v[3].type, TokenType::byte);
  EXPECT_EQ(v[4].text,
            "\xE2\x96\x81"
            "a");
  EXPECT_EQ(v[4].type, TokenType::normal);
  EXPECT_EQ(tok->encode("a\n", true), (std::vector<TokenId>{1, 4, 3}));
  EXPECT_EQ(tok->decode(std::vector<TokenId>{4, 3}), "a\n");
}

// A minimal valid SentencePiece metadata set, which each case then breaks.
std::vector<KeyValue> spm_metadata() {
  return {
      {"tokenizer.ggml.model", Value::from_string("llama")},
      {"tokenizer.ggml.tokens", Value::from_array({ValueType::string, std::vector<std::string>{"<unk>", "<s>", "</s>",
                                                                                               "\xE2\x96\x81"
                                                                                               "a"}})},
      {"tokenizer.ggml.scores", Value::from_array({ValueType::f32, std::vector<float>{0, 0, 0, -1}})},
      {"tokenizer.ggml.token_type", Value::from_array({ValueType::i32, std::vector<std::int32_t>{2, 3, 3, 1}})},
  };
}

std::vector<KeyValue> with(std::vector<KeyValue> md, const std::string& key, Value value) {
  for (KeyValue& kv : md) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return md;
    }
  }
  md.push_back({key, std::move(value)});
  return md;
}

std::vector<KeyValue> without(std::vector<KeyValue> md, const std::string& key) {
  std::erase_if(md, [&](const KeyValue& kv) { return kv.key == key; });
  return md;
}

TEST(GgufTokenizerErrors, MissingOrIllTypedMetadata) {
  const test::TempDir dir;
  int n = 0;
  auto load = [&](std::vector<KeyValue> md) {
    const auto path = dir / fmt::format("case{}.gguf", n++);
    test::write_metadata_gguf(path, std::move(md));
    return [path] { (void)load_gguf_tokenizer(gguf::GgufFile::open(path)); };
  };
  const auto base = spm_metadata();

  expect_error(load(without(base, "tokenizer.ggml.model")), {".gguf", "tokenizer.ggml.model is missing", "a string"});
  expect_error(load(with(base, "tokenizer.ggml.model", Value::from_u32(1))),
               {"tokenizer.ggml.model has type u32, expected a string"});
  expect_error(load(with(base, "tokenizer.ggml.model", Value::from_string("bert"))),
               {"tokenizer.ggml.model = \"bert\" is not supported", "llama, gpt2"});
  expect_error(load(without(base, "tokenizer.ggml.tokens")), {"tokenizer.ggml.tokens is missing", "array of strings"});
  expect_error(
      load(with(base, "tokenizer.ggml.tokens", Value::from_array({ValueType::i32, std::vector<std::int32_t>{1}}))),
      {"tokenizer.ggml.tokens has type arr of i32, expected an array of strings"});
  expect_error(
      load(with(base, "tokenizer.ggml.tokens", Value::from_array({ValueType::string, std::vector<std::string>{}}))),
      {"tokenizer.ggml.tokens is empty"});
  expect_error(load(with(base, "tokenizer.ggml.scores", Value::from_array({ValueType::f32, std::vector<float>{0, 0}}))),
               {"tokenizer.ggml.scores has 2 entries for 4 tokens"});
  expect_error(
      load(with(base, "tokenizer.ggml.scores", Value::from_array({ValueType::f64, std::vector<double>{0, 0, 0, 0}}))),
      {"tokenizer.ggml.scores has type arr of f64, expected an array of f32"});
  expect_error(load(with(base, "tokenizer.ggml.token_type", Value::from_f32(1))),
               {"tokenizer.ggml.token_type has type f32, expected an array of i32"});
  expect_error(load(with(base, "tokenizer.ggml.add_bos_token", Value::from_u8(1))),
               {"tokenizer.ggml.add_bos_token has type u8, expected a bool"});
  expect_error(load(with(base, "tokenizer.ggml.bos_token_id", Value::from_string("1"))),
               {"tokenizer.ggml.bos_token_id has type str, expected an integer token id"});
  expect_error(load(with(base, "tokenizer.ggml.token_type",
                         Value::from_array({ValueType::i32, std::vector<std::int32_t>{2, 3, 3, 6}}))),
               {"token 3 has type byte", "<0xXX>"});

  const auto gpt2 = with(base, "tokenizer.ggml.model", Value::from_string("gpt2"));
  expect_error(load(gpt2), {"tokenizer.ggml.merges is missing"});
  expect_error(load(with(gpt2, "tokenizer.ggml.pre", Value::from_string("deepseek-coder"))),
               {"tokenizer.ggml.pre = \"deepseek-coder\" is not supported", "llama-bpe"});
  expect_error(
      load(with(gpt2, "tokenizer.ggml.merges", Value::from_array({ValueType::string, std::vector<std::string>{"ab"}}))),
      {"tokenizer.ggml.merges[0]", "two tokens separated by a space"});
}

TEST(GgufTokenizer, DefaultsAndOverrides) {
  const test::TempDir dir;
  int n = 0;
  auto load = [&](std::vector<KeyValue> md) {
    const auto path = dir / fmt::format("case{}.gguf", n++);
    test::write_metadata_gguf(path, std::move(md));
    return load_gguf_tokenizer(gguf::GgufFile::open(path));
  };
  using Ids = std::vector<TokenId>;
  const auto base = spm_metadata();
  // llama.cpp's SentencePiece defaults: <unk> <s> </s> = 0 1 2, BOS added, space prefix.
  const auto defaults = load(base);
  EXPECT_EQ(defaults->kind(), TokenizerKind::sentencepiece);
  EXPECT_EQ(defaults->bos(), 1);
  EXPECT_EQ(defaults->eos(), 2);
  EXPECT_EQ(defaults->unk(), 0);
  EXPECT_TRUE(defaults->adds_bos_by_default());
  EXPECT_FALSE(defaults->adds_eos_by_default());
  EXPECT_EQ(defaults->encode("a", true), (Ids{1, 3}));

  // Overrides; an id outside the vocabulary (0xFFFFFFFF, "none") keeps the default.
  auto md = with(base, "tokenizer.ggml.bos_token_id", Value::from_u32(2));
  md = with(md, "tokenizer.ggml.eos_token_id", Value::from_u32(0xFFFFFFFF));
  md = with(md, "tokenizer.ggml.add_bos_token", Value::from_bool(false));
  md = with(md, "tokenizer.ggml.add_eos_token", Value::from_bool(true));
  md = with(md, "tokenizer.ggml.add_space_prefix", Value::from_bool(false));
  const auto custom = load(md);
  EXPECT_EQ(custom->bos(), 2);
  EXPECT_EQ(custom->eos(), 2);
  EXPECT_FALSE(custom->adds_bos_by_default());
  EXPECT_TRUE(custom->adds_eos_by_default());
  EXPECT_FALSE(custom->config().add_space_prefix);
  // Without the prefix "a" is no piece, and with no byte tokens each byte is <unk>.
  EXPECT_EQ(custom->encode("a", false), (Ids{0}));

  // Scores and token types are optional: all tokens are then normal, with score 0.
  const auto bare = load(without(without(base, "tokenizer.ggml.scores"), "tokenizer.ggml.token_type"));
  EXPECT_EQ(bare->vocabulary()[1].type, TokenType::normal);
  EXPECT_EQ(bare->token_to_piece(1, false), "<s>");

  // Empty token texts get llama.cpp's placeholder names.
  const auto empty =
      load(with(base, "tokenizer.ggml.tokens",
                Value::from_array({ValueType::string, std::vector<std::string>{"<unk>", "<s>", "", "x"}})));
  EXPECT_EQ(empty->vocabulary()[2].text, "[EMPTY_2]");
}

}  // namespace
}  // namespace quantlm::tokenizer
