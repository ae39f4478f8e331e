// Malformed GGUF input: each corruption throws a quantlm::Error naming the file and the field, never crashes.
#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>
#include <limits>
#include <set>
#include <span>
#include <string>

#include "core/error.h"
#include "io/gguf/gguf_file.h"
#include "io/gguf_builder.h"
#include "support/assets.h"
#include "support/temp_dir.h"

namespace quantlm::test {
namespace {

using gguf::GgufFile;

constexpr const char* kName = "synthetic/bad.gguf";

// Parses `bytes` and returns the error message ("" when it parsed).
std::string parse_error(std::span<const std::byte> bytes) {
  try {
    static_cast<void>(GgufFile::from_bytes(bytes, kName));
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

// The image must be rejected with a message holding the file name and every fragment.
void expect_rejected(const GgufImage& image, std::initializer_list<std::string_view> fragments) {
  const std::string message = parse_error(image.build());
  ASSERT_FALSE(message.empty()) << "parsed without error";
  EXPECT_NE(message.find(kName), std::string::npos) << message;
  for (const std::string_view f : fragments)
    EXPECT_NE(message.find(f), std::string::npos) << "'" << f << "' not in: " << message;
}

TEST(GgufMalformed, SmallValidImageParses) {
  const GgufImage image = small_valid_image();
  const GgufFile file = GgufFile::from_bytes(image.build(), kName);
  ASSERT_EQ(file.tensors().size(), 3U);
  EXPECT_EQ(file.tensors()[1].bytes, 2U * 18U * 2U);
  const auto data = file.tensor_data(file.tensors()[2]);
  ASSERT_EQ(data.size(), 10U);
  for (std::size_t j = 0; j < data.size(); ++j) EXPECT_EQ(data[j], pattern_byte(2, j));
}

TEST(GgufMalformed, EmptyFileAndBadMagic) {
  EXPECT_NE(parse_error(std::span<const std::byte>()).find("header: the file is empty"), std::string::npos);
  GgufImage image = small_valid_image();
  image.magic = 0x4C4C5546;  // "FULL"
  expect_rejected(image, {"header: magic", "expected 'GGUF'", "'FULL'"});
}

TEST(GgufMalformed, UnsupportedVersions) {
  GgufImage image = small_valid_image();
  image.version = 1;
  expect_rejected(image, {"header: version", "version 1 is not supported", "expected 2 or 3"});
  image.version = 4;
  expect_rejected(image, {"header: version", "unsupported GGUF version 4"});
  image.version = 0x03000000;
  expect_rejected(image, {"header: version", "big-endian"});
  image.version = 2;
  EXPECT_EQ(GgufFile::from_bytes(image.build(), kName).version(), 2U);
}

TEST(GgufMalformed, HugeCountsFailBeforeAllocating) {
  GgufImage image = small_valid_image();
  image.tensor_count = std::numeric_limits<std::uint64_t>::max();
  expect_rejected(image, {"header: tensor_count", "cannot fit"});
  image = small_valid_image();
  image.kv_count = std::uint64_t{1} << 60;
  expect_rejected(image, {"header: kv_count", "cannot fit"});
  // A count within the bound but beyond the actual entries runs into the end.
  image = small_valid_image();
  image.tensors.clear();
  image.kv_count = 4;
  expect_rejected(image, {"metadata key 3: key"});
}

TEST(GgufMalformed, StringLengthPastEndOfFile) {
  GgufImage image = small_valid_image();
  Bytes bad;
  bad.u64(1000000).raw("abc", 3);
  image.kvs[0].payload = bad.data();
  expect_rejected(image,
                  {"metadata key 'general.architecture': value", "string length 1000000", "extends past the end"});
  image = small_valid_image();
  image.kvs[0].payload = Bytes().u64(std::uint64_t{1} << 40).data();
  expect_rejected(image, {"metadata key 'general.architecture': value", "exceeds the limit"});
}

TEST(GgufMalformed, ArrayProblems) {
  GgufImage image = small_valid_image();
  image.kvs.push_back(kv_array("nested", 9, 1, Bytes().u32(4).u64(0)));
  expect_rejected(image, {"metadata key 'nested': array element type", "nested arrays"});

  image = small_valid_image();
  image.kvs.push_back(kv_array("weird", 13, 0, Bytes()));
  expect_rejected(image, {"metadata key 'weird': array element type", "unknown value type 13"});

  image = small_valid_image();
  image.kvs.push_back(kv_array("huge", 4, std::uint64_t{1} << 29, Bytes().u32(1)));
  expect_rejected(image, {"metadata key 'huge': array count", "cannot fit"});

  image = small_valid_image();
  image.kvs.push_back(kv_array("huge_strings", 8, std::uint64_t{1} << 62, Bytes()));
  expect_rejected(image, {"metadata key 'huge_strings': array count", "exceed the limit"});

  image = small_valid_image();
  image.kvs.push_back(kv_array("short_string", 8, 2, Bytes().str("ok").u64(1 << 20)));
  expect_rejected(image, {"metadata key 'short_string': element 1", "string length 1048576", "past the end"});

  image = small_valid_image();
  image.kvs.push_back(kv_array("bools", 7, 3, Bytes().u8(1).u8(0).u8(2)));
  expect_rejected(image, {"metadata key 'bools': element 2", "bool must be 0 or 1, found 2"});
}

TEST(GgufMalformed, BadScalars) {
  GgufImage image = small_valid_image();
  image.kvs.push_back(RawKv{"strange", 13, Bytes().u32(0).data()});
  expect_rejected(image, {"metadata key 'strange': value type", "unknown value type 13"});
  image = small_valid_image();
  image.kvs.push_back(kv_bool_raw("flag", 7));
  expect_rejected(image, {"metadata key 'flag': value", "bool must be 0 or 1, found 7"});
  image = small_valid_image();
  image.kvs.push_back(kv_u32("", 1));
  expect_rejected(image, {"metadata key 3: key", "is empty"});
}

TEST(GgufMalformed, DuplicateKeysAndTensors) {
  GgufImage image = small_valid_image();
  image.kvs.push_back(kv_u32("llama.block_count", 6));
  expect_rejected(image, {"metadata key 'llama.block_count'", "duplicate key (metadata keys 1 and 3)"});
  image = small_valid_image();
  image.tensors[2].name = "a";
  expect_rejected(image, {"tensor 2 ('a'): name", "duplicate tensor name (tensors 0 and 2)"});
}

TEST(GgufMalformed, AlignmentKey) {
  GgufImage image = small_valid_image();
  image.kvs.push_back(kv_f32("general.alignment", 32.0F));
  expect_rejected(image, {"metadata key 'general.alignment'", "expected type u32, found f32"});
  image = small_valid_image();
  image.kvs.push_back(kv_u32("general.alignment", 48));
  expect_rejected(image, {"metadata key 'general.alignment'", "nonzero power of two, found 48"});
  image.kvs.back() = kv_u32("general.alignment", 0);
  expect_rejected(image, {"metadata key 'general.alignment'", "found 0"});
  // A valid custom alignment is honoured by the layout.
  image = small_valid_image();
  image.kvs.push_back(kv_u32("general.alignment", 64));
  image.alignment = 64;
  const GgufFile file = GgufFile::from_bytes(image.build(), kName);
  EXPECT_EQ(file.alignment(), 64U);
  EXPECT_EQ(file.data_offset() % 64, 0U);
  EXPECT_EQ(file.tensors()[1].offset, 64U);
}

TEST(GgufMalformed, TensorTypeAndDims) {
  GgufImage image = small_valid_image();
  image.tensors[1].type = 4;  // Q4_2, retired by ggml
  expect_rejected(image, {"tensor 1 ('b'): type", "unknown tensor type 4"});
  image.tensors[1].type = 1000000;
  expect_rejected(image, {"tensor 1 ('b'): type", "unknown tensor type 1000000"});

  image = small_valid_image();
  image.tensors[0].n_dims = 5;
  expect_rejected(image, {"tensor 0 ('a'): n_dims", "at most 4 dimensions, found 5"});

  image = small_valid_image();
  image.tensors[0].ne = {4, std::numeric_limits<std::uint64_t>::max()};
  expect_rejected(image, {"tensor 0 ('a'): shape", "ne[1] = -1 is negative"});

  image = small_valid_image();
  image.tensors[0].ne = {std::uint64_t{1} << 32, std::uint64_t{1} << 31};
  expect_rejected(image, {"tensor 0 ('a'): shape", "overflows int64"});

  // Found by fuzz_gguf_reader: a zero dimension makes the count 0, but rows() multiplies the others.
  image = small_valid_image();
  image.tensors[0].ne = {0, std::uint64_t{1} << 40, std::uint64_t{1} << 40};
  expect_rejected(image, {"tensor 0 ('a'): shape", "overflows int64"});
  image.tensors[0].ne = {(std::uint64_t{1} << 62) + 32, 0};  // 0 bytes, but row_bytes() would overflow
  expect_rejected(image, {"tensor 0 ('a'): shape", "byte size of dims", "overflows int64"});

  image = small_valid_image();
  image.tensors[0].ne = {std::uint64_t{1} << 61, 1};  // elements fit, F32 bytes do not
  expect_rejected(image, {"tensor 0 ('a'): shape", "byte size"});

  image = small_valid_image();
  image.tensors[1].ne = {48, 2};
  expect_rejected(image, {"tensor 1 ('b'): shape", "ne[0] = 48 is not a multiple of Q4_0's block size 32"});

  image = small_valid_image();
  image.tensors[0].name = std::string(64, 'n');
  expect_rejected(image, {"tensor 0 ('nnnn", "64 bytes long, expected at most 63"});
}

TEST(GgufMalformed, ZeroSizedDimensionsAreEmptyTensors) {
  GgufImage image = small_valid_image();
  image.tensors.insert(image.tensors.begin() + 1, RawTensor{"empty", {8, 0}, 0, {}, {}});
  const GgufFile file = GgufFile::from_bytes(image.build(), kName);
  const gguf::TensorInfo* empty = file.find_tensor("empty");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->bytes, 0U);
  EXPECT_EQ(empty->shape.elements(), 0);
  EXPECT_TRUE(file.tensor_data(*empty).empty());
  EXPECT_EQ(empty->offset, file.tensors()[2].offset);  // shares the position of the next tensor
}

TEST(GgufMalformed, OffsetsMisalignedOutOfBoundsOverlapping) {
  GgufImage image = small_valid_image();
  image.tensors[1].offset = 50;
  expect_rejected(image, {"tensor 1 ('b'): offset", "50 is not a multiple of the alignment 32"});

  image = small_valid_image();
  image.tensors[2].offset = std::uint64_t{1} << 40;
  expect_rejected(image, {"tensor 2 ('c'): offset", "past the end of the data section"});

  image = small_valid_image();
  image.tensors[2].offset = 0xFFFFFFFFFFFFFFE0U;  // aligned, and offset + size would wrap around
  expect_rejected(image, {"tensor 2 ('c'): offset", "past the end"});

  image = small_valid_image();
  image.tensors[1].offset = 32;  // "a" is 48 bytes at 0
  expect_rejected(image, {"tensor 1 ('b'): data [", "overlaps tensor 0 ('a') at ["});

  image = small_valid_image();
  std::vector<std::byte> bytes = image.build();
  bytes.resize(bytes.size() - 60);  // data: a [0, 48), b [64, 136), c [160, 170), padded to 192
  const std::string message = parse_error(bytes);
  EXPECT_NE(message.find("tensor 1 ('b'): data ["), std::string::npos) << message;
  EXPECT_NE(message.find("extends past the end of the file"), std::string::npos) << message;

  bytes = image.build();
  bytes.resize(bytes.size() - 1);  // only "c"'s padding is missing
  const std::string padding = parse_error(bytes);
  EXPECT_NE(padding.find("tensor 2 ('c'): data ["), std::string::npos) << padding;
  EXPECT_NE(padding.find("padded to the 32-byte alignment"), std::string::npos) << padding;
}

TEST(GgufMalformed, OutOfOrderLayoutIsAccepted) {
  // Any aligned, non-overlapping layout is valid even if it is not llama.cpp's.
  GgufImage image = small_valid_image();
  image.tensors[0].offset = 128;
  image.tensors[1].offset = 0;
  image.tensors[2].offset = 96;
  const GgufFile file = GgufFile::from_bytes(image.build(), kName);
  const auto a = file.tensor_data(file.tensors()[0]);
  EXPECT_EQ(a.data(), file.tensor_data(file.tensors()[1]).data() + 128);
  EXPECT_EQ(a[0], pattern_byte(0, 0));
}

TEST(GgufMalformed, TrailingBytesAreIgnored) {
  std::vector<std::byte> bytes = small_valid_image().build();
  const std::size_t size = bytes.size();
  bytes.resize(size + 100, std::byte{0x7F});
  const GgufFile file = GgufFile::from_bytes(bytes, kName);
  EXPECT_EQ(file.file_size(), size + 100);
}

TEST(GgufMalformed, ForeignTensorInfoIsRefused) {
  const GgufFile file = GgufFile::from_bytes(small_valid_image().build(), kName);
  const gguf::TensorInfo copy = file.tensors()[0];
  EXPECT_THROW(static_cast<void>(file.tensor_data(copy)), Error);
}

TEST(GgufMalformed, OpenNamesThePathOnDisk) {
  TempDir dir;
  const auto path = dir / "broken.gguf";
  GgufImage image = small_valid_image();
  image.version = 7;
  write_file_bytes(path, image.build());
  try {
    static_cast<void>(GgufFile::open(path));
    FAIL() << "opened";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string() + ": header: version"), std::string::npos) << e.what();
  }
  EXPECT_THROW(static_cast<void>(GgufFile::open(dir / "missing.gguf")), Error);
  EXPECT_THROW(static_cast<void>(GgufFile::open(dir.path())), Error);  // a directory
}

// Counts the prefixes of `bytes` that parse: every `dense_stride`-th offset
// below `dense_end`, every `stride`-th above it, and the last 64. Every writer
// pads the last tensor, so even a prefix missing only padding must be rejected.
std::size_t accepted_prefixes(const std::vector<std::byte>& bytes, std::size_t dense_end, std::size_t dense_stride,
                              std::size_t stride) {
  std::size_t accepted = 0;
  auto check = [&](std::size_t n) {
    if (parse_error(std::span(bytes).first(n)).empty()) ++accepted;
  };
  for (std::size_t n = 0; n < bytes.size(); n += n < dense_end ? dense_stride : stride) check(n);
  for (std::size_t n = bytes.size() > 64 ? bytes.size() - 64 : 0; n < bytes.size(); ++n) check(n);
  return accepted;
}

TEST(GgufMalformed, TruncationAtEveryOffsetOfASyntheticFile) {
  GgufImage image = small_valid_image();
  image.kvs.push_back(kv_array("bools", 7, 2, Bytes().u8(1).u8(0)));
  image.kvs.push_back(kv_f32("f", 1.5F));
  const std::vector<std::byte> bytes = image.build();
  EXPECT_EQ(accepted_prefixes(bytes, bytes.size(), 1, 1), 0U);
}

TEST(GgufMalformed, TruncationOfRealFiles) {
  QUANTLM_REQUIRE_ASSETS(assets);
  // Every offset of the headers of three files (the imatrix file entirely),
  // every 37th of the others' headers; strided offsets through the tensor data.
  const std::set<std::string> dense = {"imatrix-calib.gguf", "stories260K.gguf", "zoo-Q4_K_S.gguf"};
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(assets / "models")) {
    if (entry.path().extension() != ".gguf") continue;
    ++files;
    const std::string name = entry.path().filename().string();
    const std::vector<std::byte> bytes = read_file_bytes(entry.path());
    const GgufFile whole = GgufFile::from_bytes(bytes, name);
    const std::size_t header_stride = dense.contains(name) ? 1 : 37;
    const std::size_t data_stride = bytes.size() < 32768 ? 1 : bytes.size() / 251;
    EXPECT_EQ(accepted_prefixes(bytes, whole.data_offset(), header_stride, data_stride), 0U) << name;
  }
  EXPECT_GE(files, 27U);
}

}  // namespace
}  // namespace quantlm::test
