// quantlm's row-level formats in GGUF: written, read back and viewed with per-row headers and ragged groups.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor_view.h"
#include "formats/format_traits.h"
#include "formats/quantize.h"
#include "io/gguf/gguf_file.h"
#include "io/gguf/gguf_writer.h"
#include "io/gguf_builder.h"
#include "support/temp_dir.h"

namespace quantlm::test {
namespace {

using formats::FormatId;
using formats::FormatTraits;
using gguf::GgufFile;
using gguf::GgufWriter;
using gguf::TensorSpec;

// Every format of quantlm's own that it can write.
std::vector<const FormatTraits*> quantlm_formats() {
  std::vector<const FormatTraits*> out;
  for (const FormatTraits& f : formats::all_formats()) {
    if (f.origin == formats::Origin::quantlm && f.quantize_ref != nullptr) out.push_back(&f);
  }
  return out;
}

// Odd row lengths: stories260K's ffn_down (172), a whole number of groups (64), one past a group (33), one value.
constexpr std::int64_t kCols[] = {172, 64, 33, 1};
constexpr std::int64_t kRows = 3;

struct Encoded {
  Shape shape;
  std::vector<float> values;
  std::vector<std::byte> bytes;
};

Encoded encode(const FormatTraits& f, std::int64_t cols, std::uint32_t seed) {
  Encoded e;
  e.shape = Shape{{kRows, cols}, 2};
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0F, 1.0F);
  e.values.resize(static_cast<std::size_t>(kRows * cols));
  for (float& v : e.values) v = normal(rng);
  e.bytes.resize(static_cast<std::size_t>(kRows * f.row_bytes(cols)));
  formats::quantize_rows(f, e.values.data(), e.bytes.data(), kRows, cols, formats::QuantizeParams{});
  return e;
}

std::vector<float> decode(const TensorView& v, const FormatTraits& f) {
  const std::int64_t cols = v.shape.innermost();
  std::vector<float> out(static_cast<std::size_t>(v.shape.rows() * cols));
  for (std::int64_t r = 0; r < v.shape.rows(); ++r) f.dequantize(v.row(r), out.data() + r * cols, cols);
  return out;
}

// Every quantlm format at every odd row length in one file: sizes from the
// traits, bytes back unchanged, views that step by the format's row size, and
// decoded values equal to those decoded before writing.
TEST(GgufQuantlmFormats, RoundTripOfEveryFormatAtOddRowLengths) {
  const TempDir dir;
  const auto path = dir / "quantlm-formats.gguf";
  std::vector<TensorSpec> specs;
  std::vector<Encoded> tensors;
  std::uint32_t seed = 1;
  for (const FormatTraits* f : quantlm_formats()) {
    for (const std::int64_t cols : kCols) {
      Encoded e = encode(*f, cols, seed++);
      specs.push_back({fmt::format("{}.{}", f->name, cols), e.shape, f});
      tensors.push_back(std::move(e));
    }
  }
  ASSERT_GE(specs.size(), 4U * 39U);
  {
    GgufWriter writer(path, {{"general.architecture", gguf::Value::from_string("test")}}, specs);
    for (const Encoded& e : tensors) writer.write_tensor(e.bytes);
    writer.finish();
  }
  const GgufFile file = GgufFile::open(path);
  ASSERT_EQ(file.tensors().size(), specs.size());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const gguf::TensorInfo& info = file.tensors()[i];
    const FormatTraits& f = *specs[i].format;
    const std::int64_t cols = specs[i].shape.innermost();
    SCOPED_TRACE(specs[i].name);
    EXPECT_EQ(info.format, &f);
    EXPECT_EQ(info.shape, specs[i].shape);
    EXPECT_EQ(info.bytes, static_cast<std::uint64_t>(kRows * f.row_bytes(cols)));
    const auto data = file.tensor_data(info);
    ASSERT_EQ(data.size(), tensors[i].bytes.size());
    EXPECT_EQ(std::memcmp(data.data(), tensors[i].bytes.data(), data.size()), 0);

    const TensorView view = make_contiguous_view(data.data(), info.shape, f.storage());
    EXPECT_EQ(view.row_bytes(), f.row_bytes(cols));
    EXPECT_EQ(view.row_stride, f.row_bytes(cols));
    EXPECT_EQ(view.bytes(), static_cast<std::int64_t>(info.bytes));
    EXPECT_TRUE(view.contiguous());
    EXPECT_EQ(view.row(2), data.data() + 2 * f.row_bytes(cols));

    const TensorView before = make_contiguous_view(tensors[i].bytes.data(), info.shape, f.storage());
    const std::vector<float> want = decode(before, f);
    const std::vector<float> got = decode(view, f);
    ASSERT_EQ(got.size(), tensors[i].values.size());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
    // And they are the values that were quantized, within the format's error
    // (binary codes keep only the sign: a loose bound that still catches a misplaced row).
    double signal = 0;
    double noise = 0;
    for (std::size_t j = 0; j < got.size(); ++j) {
      signal += static_cast<double>(tensors[i].values[j]) * tensors[i].values[j];
      noise += std::pow(static_cast<double>(got[j]) - tensors[i].values[j], 2);
    }
    EXPECT_LT(std::sqrt(noise / signal), cols == 1 ? 1.0 + 1e-6 : 0.9);
  }
  // write_copy keeps every byte.
  const auto copy = dir / "copy.gguf";
  gguf::write_copy(file, copy);
  EXPECT_EQ(read_file_bytes(copy), read_file_bytes(path));
}

