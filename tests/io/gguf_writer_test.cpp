// GgufWriter from scratch: every value type, custom alignment, v2/v3, atomic replacement and cleanup on failure.
#include "io/gguf/gguf_writer.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "io/gguf/gguf_file.h"
#include "io/gguf_builder.h"
#include "support/temp_dir.h"

namespace quantlm::test {
namespace {

using formats::FormatId;
using gguf::Array;
using gguf::GgufFile;
using gguf::GgufWriter;
using gguf::KeyValue;
using gguf::TensorSpec;
using gguf::Value;
using gguf::ValueType;

const formats::FormatTraits* fmt_of(FormatId id) { return &formats::traits(id); }

std::vector<KeyValue> every_value_type() {
  float nan_with_payload = 0;
  const std::uint32_t nan_bits = 0x7FC12345U;
  std::memcpy(&nan_with_payload, &nan_bits, 4);
  return {
      {"u8", Value::from_u8(200)},
      {"i8", Value::from_i8(-100)},
      {"u16", Value::from_u16(65535)},
      {"i16", Value::from_i16(-32768)},
      {"u32", Value::from_u32(4000000000U)},
      {"i32", Value::from_i32(-2000000000)},
      {"f32", Value::from_f32(-1.25e-3F)},
      {"bool_true", Value::from_bool(true)},
      {"bool_false", Value::from_bool(false)},
      {"string", Value::from_string("h\xC3\xA9llo\n\"world\"")},
      {"empty_string", Value::from_string("")},
      {"u64", Value::from_u64(std::numeric_limits<std::uint64_t>::max())},
      {"i64", Value::from_i64(std::numeric_limits<std::int64_t>::min())},
      {"f64", Value::from_f64(3.141592653589793)},
      {"nan", Value::from_f32(nan_with_payload)},
      {"arr.u8", Value::from_array({ValueType::u8, std::vector<std::uint8_t>{0, 1, 255}})},
      {"arr.i8", Value::from_array({ValueType::i8, std::vector<std::int8_t>{-128, 127}})},
      {"arr.u16", Value::from_array({ValueType::u16, std::vector<std::uint16_t>{1, 65535}})},
      {"arr.i16", Value::from_array({ValueType::i16, std::vector<std::int16_t>{-1, 2}})},
      {"arr.u32", Value::from_array({ValueType::u32, std::vector<std::uint32_t>{7, 8, 9}})},
      {"arr.i32", Value::from_array({ValueType::i32, std::vector<std::int32_t>{-7}})},
      {"arr.f32", Value::from_array({ValueType::f32, std::vector<float>{0.5F, -0.0F, 1e30F}})},
      {"arr.bool", Value::from_array({ValueType::boolean, std::vector<std::uint8_t>{1, 0, 0, 1}})},
      {"arr.string", Value::from_array({ValueType::string, std::vector<std::string>{"a", "", "\xE2\x96\x81the"}})},
      {"arr.u64", Value::from_array({ValueType::u64, std::vector<std::uint64_t>{1ULL << 63}})},
      {"arr.i64", Value::from_array({ValueType::i64, std::vector<std::int64_t>{-1, 1}})},
      {"arr.f64", Value::from_array({ValueType::f64, std::vector<double>{1e-300, 2.5}})},
      {"arr.empty", Value::from_array({ValueType::u32, std::vector<std::uint32_t>{}})},
      {"arr.empty_strings", Value::from_array({ValueType::string, std::vector<std::string>{}})},
  };
}

std::vector<TensorSpec> some_tensors() {
  return {
      {"matrix", Shape{{3, 5}, 2}, fmt_of(FormatId::F32)}, {"q4", Shape{{2, 64}, 2}, fmt_of(FormatId::Q4_0)},
      {"vec.f16", Shape{{7}, 1}, fmt_of(FormatId::F16)},   {"scalar", Shape{{}, 0}, fmt_of(FormatId::F32)},
      {"empty", Shape{{0, 4}, 2}, fmt_of(FormatId::F32)},  {"four.d", Shape{{2, 1, 3, 256}, 4}, fmt_of(FormatId::Q6_K)},
  };
}

std::vector<std::byte> data_for(const TensorSpec& spec, std::size_t seed) {
  const auto bytes =
      static_cast<std::size_t>(spec.shape.elements() / spec.format->block_elems * spec.format->block_bytes);
  std::vector<std::byte> data(bytes);
  for (std::size_t j = 0; j < bytes; ++j) data[j] = pattern_byte(seed, j);
  return data;
}

std::size_t entries(const std::filesystem::path& dir) {
  return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(dir), {}));
}

