// Reading the real GGUF files of ../shared/assets: values checked against an independent Python dump.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>

#include "io/gguf/gguf_file.h"
#include "support/assets.h"

namespace quantlm::test {
namespace {

using formats::FormatId;
using gguf::GgufFile;
using gguf::TensorInfo;
using gguf::ValueType;

// FNV-1a 64 of a tensor's bytes; the expected values come from a Python
// script that parsed the files on its own (not through quantlm).
std::uint64_t fnv1a(std::span<const std::byte> bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const std::byte b : bytes) {
    h ^= static_cast<std::uint64_t>(b);
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::int64_t int_value(const GgufFile& f, std::string_view key) {
  const gguf::Value* v = f.find(key);
  if (v == nullptr || !v->as_int()) {
    ADD_FAILURE() << "no integer " << key;
    return -1;
  }
  return *v->as_int();
}

std::string string_value(const GgufFile& f, std::string_view key) {
  const gguf::Value* v = f.find(key);
  return v != nullptr && v->as_string() != nullptr ? *v->as_string() : "<missing>";
}

// The array under `key`; throws (failing the test) when absent.
const gguf::Array& array_value(const GgufFile& f, std::string_view key) {
  const gguf::Value* v = f.find(key);
  if (v == nullptr || v->as_array() == nullptr) throw std::runtime_error("no array " + std::string(key));
  return *v->as_array();
}

float float_at(std::span<const std::byte> bytes, std::size_t i) {
  float v = 0;
  std::memcpy(&v, bytes.data() + i * 4, 4);
  return v;
}

void expect_tensor(const GgufFile& f, std::size_t index, std::string_view name, Shape shape, FormatId format,
                   std::uint64_t offset, std::uint64_t bytes) {
  ASSERT_LT(index, f.tensors().size());
  const TensorInfo& t = f.tensors()[index];
  EXPECT_EQ(t.name, name);
  EXPECT_EQ(t.shape, shape) << name << ": " << t.shape.to_string();
  EXPECT_EQ(t.format->id, format) << name;
  EXPECT_EQ(t.offset, offset) << name;
  EXPECT_EQ(t.bytes, bytes) << name;
  EXPECT_EQ(f.find_tensor(name), &t);
}

TEST(GgufRead, Stories260K) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const GgufFile f = GgufFile::open(assets / "models/stories260K/stories260K.gguf");
  EXPECT_EQ(f.version(), 3U);
  EXPECT_EQ(f.alignment(), 32U);
  EXPECT_EQ(f.find("general.alignment"), nullptr);
  EXPECT_EQ(f.data_offset(), 14176U);
  EXPECT_EQ(f.file_size(), 1185376U);
  ASSERT_EQ(f.metadata().size(), 19U);
  EXPECT_EQ(f.metadata()[0].key, "tokenizer.ggml.tokens");
  EXPECT_EQ(f.metadata()[18].key, "llama.attention.layer_norm_rms_epsilon");

  EXPECT_EQ(string_value(f, "general.architecture"), "llama");
  EXPECT_EQ(string_value(f, "tokenizer.ggml.model"), "llama");
  EXPECT_EQ(int_value(f, "llama.embedding_length"), 64);
  EXPECT_EQ(int_value(f, "llama.feed_forward_length"), 172);
  EXPECT_EQ(int_value(f, "llama.block_count"), 5);
  EXPECT_EQ(int_value(f, "llama.attention.head_count"), 8);
  EXPECT_EQ(int_value(f, "llama.attention.head_count_kv"), 4);
  EXPECT_EQ(int_value(f, "llama.context_length"), 2048);
  EXPECT_EQ(int_value(f, "llama.rope.dimension_count"), 8);
  EXPECT_EQ(f.find("llama.block_count")->type(), ValueType::u32);
  EXPECT_EQ(std::get<std::uint32_t>(f.find("tokenizer.ggml.padding_token_id")->storage()), 4294967295U);
  const gguf::Value* eps = f.find("llama.attention.layer_norm_rms_epsilon");
  ASSERT_NE(eps, nullptr);
  EXPECT_EQ(eps->type(), ValueType::f32);
  EXPECT_EQ(std::get<float>(eps->storage()), 1e-5F);

  const gguf::Array& tokens = array_value(f, "tokenizer.ggml.tokens");
  EXPECT_EQ(tokens.element_type, ValueType::string);
  const auto& pieces = std::get<std::vector<std::string>>(tokens.items);
  ASSERT_EQ(pieces.size(), 512U);
  EXPECT_EQ(pieces[0], "<unk>");
  EXPECT_EQ(pieces[1], "<s>");
  EXPECT_EQ(pieces[258], "<0xFF>");
  EXPECT_EQ(pieces[259], "\xE2\x96\x81t");
  EXPECT_EQ(pieces[300], "\xE2\x96\x81ha");
  EXPECT_EQ(pieces[511], "\xE2\x80\x8A");
  const auto& scores = std::get<std::vector<float>>(array_value(f, "tokenizer.ggml.scores").items);
  ASSERT_EQ(scores.size(), 512U);
  EXPECT_EQ(scores[260], -1.0F);
  EXPECT_EQ(scores[300], -41.0F);
  EXPECT_EQ(scores[511], -252.0F);
  const gguf::Array& types = array_value(f, "tokenizer.ggml.token_type");
  EXPECT_EQ(types.element_type, ValueType::i32);
  const auto& type_ids = std::get<std::vector<std::int32_t>>(types.items);
  EXPECT_EQ(std::count(type_ids.begin(), type_ids.end(), 6), 256);  // byte tokens
  EXPECT_EQ(std::count(type_ids.begin(), type_ids.end(), 1), 253);

  ASSERT_EQ(f.tensors().size(), 48U);
  expect_tensor(f, 0, "token_embd.weight", Shape{{512, 64}, 2}, FormatId::F32, 0, 131072);
  expect_tensor(f, 1, "output_norm.weight", Shape{{64}, 1}, FormatId::F32, 131072, 256);
  expect_tensor(f, 2, "output.weight", Shape{{512, 64}, 2}, FormatId::F32, 131328, 131072);
  expect_tensor(f, 4, "blk.0.attn_k.weight", Shape{{32, 64}, 2}, FormatId::F32, 278784, 8192);
  expect_tensor(f, 46, "blk.4.ffn_up.weight", Shape{{172, 64}, 2}, FormatId::F32, 1126912, 44032);
  expect_tensor(f, 47, "blk.4.ffn_norm.weight", Shape{{64}, 1}, FormatId::F32, 1170944, 256);
  const TensorInfo* down = f.find_tensor("blk.4.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->ne, (std::vector<std::uint64_t>{172, 64}));
  EXPECT_EQ(down->shape, (Shape{{64, 172}, 2}));
  EXPECT_EQ(f.find_tensor("blk.5.ffn_down.weight"), nullptr);

  EXPECT_EQ(fnv1a(f.tensor_data(*f.find_tensor("token_embd.weight"))), 0x92105060e9e7c6f6ULL);
  EXPECT_EQ(fnv1a(f.tensor_data(*f.find_tensor("output_norm.weight"))), 0x411bf9c8787bfab5ULL);
  EXPECT_EQ(fnv1a(f.tensor_data(*down)), 0xe2f9a3f14f9577bbULL);
  const auto norm = f.tensor_data(*f.find_tensor("output_norm.weight"));
  EXPECT_EQ(float_at(norm, 0), 2.4583089351654053F);
  EXPECT_EQ(float_at(norm, 1), 1.3673226833343506F);

  const TensorView view = f.tensor_view(*down);
  EXPECT_EQ(view.row_bytes(), 172 * 4);
  EXPECT_EQ(view.bytes(), 44032);
  EXPECT_TRUE(view.contiguous());
  EXPECT_EQ(view.data, f.tensor_data(*down).data());
  float first = 0;
  std::memcpy(&first, view.row(0), 4);
  EXPECT_EQ(first, -0.04791264981031418F);
}

TEST(GgufRead, ZooQ4KS) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const GgufFile f = GgufFile::open(assets / "models/zoo/zoo-Q4_K_S.gguf");
  EXPECT_EQ(f.version(), 3U);
  EXPECT_EQ(f.data_offset(), 12576U);
  EXPECT_EQ(f.file_size(), 1049888U);
  ASSERT_EQ(f.metadata().size(), 19U);
  EXPECT_EQ(string_value(f, "general.name"), "zoo-random-llama-d256-l2");
  EXPECT_EQ(int_value(f, "llama.embedding_length"), 256);
  EXPECT_EQ(int_value(f, "llama.feed_forward_length"), 768);
  EXPECT_EQ(int_value(f, "llama.block_count"), 2);
  EXPECT_EQ(int_value(f, "llama.attention.head_count"), 4);
  EXPECT_EQ(int_value(f, "llama.attention.head_count_kv"), 2);
  EXPECT_EQ(int_value(f, "general.file_type"), 14);
  EXPECT_EQ(int_value(f, "general.quantization_version"), 2);
  EXPECT_EQ(array_value(f, "tokenizer.ggml.tokens").size(), 512U);

  ASSERT_EQ(f.tensors().size(), 21U);
  expect_tensor(f, 0, "output.weight", Shape{{512, 256}, 2}, FormatId::Q4_K, 0, 73728);
  expect_tensor(f, 1, "output_norm.weight", Shape{{256}, 1}, FormatId::F32, 73728, 1024);
  expect_tensor(f, 8, "blk.0.ffn_down.weight", Shape{{256, 768}, 2}, FormatId::Q4_K, 260096, 110592);
  expect_tensor(f, 20, "blk.1.ffn_up.weight", Shape{{768, 256}, 2}, FormatId::Q4_K, 926720, 110592);
  EXPECT_EQ(fnv1a(f.tensor_data(f.tensors()[0])), 0x8494ec9c8c4278aeULL);
  EXPECT_EQ(fnv1a(f.tensor_data(f.tensors()[1])), 0xabf13194efeac033ULL);
  EXPECT_EQ(fnv1a(f.tensor_data(f.tensors()[20])), 0xa408b1dcf306267fULL);
  const TensorView q = f.tensor_view(f.tensors()[20]);
  EXPECT_EQ(q.storage.type, ElementType::blocks);
  EXPECT_EQ(q.storage.block_elems, 256);
  EXPECT_EQ(q.storage.block_bytes, 144);
  EXPECT_EQ(q.row_bytes(), 144);
  EXPECT_EQ(q.bytes(), 110592);
}

TEST(GgufRead, ZooQ6K) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const GgufFile f = GgufFile::open(assets / "models/zoo/zoo-Q6_K.gguf");
  const TensorInfo* embd = f.find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->format->id, FormatId::Q6_K);
  EXPECT_EQ(embd->shape, (Shape{{512, 256}, 2}));
  EXPECT_EQ(embd->offset, 108544U);
  EXPECT_EQ(fnv1a(f.tensor_data(*embd)), 0x3820069f98e32797ULL);
  EXPECT_EQ(fnv1a(f.tensor_data(*f.find_tensor("blk.0.attn_k.weight"))), 0x161507d01ceb7ea0ULL);
}

