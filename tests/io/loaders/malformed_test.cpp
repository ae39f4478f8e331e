// Malformed safetensors, config.json and llama2.c checkpoints: each gives a quantlm::Error naming the file and field.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>

#include "core/error.h"
#include "io/loaders/safetensors_file.h"
#include "io/model_source.h"
#include "support/assets.h"
#include "support/temp_dir.h"
#include "synthetic_hf.h"

namespace quantlm::io {
namespace {

using test_util::expect_error;

std::vector<char> read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const std::filesystem::path& p, const std::vector<char>& bytes) {
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file from a header text (length prefix computed unless given) and `data_bytes` zero bytes.
void write_st(const std::filesystem::path& p, const std::string& header, std::size_t data_bytes,
              std::optional<std::uint64_t> length = std::nullopt) {
  std::vector<char> bytes(8);
  const std::uint64_t n = length.value_or(header.size());
  std::memcpy(bytes.data(), &n, 8);
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.resize(bytes.size() + data_bytes);
  write_all(p, bytes);
}

class SafetensorsMalformed : public ::testing::Test {
 protected:
  void expect(const std::string& header, std::size_t data_bytes, const std::vector<std::string>& needles,
              std::optional<std::uint64_t> length = std::nullopt) {
    write_st(path_, header, data_bytes, length);
    std::vector<std::string> all = needles;
    all.push_back(path_.string());
    expect_error([&] { (void)SafetensorsFile::open(path_); }, all);
  }
  test::TempDir tmp_;
  std::filesystem::path path_ = tmp_ / "bad.safetensors";
};

TEST_F(SafetensorsMalformed, Headers) {
  write_all(path_, {'\x10', 0, 0});
  expect_error([&] { (void)SafetensorsFile::open(path_); }, {path_.string(), "header length", "truncated"});
  expect("{}", 0, {"header length 0"}, 0);
  expect("{}", 0, {"header length 1000", "past the end"}, 1000);
  expect("{}", 0, {"header length", "out of range"}, std::uint64_t{1} << 40);
  expect("{\"a\": ", 0, {"invalid JSON"});
  expect("\xff\xfe garbage", 0, {"invalid JSON"});
  expect("[1, 2]", 0, {"expected a JSON object"});
  expect(R"({"a": {"b": {"c": {"d": 1}}}})", 0, {"nested"});
  expect(R"({"__metadata__": {"k": 1}})", 0, {"__metadata__", "not a string"});
  expect(R"({"__metadata__": [1]})", 0, {"__metadata__"});
}

TEST_F(SafetensorsMalformed, Tensors) {
  expect(R"({"w": 5})", 0, {"'w'", "expected an object"});
  expect(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4, {"'w'", "dtype"});
  expect(R"({"w": {"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}})", 4, {"'w'", "unknown dtype"});
  expect(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", 4, {"'w'", "shape"});
  expect(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4, {"'w'", "shape", "-1"});
  expect(R"({"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", 4, {"'w'", "shape"});
  expect(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})", 4,
         {"'w'", "overflows"});
  expect(R"({"w": {"dtype": "F32", "shape": [1]}})", 4, {"'w'", "data_offsets"});
  expect(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", 4, {"'w'", "data_offsets"});
  expect(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", 4, {"'w'", "data_offsets"});
  expect(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})", 4, {"'w'", "data_offsets"});
  // Offsets past the data: a truncated file.
  expect(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4, {"'w'", "[0, 8]", "truncated"});
  expect(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [18446744073709551612, 18446744073709551615]}})", 4,
         {"'w'", "outside the data section"});
  // Shape and size disagree.
  expect(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8, {"'w'", "holds 8 bytes", "needs 12"});
  expect(R"({"w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 16]}})", 16, {"'w'", "needs 8"});
  // Overlap, including with a tensor that is not the previous one.
  expect(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
             "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
         16, {"overlap", "'a'"});
  expect(R"({"a": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]},
             "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
             "c": {"dtype": "F32", "shape": [1], "data_offsets": [16, 20]}})",
         32, {"overlap"});
  expect(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
             "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
         8, {"'a'", "twice"});
}

TEST_F(SafetensorsMalformed, AcceptsEdgeCases) {
  // Empty tensors anywhere, gaps, trailing bytes, trailing spaces in the header.
  write_st(path_, R"({"e": {"dtype": "F16", "shape": [0, 3], "data_offsets": [4, 4]},
                      "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                      "b": {"dtype": "I64", "shape": [], "data_offsets": [8, 16]}}   )",
           20);
  const SafetensorsFile f = SafetensorsFile::open(path_);
  EXPECT_EQ(f.tensors().size(), 3U);
  EXPECT_EQ(f.find("b")->dtype.format, nullptr);  // readable, not a float weight
}

