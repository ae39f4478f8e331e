// cpuid/xgetbv detection of the SIMD extensions quantlm's kernels use.
#include "core/cpu_features.h"

#include <array>
#include <cstdint>
#include <string_view>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace quantlm {
namespace {

#if defined(__x86_64__) || defined(__i386__)

struct CpuidRegs {
  std::uint32_t eax = 0;
  std::uint32_t ebx = 0;
  std::uint32_t ecx = 0;
  std::uint32_t edx = 0;
};

CpuidRegs cpuid(std::uint32_t leaf, std::uint32_t subleaf) {
  CpuidRegs r;
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}

bool bit(std::uint32_t reg, int index) { return ((reg >> index) & 1U) != 0; }

// XCR0 says which register state the OS saves on a context switch. Executing
// AVX code when the OS does not save the upper halves would corrupt registers
// silently, so a CPU flag alone is not enough. The xgetbv intrinsic needs the
// xsave target; the raw instruction keeps this file baseline x86-64.
std::uint64_t read_xcr0() {
  std::uint32_t lo = 0;
  std::uint32_t hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (std::uint64_t{hi} << 32) | lo;
}

CpuFeatures detect_x86() {
  CpuFeatures f;
  const std::uint32_t max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf < 1) return f;

  const CpuidRegs leaf1 = cpuid(1, 0);
  const bool osxsave = bit(leaf1.ecx, 27);
  const bool avx = bit(leaf1.ecx, 28);
  if (!osxsave || !avx) return f;

  const std::uint64_t xcr0 = read_xcr0();
  constexpr std::uint64_t kYmmState = 0x6;   // SSE (bit 1) and AVX upper halves (bit 2)
  constexpr std::uint64_t kZmmState = 0xE0;  // opmask (5), ZMM0-15 upper halves (6), ZMM16-31 (7)
  const bool os_ymm = (xcr0 & kYmmState) == kYmmState;
  const bool os_zmm = os_ymm && (xcr0 & kZmmState) == kZmmState;
  if (!os_ymm) return f;

  f.fma = bit(leaf1.ecx, 12);
  f.f16c = bit(leaf1.ecx, 29);
  if (max_leaf < 7) return f;

  const CpuidRegs leaf7 = cpuid(7, 0);
  f.avx2 = bit(leaf7.ebx, 5);
  if (os_zmm) {
    f.avx512f = bit(leaf7.ebx, 16);
    f.avx512bw = f.avx512f && bit(leaf7.ebx, 30);
    f.avx512vl = f.avx512f && bit(leaf7.ebx, 31);
    f.avx512vnni = f.avx512f && bit(leaf7.ecx, 11);
    f.avx512vpopcntdq = f.avx512f && bit(leaf7.ecx, 14);
  }
  if (leaf7.eax >= 1) {  // leaf 7 reports its highest subleaf in eax
    const CpuidRegs leaf7_1 = cpuid(7, 1);
    f.avx_vnni = bit(leaf7_1.eax, 4);
    f.avx512bf16 = f.avx512f && bit(leaf7_1.eax, 5);
  }
  return f;
}

#endif

}  // namespace

std::string CpuFeatures::to_string() const {
  const std::array<std::pair<std::string_view, bool>, 10> flags{{
      {"avx2", avx2},
      {"fma", fma},
      {"f16c", f16c},
      {"avx512f", avx512f},
      {"avx512bw", avx512bw},
      {"avx512vl", avx512vl},
      {"avx512_vnni", avx512vnni},
      {"avx512_bf16", avx512bf16},
      {"avx512_vpopcntdq", avx512vpopcntdq},
      {"avx_vnni", avx_vnni},
  }};
  std::string out;
  for (const auto& [name, present] : flags) {
    if (!present) continue;
    if (!out.empty()) out += ' ';
    out += name;
  }
  return out.empty() ? "none" : out;
}

CpuFeatures detect_cpu_features() {
#if defined(__x86_64__) || defined(__i386__)
  return detect_x86();
#else
  return {};  // the SIMD kernels are x86-only; elsewhere the scalar paths run
#endif
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect_cpu_features();
  return features;
}

}  // namespace quantlm
