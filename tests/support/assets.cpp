// Finds the shared assets folder for tests.
#include "support/assets.h"

#include <cstdlib>

namespace quantlm::test {

std::optional<std::filesystem::path> shared_assets() {
  std::filesystem::path dir;
  if (const char* env = std::getenv("QUANTLM_ASSETS"); env != nullptr && *env != '\0') {
    dir = env;
  } else {
    dir = QUANTLM_DEFAULT_ASSETS;
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(dir / "models", ec)) return std::nullopt;
  return std::filesystem::weakly_canonical(dir, ec);
}

}  // namespace quantlm::test
