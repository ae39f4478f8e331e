// Locating ../shared/assets for tests, which skip cleanly when it is absent.
#pragma once

#include <filesystem>
#include <optional>

namespace quantlm::test {

// The shared assets folder ($QUANTLM_ASSETS, else ../shared/assets beside the
// repository), or nullopt when it does not exist.
std::optional<std::filesystem::path> shared_assets();

}  // namespace quantlm::test

// Binds `var` to the assets folder or skips the current test with a reason.
#define QUANTLM_REQUIRE_ASSETS(var)                                                  \
  const auto var##_opt = ::quantlm::test::shared_assets();                           \
  if (!var##_opt) GTEST_SKIP() << "../shared/assets not found (set QUANTLM_ASSETS)"; \
  const std::filesystem::path& var = *var##_opt
