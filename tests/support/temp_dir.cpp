// mkdtemp-based temporary directories for tests.
#include "support/temp_dir.h"

#include <stdlib.h>  // NOLINT(modernize-deprecated-headers): mkdtemp is POSIX

#include <stdexcept>
#include <string>
#include <vector>

namespace quantlm::test {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "quantlm-test-XXXXXX").string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = buffer.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace quantlm::test