// Truncations and byte flips of a real file: an error or a valid file, never a crash (run under ASan).
TEST(SafetensorsFuzz, TruncatedAndCorruptedAsset) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const std::vector<char> original = read_all(assets / "models/stories260K/hf/model.safetensors");
  test::TempDir tmp;
  const auto path = tmp / "x.safetensors";
  std::mt19937 rng(7);
  int errors = 0;
  for (int i = 0; i < 300; ++i) {
    std::vector<char> bytes = original;
    if (i < 100) {
      bytes.resize(std::uniform_int_distribution<std::size_t>(0, original.size() - 1)(rng));
    } else {
      const std::size_t header_end = 8 + 4944;
      for (int k = 0; k < 1 + i % 4; ++k) {
        bytes[std::uniform_int_distribution<std::size_t>(0, header_end)(rng)] = static_cast<char>(rng());
      }
    }
    write_all(path, bytes);
    try {
      (void)SafetensorsFile::open(path);
    } catch (const Error& e) {
      ++errors;
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    }
  }
  EXPECT_GE(errors, 100);  // every truncation at least
}

class HfMalformed : public ::testing::Test {
 protected:
  void expect_config(const nlohmann::json& config, const std::vector<std::string>& needles) {
    std::ofstream(dir_ / "config.json") << config.dump();
    std::vector<std::string> all = needles;
    all.push_back((dir_ / "config.json").string());
    expect_error([&] { (void)open_model_source(dir_); }, all);
  }
  void SetUp() override { test_util::write_hf_dir(dir_, config_, test_util::tensors_for(config_)); }
  test::TempDir tmp_;
  std::filesystem::path dir_ = tmp_ / "m";
  nlohmann::json config_ = test_util::small_config("LlamaForCausalLM");
};

TEST_F(HfMalformed, ConfigKeys) {
  EXPECT_EQ(open_model_source(dir_).tensors.size(), 3U + 2U * 9U);  // the unmodified directory loads
  for (const char* key : {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
                          "max_position_embeddings", "rms_norm_eps", "architectures"}) {
    nlohmann::json c = config_;
    c.erase(key);
    expect_config(c, {key, "missing"});
  }
  nlohmann::json c = config_;
  c["hidden_size"] = "16";
  expect_config(c, {"hidden_size"});
  c = config_;
  c["hidden_size"] = -16;
  expect_config(c, {"hidden_size"});
  c = config_;
  c["num_attention_heads"] = 3;  // does not divide 16
  expect_config(c, {"num_attention_heads = 3", "does not divide hidden_size"});
  c = config_;
  c["num_key_value_heads"] = 3;
  expect_config(c, {"num_key_value_heads = 3", "does not divide"});
  c = config_;
  c["num_key_value_heads"] = 8;
  expect_config(c, {"num_key_value_heads"});
  c = config_;
  c["num_attention_heads"] = 16;  // head size 1: odd
  c["num_key_value_heads"] = 16;
  expect_config(c, {"odd"});
  c = config_;
  c["architectures"] = {"GPT2LMHeadModel"};
  expect_config(c, {"GPT2LMHeadModel", "not supported"});
  c = config_;
  c["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 2.0}};
  expect_config(c, {"rope_scaling", "dynamic"});
  c = config_;
  c["rope_scaling"] = {{"rope_type", "linear"}};
  expect_config(c, {"rope_scaling", "factor"});
  c = config_;
  c["rms_norm_eps"] = 0;
  expect_config(c, {"rms_norm_eps"});
  std::ofstream(dir_ / "config.json") << "{ not json";
  expect_error([&] { (void)open_model_source(dir_); }, {"config.json", "invalid JSON"});
}

TEST_F(HfMalformed, TensorsDisagreeWithTheConfig) {
  nlohmann::json c = config_;
  c["intermediate_size"] = 20;
  std::ofstream(dir_ / "config.json") << c.dump();
  expect_error([&] { (void)open_model_source(dir_); }, {"model.safetensors", "mlp.gate_proj.weight", "[24, 16]"});

  auto tensors = test_util::tensors_for(config_);
  tensors.erase(tensors.begin() + 4);  // model.layers.0.self_attn.k_proj.weight
  test_util::write_hf_dir(dir_, config_, tensors);
  expect_error([&] { (void)open_model_source(dir_); }, {"model.layers.0.self_attn.k_proj.weight", "missing"});

  tensors = test_util::tensors_for(config_);
  tensors.push_back({"model.layers.0.mystery.weight", {4}});
  test_util::write_hf_dir(dir_, config_, tensors);
  expect_error([&] { (void)open_model_source(dir_); }, {"model.layers.0.mystery.weight", "unknown name"});

  tensors = test_util::tensors_for(config_);
  tensors.push_back({"model.layers.7.mlp.up_proj.weight", {24, 16}});  // a layer the config does not have
  test_util::write_hf_dir(dir_, config_, tensors);
  expect_error([&] { (void)open_model_source(dir_); }, {"model.layers.7.mlp.up_proj.weight", "does not belong"});

  tensors = test_util::tensors_for(config_);
  tensors[0].dtype = "I32";
  test_util::write_hf_dir(dir_, config_, tensors);
  expect_error([&] { (void)open_model_source(dir_); }, {"model.embed_tokens.weight", "I32", "not supported"});

  nlohmann::json untied = config_;
  tensors = test_util::tensors_for(config_);
  tensors.erase(tensors.begin() + 2);  // lm_head.weight, with tie_word_embeddings false
  test_util::write_hf_dir(dir_, untied, tensors);
  expect_error([&] { (void)open_model_source(dir_); }, {"lm_head.weight", "missing"});
}

TEST_F(HfMalformed, Files) {
  std::filesystem::remove(dir_ / "model.safetensors");
  expect_error([&] { (void)open_model_source(dir_); }, {dir_.string(), "model.safetensors"});
  std::ofstream(dir_ / "model.safetensors.index.json") << R"({"weight_map": {"a": "../escape.safetensors"}})";
  expect_error([&] { (void)open_model_source(dir_); }, {"index.json", "not a file name"});
  std::ofstream(dir_ / "model.safetensors.index.json") << R"({"weight_map": {"a": "missing.safetensors"}})";
  expect_error([&] { (void)open_model_source(dir_); }, {"missing.safetensors"});
  std::ofstream(dir_ / "model.safetensors.index.json") << R"({"metadata": {}})";
  expect_error([&] { (void)open_model_source(dir_); }, {"index.json", "weight_map"});
}

class Llama2cMalformed : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto assets = test::shared_assets();
    if (!assets) GTEST_SKIP() << "../shared/assets not found";
    original_ = read_all(*assets / "models/stories260K/stories260K.bin");
  }
  void expect(const std::vector<char>& bytes, const std::vector<std::string>& needles) {
    write_all(path_, bytes);
    std::vector<std::string> all = needles;
    all.push_back(path_.string());
    expect_error([&] { (void)open_model_source(path_); }, all);
  }
  std::vector<char> with_field(int field, std::int32_t value) const {
    std::vector<char> bytes = original_;
    std::memcpy(bytes.data() + 4 * field, &value, 4);
    return bytes;
  }
  std::vector<char> original_;
  test::TempDir tmp_;
  std::filesystem::path path_ = tmp_ / "model.bin";  // no tokenizer beside it
};

