// Which SIMD extensions this CPU and OS support, detected once with cpuid and xgetbv.
#pragma once

#include <string>

namespace quantlm {

// One flag per extension a kernel may need. A flag is true only when the CPU
// reports the instructions and the OS saves the register state they use
// (XCR0), so a true flag always means "safe to execute".
struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;
  bool avx512bf16 = false;
  bool avx512vpopcntdq = false;
  bool avx_vnni = false;

  // The present extensions, space-separated, in /proc/cpuinfo spelling
  // ("avx2 fma f16c avx512f ..."); "none" when there are none.
  [[nodiscard]] std::string to_string() const;
};

// Runs the detection now. Prefer cpu_features(), which does it once.
[[nodiscard]] CpuFeatures detect_cpu_features();

// The features of this machine, detected on first use; thread-safe.
[[nodiscard]] const CpuFeatures& cpu_features();

}  // namespace quantlm
