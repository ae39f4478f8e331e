// SIMD levels kernels dispatch on, and the process-wide cap set by $QUANTLM_ISA or set_isa_limit().
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace quantlm {

// Ordered levels: each includes the one below it. A kernel that needs more than
// its level guarantees (VNNI, BF16, ...) checks cpu_features() as well.
//   scalar  portable C++, always compiled: the reference every SIMD path must match
//   avx2    AVX2 + FMA + F16C (Haswell, Zen 1 and later)
//   avx512  avx2 + AVX-512 F, BW and VL (Skylake-SP, Zen 4 and later)
enum class Isa : std::uint8_t { scalar, avx2, avx512 };

[[nodiscard]] std::string_view to_string(Isa isa);

// "scalar", "avx2" or "avx512", in any case; nullopt otherwise.
[[nodiscard]] std::optional<Isa> parse_isa(std::string_view name);

// The highest level this CPU and OS support.
[[nodiscard]] Isa cpu_isa();

[[nodiscard]] inline bool isa_supported(Isa isa) { return isa <= cpu_isa(); }

// `requested` lowered to what this CPU supports: asking for more than the CPU
// has falls back instead of executing illegal instructions.
[[nodiscard]] inline Isa clamp_isa(Isa requested) { return requested < cpu_isa() ? requested : cpu_isa(); }

// The level kernels use by default: cpu_isa() capped by the limit below.
[[nodiscard]] Isa active_isa();

// Caps active_isa(), e.g. to compare paths or to reproduce a result from an
// older machine. Starts as $QUANTLM_ISA (read on first use) or avx512 when it
// is unset; a limit above cpu_isa() has no effect. Thread-safe, but kernels
// already running keep the level they started with.
void set_isa_limit(Isa limit);
[[nodiscard]] Isa isa_limit();

// Parses $QUANTLM_ISA now (warning about a bad value): what the limit starts as.
[[nodiscard]] Isa isa_limit_from_environment();

}  // namespace quantlm

// Function attributes that give one function a level's instructions inside a
// file compiled for baseline x86-64. Per-function targets rather than per-file
// -m flags: with -mavx2 on a file, inline and template code it instantiates
// (std::, fmt, our headers) would be AVX code that the linker may pick for
// scalar callers too, and the program would fault on older CPUs. The strings
// match the Isa levels above; call such a function only after checking
// isa_supported() or cpu_features().
#if defined(__x86_64__)
#define QUANTLM_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define QUANTLM_TARGET_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl")))
#endif
