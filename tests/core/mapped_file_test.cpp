// Tests of MappedFile: contents, empty files, error messages and move semantics.
#include "core/mapped_file.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "support/temp_dir.h"

namespace quantlm {
namespace {

void write_file(const std::filesystem::path& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::vector<char> all_byte_values(std::size_t size) {
  std::vector<char> bytes(size);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i % 256);
  return bytes;
}

TEST(MappedFile, MapsTheFileBytes) {
  const test::TempDir dir;
  const std::vector<char> bytes = all_byte_values(10000);
  write_file(dir / "weights.bin", bytes);

  const MappedFile file = MappedFile::open(dir / "weights.bin");
  ASSERT_EQ(file.size(), bytes.size());
  ASSERT_EQ(file.bytes().size(), bytes.size());
  ASSERT_NE(file.data(), nullptr);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    ASSERT_EQ(file.bytes()[i], static_cast<std::byte>(bytes[i])) << "byte " << i;
  }
  EXPECT_EQ(file.path(), dir / "weights.bin");
}

TEST(MappedFile, EmptyFileMapsToEmptySpan) {
  const test::TempDir dir;
  write_file(dir / "empty.bin", {});
  const MappedFile file = MappedFile::open(dir / "empty.bin");
  EXPECT_EQ(file.size(), 0U);
  EXPECT_TRUE(file.bytes().empty());
  EXPECT_EQ(file.data(), nullptr);
}

TEST(MappedFile, MissingFileErrorNamesThePath) {
  const test::TempDir dir;
  const std::filesystem::path missing = dir / "no-such-model.gguf";
  try {
    (void)MappedFile::open(missing);
    FAIL() << "opened a missing file";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(missing.string()), std::string::npos) << message;
    EXPECT_NE(message.find("No such file"), std::string::npos) << message;
  }
}

TEST(MappedFile, DirectoryIsNotARegularFile) {
  const test::TempDir dir;
  try {
    (void)MappedFile::open(dir.path());
    FAIL() << "mapped a directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}

TEST(MappedFile, MoveConstructionTransfersTheMapping) {
  const test::TempDir dir;
  write_file(dir / "a.bin", all_byte_values(100));
  MappedFile a = MappedFile::open(dir / "a.bin");
  const std::byte* data = a.data();

  const MappedFile b(std::move(a));
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(b.size(), 100U);
  EXPECT_EQ(b.bytes()[99], std::byte{99});
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move): moved-from state is specified
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.size(), 0U);
}

TEST(MappedFile, MoveAssignmentReplacesTheMapping) {
  const test::TempDir dir;
  write_file(dir / "a.bin", all_byte_values(100));
  write_file(dir / "b.bin", all_byte_values(300));
  MappedFile a = MappedFile::open(dir / "a.bin");
  MappedFile b = MappedFile::open(dir / "b.bin");  // unmapped by the assignment
  const std::byte* data = a.data();
  b = std::move(a);
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(b.size(), 100U);
  EXPECT_EQ(b.path(), dir / "a.bin");
  EXPECT_TRUE(a.bytes().empty());  // NOLINT(bugprone-use-after-move,clang-analyzer-cplusplus.Move)

  b = MappedFile();  // unmaps; a default MappedFile is empty
  EXPECT_TRUE(b.bytes().empty());
}

}  // namespace
}  // namespace quantlm