TEST_F(Llama2cMalformed, Header) {
  expect({original_.begin(), original_.begin() + 20}, {"header", "7 int32"});
  expect(with_field(0, -64), {"dim = -64"});
  expect(with_field(0, 0), {"dim = 0"});
  expect(with_field(0, 1 << 30), {"dim", "out of range"});
  expect(with_field(1, -1), {"hidden_dim"});
  expect(with_field(2, 0), {"n_layers"});
  expect(with_field(3, 0), {"n_heads"});
  expect(with_field(3, 7), {"n_heads = 7", "does not divide dim"});
  expect(with_field(4, 3), {"n_kv_heads = 3", "does not divide"});
  expect(with_field(4, 16), {"n_kv_heads"});
  expect(with_field(3, 64), {"head size", "odd"});  // 64 heads of size 1
  expect(with_field(5, 0), {"vocab_size"});
  expect(with_field(5, std::numeric_limits<std::int32_t>::min()), {"vocab_size"});
  expect(with_field(6, -1), {"seq_len"});
  std::vector<char> magic = original_;
  std::memcpy(magic.data(), "24ka", 4);
  expect(magic, {"ak42", "only the legacy format"});
}

TEST_F(Llama2cMalformed, Sizes) {
  expect({original_.begin(), original_.begin() + 1000}, {"needs", "truncated"});
  expect({original_.begin(), original_.end() - 4}, {"freq_cis_imag", "truncated"});
  std::vector<char> longer = original_;
  longer.resize(longer.size() + 4);
  expect(longer, {"describes 1056540 bytes", "has 1056544"});
  // An unshared classifier the file does not hold.
  expect(with_field(5, -512), {"wcls", "truncated"});
  expect(with_field(1, 1 << 20), {"w1", "truncated"});
  expect(with_field(5, 1 << 24), {"token_embedding_table"});
  expect(with_field(6, 1 << 24), {"freq_cis_real"});
  // Random truncations: always an error, never a crash.
  std::mt19937 rng(3);
  for (int i = 0; i < 50; ++i) {
    const auto n = std::uniform_int_distribution<std::size_t>(0, original_.size() - 1)(rng);
    write_all(path_, {original_.begin(), original_.begin() + static_cast<std::ptrdiff_t>(n)});
    EXPECT_THROW((void)open_model_source(path_), Error) << n;
  }
}

}  // namespace
}  // namespace quantlm::io
