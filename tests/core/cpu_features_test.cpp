// Tests of CPU feature detection against /proc/cpuinfo, and of Isa levels and the QUANTLM_ISA override.
#include "core/cpu_features.h"

#include <gtest/gtest.h>
#include <stdlib.h>  // NOLINT(modernize-deprecated-headers): setenv and unsetenv are POSIX

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "core/isa.h"

namespace quantlm {
namespace {

std::set<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::set<std::string> out;
  for (std::string word; in >> word;) out.insert(word);
  return out;
}

// The flags the kernel reports for the first CPU, or nothing when unreadable.
std::set<std::string> proc_cpuinfo_flags() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) == 0) return words(line.substr(line.find(':') + 1));
  }
  return {};
}

TEST(CpuFeatures, AgreesWithProcCpuinfo) {
  const std::set<std::string> kernel = proc_cpuinfo_flags();
  if (kernel.empty()) GTEST_SKIP() << "/proc/cpuinfo has no flags line here";
  // to_string() uses the kernel's names, so the two sets can be compared
  // directly over the names quantlm detects.
  const std::set<std::string> ours = words(cpu_features().to_string());
  for (const std::string name : {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                                 "avx512_vpopcntdq", "avx_vnni"}) {
    EXPECT_EQ(ours.count(name), kernel.count(name)) << name;
  }
}

TEST(CpuFeatures, ToStringListsPresentFlagsOrNone) {
  EXPECT_EQ(CpuFeatures{}.to_string(), "none");
  CpuFeatures some;
  some.avx2 = true;
  EXPECT_EQ(some.to_string(), "avx2");
}

TEST(CpuFeatures, DetectedOnceAndStable) {
  EXPECT_EQ(&cpu_features(), &cpu_features());
  EXPECT_EQ(detect_cpu_features().to_string(), cpu_features().to_string());
}

TEST(Isa, LevelFollowsFeatures) {
  const CpuFeatures& f = cpu_features();
  const bool avx2 = f.avx2 && f.fma && f.f16c;
  const bool avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl;
  EXPECT_EQ(cpu_isa(), avx512 ? Isa::avx512 : avx2 ? Isa::avx2 : Isa::scalar);
  EXPECT_TRUE(isa_supported(Isa::scalar));
  EXPECT_EQ(clamp_isa(Isa::avx512), cpu_isa());
  EXPECT_EQ(clamp_isa(Isa::scalar), Isa::scalar);
}

TEST(Isa, NamesRoundTrip) {
  for (const Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) EXPECT_EQ(parse_isa(to_string(isa)), isa);
  EXPECT_EQ(parse_isa("AVX2"), Isa::avx2);
  EXPECT_EQ(parse_isa("sse4"), std::nullopt);
  EXPECT_EQ(parse_isa(""), std::nullopt);
}

TEST(Isa, LimitCapsActiveLevel) {
  const Isa saved = isa_limit();
  set_isa_limit(Isa::scalar);
  EXPECT_EQ(active_isa(), Isa::scalar);
  set_isa_limit(Isa::avx2);
  EXPECT_EQ(active_isa(), clamp_isa(Isa::avx2));
  set_isa_limit(Isa::avx512);
  EXPECT_EQ(active_isa(), cpu_isa());
  set_isa_limit(saved);
}

TEST(Isa, EnvironmentValueIsParsed) {
  ::setenv("QUANTLM_ISA", "Scalar", 1);
  EXPECT_EQ(isa_limit_from_environment(), Isa::scalar);
  ::setenv("QUANTLM_ISA", "avx2", 1);
  EXPECT_EQ(isa_limit_from_environment(), Isa::avx2);
  ::setenv("QUANTLM_ISA", "bogus", 1);  // warns, then no cap
  EXPECT_EQ(isa_limit_from_environment(), Isa::avx512);
  ::unsetenv("QUANTLM_ISA");
  EXPECT_EQ(isa_limit_from_environment(), Isa::avx512);
}

// End to end: a fresh process (the "threadsafe" death-test style re-executes
// this binary) reads QUANTLM_ISA on first use of active_isa().
TEST(Isa, EnvironmentCapsActiveLevelInFreshProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ::setenv("QUANTLM_ISA", "scalar", 1);
        std::exit(active_isa() == Isa::scalar ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace quantlm