class GgufWriterVersions : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(GgufWriterVersions, EveryValueTypeAndTensorKindReadsBackEqual) {
  const std::uint32_t version = GetParam();
  const TempDir dir;
  const auto path = dir / "all.gguf";
  std::vector<KeyValue> metadata = every_value_type();
  metadata.insert(metadata.begin() + 3, {"general.alignment", Value::from_u32(64)});
  const std::vector<TensorSpec> specs = some_tensors();
  {
    GgufWriter writer(path, metadata, specs, version);
    for (std::size_t i = 0; i < specs.size(); ++i) writer.write_tensor(data_for(specs[i], i));
    writer.finish();
  }
  EXPECT_EQ(entries(dir.path()), 1U);  // no temporary file left

  const GgufFile f = GgufFile::open(path);
  EXPECT_EQ(f.version(), version);
  EXPECT_EQ(f.alignment(), 64U);
  EXPECT_EQ(f.data_offset() % 64, 0U);
  // Values compare equal (NaN aside, checked by bits below), types kept exactly.
  ASSERT_EQ(f.metadata().size(), metadata.size());
  for (std::size_t i = 0; i < metadata.size(); ++i) {
    EXPECT_EQ(f.metadata()[i].key, metadata[i].key);
    EXPECT_EQ(f.metadata()[i].value.type(), metadata[i].value.type()) << metadata[i].key;
    if (metadata[i].key != "nan") {
      EXPECT_EQ(f.metadata()[i].value, metadata[i].value) << metadata[i].key;
    }
  }
  std::uint32_t nan_bits = 0;
  std::memcpy(&nan_bits, &std::get<float>(f.find("nan")->storage()), 4);
  EXPECT_EQ(nan_bits, 0x7FC12345U);
  const gguf::Array* floats = f.find("arr.f32")->as_array();
  ASSERT_NE(floats, nullptr);
  EXPECT_TRUE(std::signbit(std::get<std::vector<float>>(floats->items)[1]));

  ASSERT_EQ(f.tensors().size(), specs.size());
  std::uint64_t expected_offset = 0;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const gguf::TensorInfo& t = f.tensors()[i];
    EXPECT_EQ(t.name, specs[i].name);
    EXPECT_EQ(t.shape, specs[i].shape) << t.name;
    EXPECT_EQ(t.format, specs[i].format) << t.name;
    EXPECT_EQ(t.offset, expected_offset) << t.name;  // back to back, each padded to 64
    const auto data = f.tensor_data(t);
    const std::vector<std::byte> expected = data_for(specs[i], i);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), expected.begin(), expected.end())) << t.name;
    expected_offset += (t.bytes + 63) / 64 * 64;
  }
  EXPECT_EQ(f.find_tensor("scalar")->ne.size(), 0U);
  EXPECT_EQ(f.find_tensor("four.d")->ne, (std::vector<std::uint64_t>{256, 3, 1, 2}));
  EXPECT_EQ(f.file_size(), f.data_offset() + expected_offset);  // the last tensor is padded too

  // The padding is zeros, and a copy is byte-identical.
  const std::vector<std::byte> bytes = read_file_bytes(path);
  const gguf::TensorInfo& f16 = *f.find_tensor("vec.f16");
  for (std::uint64_t j = f16.bytes; j < 64; ++j) EXPECT_EQ(bytes[f.data_offset() + f16.offset + j], std::byte{0});
  gguf::write_copy(f, dir / "copy.gguf");
  EXPECT_EQ(read_file_bytes(dir / "copy.gguf"), bytes);
}

INSTANTIATE_TEST_SUITE_P(V2AndV3, GgufWriterVersions, ::testing::Values(2U, 3U));

TEST(GgufWriter, NoTensorsStillPadsTheHeader) {
  const TempDir dir;
  GgufWriter writer(dir / "meta.gguf", {{"k", Value::from_u8(1)}}, {});
  writer.finish();
  const GgufFile f = GgufFile::open(dir / "meta.gguf");
  EXPECT_EQ(f.file_size(), 64U);  // 24-byte header + 14-byte kv = 38, padded to 64
  EXPECT_EQ(f.data_offset(), f.file_size());
}

TEST(GgufWriter, DestroyedWithoutFinishLeavesNothing) {
  const TempDir dir;
  const auto path = dir / "out.gguf";
  const std::vector<TensorSpec> specs = some_tensors();
  {
    GgufWriter writer(path, every_value_type(), specs);
    writer.write_tensor(data_for(specs[0], 0));
    EXPECT_EQ(entries(dir.path()), 1U);  // the temporary file exists meanwhile
    EXPECT_FALSE(std::filesystem::exists(path));
  }
  EXPECT_EQ(entries(dir.path()), 0U);
}

