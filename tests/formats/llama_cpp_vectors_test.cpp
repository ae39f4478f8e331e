// llama.cpp's own files as test vectors: our reference quantizers rewrite them byte for byte, our decoders read them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "formats/format_traits.h"
#include "formats/row_codec_testing.h"
#include "io/gguf/gguf_file.h"
#include "support/assets.h"

// The files (see ../shared/assets/README.md) were written by llama-quantize at
// llama.cpp commit 34af94cd from an F32 source: models/zoo/ with --pure (every
// matrix in the named type, 1-D norms F32), and stories260K, where ffn_down
// (172 columns, not a multiple of 32) stays F16 and output.weight is Q8_0.
// No importance matrix was used, so llama.cpp ran its deterministic quantizers.

namespace quantlm::formats {
namespace {

using testing::Matrix;

struct Model {
  const char* folder;  // under models/
  const char* source;  // the F32 file
  const char* prefix;  // quantized file = prefix + type + ".gguf"
};
const Model kZoo{"zoo", "zoo-F32.gguf", "zoo-"};
const Model kStories{"stories260K", "stories260K.gguf", "llama.cpp-quantized/stories260K-"};

Matrix read_f32(const gguf::GgufFile& file, const gguf::TensorInfo& info) {
  EXPECT_EQ(info.format->id, FormatId::F32) << info.name;
  Matrix m{info.shape.rows(), info.shape.innermost(), {}};
  m.values.resize(static_cast<std::size_t>(m.rows * m.cols));
  const auto bytes = file.tensor_data(info);
  EXPECT_EQ(bytes.size(), m.values.size() * sizeof(float)) << info.name;
  std::memcpy(m.values.data(), bytes.data(), std::min(bytes.size(), m.values.size() * sizeof(float)));
  return m;
}

struct VectorCase {
  const Model* model;
  const char* type;  // the file's type; its tensors may use others (stories260K)
};
std::string case_label(const VectorCase& c) { return std::string(c.model == &kZoo ? "zoo_" : "stories260K_") + c.type; }
std::string case_name(const ::testing::TestParamInfo<VectorCase>& info) { return case_label(info.param); }
void PrintTo(const VectorCase& c, std::ostream* os) { *os << case_label(c); }

class LlamaCppVectors : public ::testing::TestWithParam<VectorCase> {};

// Every non-F32 tensor of the quantized file equals our quantize_ref of the
// F32 source in that tensor's format, byte for byte; F32 tensors are copies.
TEST_P(LlamaCppVectors, ReferenceQuantizerReproducesTheFile) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const VectorCase& c = GetParam();
  const auto dir = assets / "models" / c.model->folder;
  const auto source = gguf::GgufFile::open(dir / c.model->source);
  const auto quantized = gguf::GgufFile::open(dir / (std::string(c.model->prefix) + c.type + ".gguf"));
  int compared = 0;
  for (const gguf::TensorInfo& info : quantized.tensors()) {
    const gguf::TensorInfo* src = source.find_tensor(info.name);
    ASSERT_NE(src, nullptr) << info.name;
    const FormatTraits& f = *info.format;
    ASSERT_NE(f.quantize_ref, nullptr) << info.name << " is " << f.name;
    const std::vector<std::byte> ours = testing::quantize(f, read_f32(source, *src));
    const auto theirs = quantized.tensor_data(info);
    ASSERT_EQ(ours.size(), theirs.size()) << info.name;
    // Count differing blocks and name the first, which says more than "differs".
    std::size_t bad = 0;
    std::size_t first = 0;
    const auto block = static_cast<std::size_t>(f.block_bytes);
    for (std::size_t b = 0; b < ours.size(); b += block) {
      if (std::memcmp(ours.data() + b, theirs.data() + b, block) != 0 && bad++ == 0) first = b / block;
    }
    EXPECT_EQ(bad, 0U) << info.name << " (" << f.name << "): " << bad << " of " << ours.size() / block
                       << " blocks differ, the first is block " << first;
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

// Relative RMS error ||decoded - source|| / ||source|| over all tensors of one
// format in one file. The files are fixed, so each figure is reproducible to
// ~1e-7 (only float summation order could move it). Bands are +-5% around the
// measured value: far wider than any change of summation order, far narrower
// than what a decoding bug does (swapped nibbles or a lost fifth bit multiply
// the error several times; a decoder that returned the source would give 0).
struct Band {
  const Model* model;
  const char* file_type;  // "*": any file of the model without a band of its own for `format`
  FormatId format;
  double measured;
};
const Band kBands[] = {
    {&kZoo, "Q8_0", FormatId::Q8_0, 0.0096919},
    {&kZoo, "Q5_1", FormatId::Q5_1, 0.0510499},
    {&kZoo, "Q5_0", FormatId::Q5_0, 0.0755239},
    {&kZoo, "Q4_1", FormatId::Q4_1, 0.105576},
    {&kZoo, "Q4_0", FormatId::Q4_0, 0.142003},
    {&kZoo, "IQ4_NL", FormatId::IQ4_NL, 0.112418},
    // TQ1_0 and TQ2_0 store the same trits, so the same error: ternary rounding
    // at d / 2 with d = amax zeroes most of these non-ternary weights.
    {&kZoo, "TQ1_0", FormatId::TQ1_0, 0.727531},
    {&kZoo, "TQ2_0", FormatId::TQ2_0, 0.727531},
    {&kZoo, "F16", FormatId::F16, 0.000200951},
    {&kZoo, "BF16", FormatId::BF16, 0.00168376},
    // stories260K's real weights have lighter tails than the zoo's, so each
    // type loses less (Q4_0 0.085 against 0.142). Every quantized file also
    // holds the F16 ffn_down tensors and a Q8_0 output.weight ("*" rows).
    {&kStories, "*", FormatId::F16, 0.000203556},
    {&kStories, "*", FormatId::Q8_0, 0.00551681},
    {&kStories, "Q8_0", FormatId::Q8_0, 0.00540859},
    {&kStories, "Q5_1", FormatId::Q5_1, 0.0379648},
    {&kStories, "Q5_0", FormatId::Q5_0, 0.0429248},
    {&kStories, "Q4_1", FormatId::Q4_1, 0.08204},
    {&kStories, "Q4_0", FormatId::Q4_0, 0.0849963},
    {&kStories, "IQ4_NL", FormatId::IQ4_NL, 0.0774469},
    {&kStories, "F16", FormatId::F16, 0.000201582},
    {&kStories, "BF16", FormatId::BF16, 0.00171738},
};
constexpr double kBandWidth = 0.05;

TEST_P(LlamaCppVectors, DecodedErrorWithinBands) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const VectorCase& c = GetParam();
  const auto dir = assets / "models" / c.model->folder;
  const auto source = gguf::GgufFile::open(dir / c.model->source);
  const auto quantized = gguf::GgufFile::open(dir / (std::string(c.model->prefix) + c.type + ".gguf"));
  std::map<FormatId, testing::ErrorSums> by_format;
  for (const gguf::TensorInfo& info : quantized.tensors()) {
    const FormatTraits& f = *info.format;
    ASSERT_NE(f.dequantize, nullptr) << info.name << " is " << f.name;
    const Matrix x = read_f32(source, *source.find_tensor(info.name));
    const Matrix y = testing::dequantize(f, quantized.tensor_data(info), x.rows, x.cols);
    if (f.id == FormatId::F32) {
      EXPECT_EQ(y.values, x.values) << info.name << ": F32 tensors are stored unchanged";
      continue;
    }
    by_format[f.id].add(y.values, x.values);
  }
  ASSERT_FALSE(by_format.empty());
  for (const auto& [id, sums] : by_format) {
    const Band* band = nullptr;
    for (const Band& b : kBands) {
      if (b.model != c.model || b.format != id) continue;
      if (std::string(b.file_type) == c.type) band = &b;  // this file's own band wins
      if (std::string(b.file_type) == "*" && band == nullptr) band = &b;
    }
    const double rms = sums.relative_rms();
    if (band == nullptr) {
      ADD_FAILURE() << c.type << " file: no band for its " << traits(id).name << " tensors (error " << rms << ")";
      continue;
    }
    EXPECT_GE(rms, band->measured * (1.0 - kBandWidth)) << c.type << " file, " << traits(id).name;
    EXPECT_LE(rms, band->measured * (1.0 + kBandWidth)) << c.type << " file, " << traits(id).name;
  }
}

const VectorCase kCases[] = {
    {&kZoo, "Q8_0"},       {&kZoo, "Q5_1"},     {&kZoo, "Q5_0"},     {&kZoo, "Q4_1"},     {&kZoo, "Q4_0"},
    {&kZoo, "IQ4_NL"},     {&kZoo, "TQ1_0"},    {&kZoo, "TQ2_0"},    {&kZoo, "F16"},      {&kZoo, "BF16"},
    {&kStories, "Q8_0"},   {&kStories, "Q5_1"}, {&kStories, "Q5_0"}, {&kStories, "Q4_1"}, {&kStories, "Q4_0"},
    {&kStories, "IQ4_NL"}, {&kStories, "F16"},  {&kStories, "BF16"},
};
INSTANTIATE_TEST_SUITE_P(Files, LlamaCppVectors, ::testing::ValuesIn(kCases), case_name);

// TQ1_0 and TQ2_0 pack the same trits differently: decoding llama.cpp's two
// files must give identical floats, a check of each packing against the other.
TEST(LlamaCppTernary, Tq1AndTq2FilesDecodeIdentically) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const auto dir = assets / "models" / "zoo";
  const auto tq1 = gguf::GgufFile::open(dir / "zoo-TQ1_0.gguf");
  const auto tq2 = gguf::GgufFile::open(dir / "zoo-TQ2_0.gguf");
  for (const gguf::TensorInfo& a : tq1.tensors()) {
    const gguf::TensorInfo* b = tq2.find_tensor(a.name);
    ASSERT_NE(b, nullptr) << a.name;
    const std::int64_t rows = a.shape.rows();
    const std::int64_t cols = a.shape.innermost();
    EXPECT_EQ(testing::dequantize(*a.format, tq1.tensor_data(a), rows, cols).values,
              testing::dequantize(*b->format, tq2.tensor_data(*b), rows, cols).values)
        << a.name;
  }
}

}  // namespace
}  // namespace quantlm::formats