TEST(GgufQuantlmFormats, SizesFollowTheRowFunctions) {
  const FormatTraits& g32 = formats::traits(FormatId::I4_G32);
  // 5 full groups of 18 bytes and a ragged one of 12 values: 2 + 6 bytes (FORMATS.md).
  EXPECT_EQ(g32.row_bytes(172), 98);
  const FormatTraits& row = formats::traits(FormatId::I4_ROW);
  EXPECT_EQ(row.row_bytes(172), 4 + 86);
  const TempDir dir;
  {
    GgufWriter writer(dir / "a.gguf", {}, {{"w", Shape{{5, 172}, 2}, &g32}, {"r", Shape{{2, 3, 33}, 3}, &row}});
    writer.write_tensor(std::vector<std::byte>(5 * 98));
    // A size computed by the block rule is refused.
    EXPECT_THROW(writer.write_tensor(std::vector<std::byte>(6 * 33 / 2)), Error);
  }
  GgufWriter writer(dir / "b.gguf", {}, {{"w", Shape{{5, 172}, 2}, &g32}, {"r", Shape{{2, 3, 33}, 3}, &row}});
  writer.write_tensor(std::vector<std::byte>(5 * 98));
  writer.write_tensor(std::vector<std::byte>(static_cast<std::size_t>(6 * row.row_bytes(33))));
  writer.finish();
  const GgufFile file = GgufFile::open(dir / "b.gguf");
  EXPECT_EQ(file.tensors()[0].bytes, 490U);
  EXPECT_EQ(file.tensors()[1].bytes, 6U * (4U + 17U));
}

// The reader computes a quantlm tensor's size from its row function, so data
// laid out by any other rule (here: cols x bits / 8, no headers) is found
// wrong, with the tensor, the format and the size it expected in the message.
constexpr const char* kName = "synthetic/quantlm.gguf";

// The reader's message for `bytes` ("" when they parse).
std::string parse_error_of(std::span<const std::byte> bytes) {
  try {
    static_cast<void>(GgufFile::from_bytes(bytes, kName));
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

std::string parse_error(const GgufImage& image) { return parse_error_of(image.build()); }

TEST(GgufQuantlmFormats, ValidImageParses) {
  GgufImage image = small_valid_image();
  image.tensors.push_back(RawTensor{"q", {172, 5}, static_cast<std::uint32_t>(FormatId::I4_G32), {}, {}});
  image.tensors.push_back(RawTensor{"r", {33, 2}, static_cast<std::uint32_t>(FormatId::I3_ROWA), {}, {}});
  const GgufFile file = GgufFile::from_bytes(image.build(), kName);
  EXPECT_EQ(file.tensors()[3].bytes, 490U);
  EXPECT_EQ(file.tensors()[4].bytes, 2U * (8U + 13U));
  const auto data = file.tensor_data(file.tensors()[4]);
  for (std::size_t j = 0; j < data.size(); ++j) EXPECT_EQ(data[j], pattern_byte(4, j));
}

TEST(GgufQuantlmFormats, WrongSizesAreClearErrors) {
  // "q" [172, 5] I4_G32 takes 490 bytes; "after" is placed where a writer
  // that forgot the ragged group's header would put it (5 x 86 = 430 bytes).
  GgufImage image = small_valid_image();
  image.tensors.push_back(RawTensor{"q", {172, 5}, static_cast<std::uint32_t>(FormatId::I4_G32), {}, {}});
  std::vector<std::byte> good = image.build();
  const GgufFile file = GgufFile::from_bytes(good, kName);
  const std::uint64_t q_offset = file.tensors()[3].offset;
  image.tensors.push_back(RawTensor{"after", {4}, 0, {}, q_offset + 448});  // 448: aligned, inside q's 490
  std::string message = parse_error(image);
  for (const char* fragment : {kName, "tensor 4 ('after')", "overlaps tensor 3 ('q')",
                               "490 bytes: 98 bytes per row x 5 rows of I4_G32 [172, 5]"}) {
    EXPECT_NE(message.find(fragment), std::string::npos) << fragment << " not in: " << message;
  }

  // The file ends where the block rule would end it.
  image.tensors.pop_back();
  std::vector<std::byte> bytes = image.build();
  bytes.resize(file.data_offset() + q_offset + 430);
  message = parse_error_of(bytes);
  for (const char* fragment :
       {kName, "tensor 3 ('q')", "extends past the end of the file", "490 bytes: 98 bytes per row x 5 rows"}) {
    EXPECT_NE(message.find(fragment), std::string::npos) << fragment << " not in: " << message;
  }

  // Sizes that overflow int64 in the row function (header + codes) or in rows x row bytes.
  image = small_valid_image();
  image.tensors.push_back(RawTensor{"huge",
                                    {static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()), 1},
                                    static_cast<std::uint32_t>(FormatId::I8_ROW),
                                    {},
                                    {}});
  message = parse_error(image);
  EXPECT_NE(message.find("tensor 3 ('huge'): shape"), std::string::npos) << message;
  EXPECT_NE(message.find("in I8_ROW overflows int64"), std::string::npos) << message;
  // 2^62 elements fit; 5 bytes per row (fp32 scale + one code) do not.
  image.tensors.back() =
      RawTensor{"huge", {1, std::uint64_t{1} << 62}, static_cast<std::uint32_t>(FormatId::I8_ROW), {}, {}};
  message = parse_error(image);
  EXPECT_NE(message.find("tensor 3 ('huge'): shape"), std::string::npos) << message;
  EXPECT_NE(message.find("in I8_ROW overflows int64"), std::string::npos) << message;
}

}  // namespace
}  // namespace quantlm::test