TEST(GgufWriter, WrongSizedTensorFailsAndLeavesDestinationUntouched) {
  const TempDir dir;
  const auto path = dir / "out.gguf";
  const std::vector<std::byte> old_content = small_valid_image().build();
  write_file_bytes(path, old_content);
  const std::vector<TensorSpec> specs = some_tensors();
  GgufWriter writer(path, {}, specs);
  writer.write_tensor(data_for(specs[0], 0));
  std::vector<std::byte> wrong = data_for(specs[1], 1);
  wrong.pop_back();
  try {
    writer.write_tensor(wrong);
    FAIL() << "accepted a short tensor";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_NE(message.find("tensor 1 ('q4'): expected 72 bytes (Q4_0 [2, 64]), got 71"), std::string::npos) << message;
  }
  EXPECT_EQ(entries(dir.path()), 1U);  // the temporary file is gone at once
  EXPECT_EQ(read_file_bytes(path), old_content);
  EXPECT_THROW(writer.write_tensor(data_for(specs[1], 1)), Error);  // the writer stays failed
  EXPECT_THROW(writer.finish(), Error);
  EXPECT_EQ(read_file_bytes(path), old_content);
}

TEST(GgufWriter, FinishReplacesAnExistingFile) {
  const TempDir dir;
  const auto path = dir / "out.gguf";
  write_file_bytes(path, std::vector<std::byte>(10, std::byte{9}));
  GgufWriter writer(path, {{"x", Value::from_string("y")}}, {});
  writer.finish();
  EXPECT_EQ(GgufFile::open(path).find("x")->to_display_string(), "\"y\"");
  EXPECT_EQ(entries(dir.path()), 1U);
  EXPECT_THROW(writer.finish(), Error);  // once only
}

TEST(GgufWriter, MissingOrExtraTensors) {
  const TempDir dir;
  const std::vector<TensorSpec> specs = some_tensors();
  {
    GgufWriter writer(dir / "out.gguf", {}, specs);
    writer.write_tensor(data_for(specs[0], 0));
    try {
      writer.finish();
      FAIL();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("after 1 of 6 tensors; 'q4' was not written"), std::string::npos)
          << e.what();
    }
    EXPECT_EQ(entries(dir.path()), 0U);
  }
  GgufWriter writer(dir / "out.gguf", {}, {specs[0]});
  writer.write_tensor(data_for(specs[0], 0));
  EXPECT_THROW(writer.write_tensor(data_for(specs[0], 0)), Error);
  EXPECT_EQ(entries(dir.path()), 0U);
}

// The constructor refuses what the reader would refuse, before creating any file.
void expect_refused(std::vector<KeyValue> metadata, std::vector<TensorSpec> tensors, std::string_view fragment,
                    std::uint32_t version = 3) {
  const TempDir dir;
  const auto path = dir / "refused.gguf";
  try {
    GgufWriter writer(path, std::move(metadata), std::move(tensors), version);
    ADD_FAILURE() << "accepted; expected: " << fragment;
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_NE(message.find(fragment), std::string::npos) << "'" << fragment << "' not in: " << message;
  }
  EXPECT_EQ(entries(dir.path()), 0U);
}

TEST(GgufWriter, RefusesInvalidMetadata) {
  expect_refused({{"", Value::from_u8(1)}}, {}, "metadata key 0: the key is empty");
  expect_refused({{"a", Value::from_u8(1)}, {"a", Value::from_u8(2)}}, {}, "metadata key 'a': duplicate key");
  expect_refused({{"general.alignment", Value::from_u64(32)}}, {}, "'general.alignment': expected type u32, found u64");
  expect_refused({{"general.alignment", Value::from_u32(24)}}, {}, "nonzero power of two, found 24");
  expect_refused({{"arr", Value::from_array({ValueType::u32, std::vector<float>{1.0F}})}}, {},
                 "metadata key 'arr': array with element type u32 (4) does not hold matching items");
  expect_refused({{"arr", Value::from_array({ValueType::boolean, std::vector<std::uint8_t>{0, 2}})}}, {},
                 "bool items must be 0 or 1");
  expect_refused({{"arr", Value::from_array({ValueType::array, std::vector<std::uint8_t>{}})}}, {},
                 "element type arr (9)");
  expect_refused({}, {}, "GGUF version 1 cannot be written", 1);
}

TEST(GgufWriter, RefusesInvalidTensors) {
  const auto* f32 = fmt_of(FormatId::F32);
  const auto* q4 = fmt_of(FormatId::Q4_0);
  expect_refused({}, {{"t", Shape{{2}, 1}, nullptr}}, "tensor 0 ('t'): no format given");
  expect_refused({}, {{"t", Shape{{2}, 1}, f32}, {"t", Shape{{2}, 1}, f32}}, "tensor 1 ('t'): duplicate tensor name");
  expect_refused({}, {{std::string(64, 'x'), Shape{{2}, 1}, f32}}, "64 bytes long, expected at most 63");
  expect_refused({}, {{"t", Shape{{3, 48}, 2}, q4}},
                 "tensor 0 ('t'): shape [3, 48]: row length ne[0] = 48 is not a multiple");
  expect_refused({}, {{"t", Shape{{-3, 32}, 2}, q4}}, "ne[1] = -3 is negative");
  expect_refused({}, {{"t", Shape{{2}, 5}, f32}}, "rank 5 is outside [0, 4]");
  expect_refused({}, {{"t", Shape{{std::int64_t{1} << 40, std::int64_t{1} << 40}, 2}, f32}}, "overflows int64");
  expect_refused({}, {{"t", Shape{{std::int64_t{1} << 40, std::int64_t{1} << 40, 0}, 3}, f32}}, "overflows int64");
}

