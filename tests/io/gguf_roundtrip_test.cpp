// Round trips of every real GGUF in the shared assets: read, write_copy, compare the bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "io/gguf/gguf_file.h"
#include "io/gguf/gguf_writer.h"
#include "io/gguf_builder.h"
#include "support/assets.h"
#include "support/temp_dir.h"

namespace quantlm::test {
namespace {

using gguf::GgufFile;

// All .gguf files of a folder, listed at run time so new files are covered.
std::vector<std::filesystem::path> gguf_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".gguf") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Index of the first differing byte, or -1.
std::ptrdiff_t first_difference(const std::vector<std::byte>& a, const std::vector<std::byte>& b) {
  const auto [ia, ib] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return ia == a.end() && ib == b.end() ? -1 : std::distance(a.begin(), ia);
}

void expect_byte_identical_copy(const std::filesystem::path& original, const TempDir& dir) {
  SCOPED_TRACE(original.string());
  const GgufFile file = GgufFile::open(original);
  const auto copy_path = dir / original.filename().string();
  gguf::write_copy(file, copy_path);
  const std::vector<std::byte> expected = read_file_bytes(original);
  const std::vector<std::byte> actual = read_file_bytes(copy_path);
  EXPECT_EQ(actual.size(), expected.size());
  EXPECT_EQ(first_difference(expected, actual), -1);

  // The copy reads back to the same values.
  const GgufFile again = GgufFile::open(copy_path);
  EXPECT_EQ(again.metadata(), file.metadata());
  ASSERT_EQ(again.tensors().size(), file.tensors().size());
  for (std::size_t i = 0; i < file.tensors().size(); ++i) {
    EXPECT_EQ(again.tensors()[i].name, file.tensors()[i].name);
    EXPECT_EQ(again.tensors()[i].ne, file.tensors()[i].ne);
    EXPECT_EQ(again.tensors()[i].format, file.tensors()[i].format);
    EXPECT_EQ(again.tensors()[i].offset, file.tensors()[i].offset);
  }
  std::filesystem::remove(copy_path);
}

void round_trip_folder(const std::filesystem::path& dir, std::size_t at_least) {
  const TempDir out;
  const auto files = gguf_files(dir);
  EXPECT_GE(files.size(), at_least) << dir;
  for (const auto& path : files) expect_byte_identical_copy(path, out);
  // Nothing but the copies (all removed) was ever created: no temporary files left.
  EXPECT_TRUE(std::filesystem::is_empty(out.path()));
}

TEST(GgufRoundTrip, Stories260K) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const TempDir out;
  expect_byte_identical_copy(assets / "models/stories260K/stories260K.gguf", out);
}

TEST(GgufRoundTrip, LlamaCppQuantizedStories260K) {
  QUANTLM_REQUIRE_ASSETS(assets);
  round_trip_folder(assets / "models/stories260K/llama.cpp-quantized", 9);  // imatrix-calib.gguf included
}

TEST(GgufRoundTrip, Zoo) {
  QUANTLM_REQUIRE_ASSETS(assets);
  round_trip_folder(assets / "models/zoo", 17);
}

TEST(GgufRoundTrip, SyntheticNonCanonicalLayoutIsNormalized) {
  // Out-of-order offsets and trailing bytes are valid input; the copy has
  // llama.cpp's layout with the same contents, and copying it again is exact.
  GgufImage image = small_valid_image();
  image.tensors[0].offset = 128;
  image.tensors[1].offset = 0;
  image.tensors[2].offset = 96;
  std::vector<std::byte> bytes = image.build();
  bytes.resize(bytes.size() + 7, std::byte{1});
  const GgufFile odd = GgufFile::from_bytes(bytes, "odd.gguf");
  const TempDir dir;
  gguf::write_copy(odd, dir / "normal.gguf");
  const GgufFile normal = GgufFile::open(dir / "normal.gguf");
  EXPECT_EQ(normal.metadata(), odd.metadata());
  for (std::size_t i = 0; i < 3; ++i) {
    const auto a = odd.tensor_data(odd.tensors()[i]);
    const auto b = normal.tensor_data(normal.tensors()[i]);
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << i;
  }
  EXPECT_EQ(normal.tensors()[1].offset, 64U);
  EXPECT_EQ(first_difference(read_file_bytes(dir / "normal.gguf"), small_valid_image().build()), -1);
  gguf::write_copy(normal, dir / "again.gguf");
  EXPECT_EQ(first_difference(read_file_bytes(dir / "normal.gguf"), read_file_bytes(dir / "again.gguf")), -1);
}

TEST(GgufRoundTrip, CopyOntoItselfReplacesAtomically) {
  const TempDir dir;
  const auto path = dir / "self.gguf";
  const std::vector<std::byte> original = small_valid_image().build();
  write_file_bytes(path, original);
  {
    const GgufFile file = GgufFile::open(path);
    gguf::write_copy(file, path);  // reads the old mapping while writing the new file
  }
  EXPECT_EQ(first_difference(read_file_bytes(path), original), -1);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

}  // namespace
}  // namespace quantlm::test