TEST(GgufRead, ImatrixFile) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const GgufFile f = GgufFile::open(assets / "models/stories260K/llama.cpp-quantized/imatrix-calib.gguf");
  ASSERT_EQ(f.metadata().size(), 4U);
  EXPECT_EQ(string_value(f, "general.type"), "imatrix");
  EXPECT_EQ(int_value(f, "imatrix.chunk_count"), 67);
  EXPECT_EQ(int_value(f, "imatrix.chunk_size"), 256);
  EXPECT_EQ(f.find("imatrix.datasets")->to_display_string(), "[\"data/calib_imatrix.txt\"]");
  ASSERT_EQ(f.tensors().size(), 72U);
  EXPECT_EQ(f.data_offset(), 4512U);
  expect_tensor(f, 0, "blk.0.attn_k.weight.in_sum2", Shape{{64}, 1}, FormatId::F32, 0, 256);
  expect_tensor(f, 1, "blk.0.attn_k.weight.counts", Shape{{1}, 1}, FormatId::F32, 256, 4);
  const auto counts = f.tensor_data(f.tensors()[1]);
  EXPECT_EQ(float_at(counts, 0), 17152.0F);
  const TensorInfo* sum2 = f.find_tensor("blk.4.ffn_down.weight.in_sum2");
  ASSERT_NE(sum2, nullptr);
  EXPECT_EQ(sum2->offset, 11008U);
  EXPECT_EQ(fnv1a(f.tensor_data(*sum2)), 0x53faff0f8e659beaULL);
  EXPECT_EQ(float_at(f.tensor_data(*sum2), 0), 4154.0869140625F);
}

// Every asset GGUF parses and every tensor lies inside the file, in order.
TEST(GgufRead, AllAssetFilesParse) {
  QUANTLM_REQUIRE_ASSETS(assets);
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(assets / "models")) {
    if (entry.path().extension() != ".gguf") continue;
    ++files;
    const GgufFile f = GgufFile::open(entry.path());
    EXPECT_EQ(f.version(), 3U) << entry.path();
    for (const TensorInfo& t : f.tensors()) {
      const auto data = f.tensor_data(t);
      EXPECT_EQ(data.size(), t.bytes);
      const std::ptrdiff_t distance = data.data() - f.tensor_data(f.tensors()[0]).data();
      EXPECT_EQ(distance, static_cast<std::ptrdiff_t>(t.offset - f.tensors()[0].offset));
    }
  }
  EXPECT_GE(files, 27U);
}

}  // namespace
}  // namespace quantlm::test