TEST(GgufWriter, UnwritableDirectoryNamesThePath) {
  const TempDir dir;
  try {
    GgufWriter writer(dir / "no/such/dir/out.gguf", {}, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create a temporary file beside"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no/such/dir/out.gguf"), std::string::npos) << e.what();
  }
}

// A full disk, simulated with RLIMIT_FSIZE (writes past it fail with EFBIG once SIGXFSZ is ignored).
TEST(GgufWriter, WriteFailureIsAnErrorAndCleansUp) {
  const TempDir dir;
  const auto path = dir / "big.gguf";
  const TensorSpec spec{"big", Shape{{1 << 20}, 1}, fmt_of(FormatId::F32)};  // 4 MiB
  const std::vector<std::byte> data(4U << 20U, std::byte{1});
  GgufWriter writer(path, {}, {spec});

  rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  rlimit small = old_limit;
  small.rlim_cur = 1 << 20;
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  try {
    writer.write_tensor(data);
  } catch (const Error& e) {
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old_limit);
  signal(SIGXFSZ, old_handler);

  EXPECT_NE(message.find("cannot write '" + path.string() + "' (temporary file"), std::string::npos) << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  EXPECT_EQ(entries(dir.path()), 0U);
}

TEST(GgufValue, AccessorsAndDisplay) {
  EXPECT_EQ(Value::from_u64(std::numeric_limits<std::uint64_t>::max()).as_int(), std::nullopt);
  EXPECT_EQ(Value::from_u64(42).as_int(), 42);
  EXPECT_EQ(Value::from_i8(-3).as_int(), -3);
  EXPECT_EQ(Value::from_bool(true).as_int(), 1);
  EXPECT_EQ(Value::from_f32(1.5F).as_int(), std::nullopt);
  EXPECT_EQ(Value::from_f32(1.5F).as_double(), 1.5);
  EXPECT_EQ(Value::from_string("s").as_double(), std::nullopt);
  EXPECT_EQ(Value::from_string("s").as_array(), nullptr);
  EXPECT_EQ(Value(ValueType::u16, std::uint16_t{7}).type(), ValueType::u16);
  EXPECT_EQ(Value().type(), ValueType::u8);

  EXPECT_EQ(Value::from_u8(200).to_display_string(), "200");
  EXPECT_EQ(Value::from_i8(-5).to_display_string(), "-5");
  EXPECT_EQ(Value::from_f32(1e-5F).to_display_string(), "1e-05");
  EXPECT_EQ(Value::from_bool(false).to_display_string(), "false");
  EXPECT_EQ(Value::from_string("a\"b\n\x01").to_display_string(), "\"a\\\"b\\n\\x01\"");
  const std::string long_text(300, 'x');
  EXPECT_EQ(Value::from_string(long_text).to_display_string(), "\"" + std::string(200, 'x') + "\"... (300 bytes)");
  std::vector<std::uint32_t> many(20);
  for (std::uint32_t i = 0; i < 20; ++i) many[i] = i;
  EXPECT_EQ(Value::from_array({ValueType::u32, many}).to_display_string(3), "[0, 1, 2, ... (20 items)]");
  EXPECT_EQ(Value::from_array({ValueType::u32, many}).to_display_string(0), "[... (20 items)]");
  EXPECT_EQ(Value::from_array({ValueType::boolean, std::vector<std::uint8_t>{1, 0}}).to_display_string(),
            "[true, false]");
  EXPECT_EQ(Value::from_array({ValueType::string, std::vector<std::string>{"a", "b"}}).to_display_string(),
            "[\"a\", \"b\"]");
  EXPECT_EQ(Value::from_array({ValueType::u8, std::vector<std::uint8_t>{}}).to_display_string(), "[]");

  EXPECT_EQ(gguf::quote_for_message("ok.name"), "'ok.name'");
  EXPECT_EQ(gguf::quote_for_message("a'\xFF"), "'a\\x27\\xff'");
  EXPECT_EQ(gguf::quote_for_message("abcdef", 3), "'abc'... (6 bytes)");
  EXPECT_EQ(gguf::value_type_name(static_cast<ValueType>(77)), "?");
}

}  // namespace
}  // namespace quantlm::test
