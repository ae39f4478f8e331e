// Mapping CPU features to Isa levels and the $QUANTLM_ISA cap.
#include "core/isa.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <string>

#include "core/cpu_features.h"
#include "core/log.h"

namespace quantlm {
namespace {

Isa detect_isa() {
  const CpuFeatures& f = cpu_features();
  if (!(f.avx2 && f.fma && f.f16c)) return Isa::scalar;
  if (!(f.avx512f && f.avx512bw && f.avx512vl)) return Isa::avx2;
  return Isa::avx512;
}

std::atomic<Isa>& limit_storage() {
  static std::atomic<Isa> limit{isa_limit_from_environment()};
  return limit;
}

}  // namespace

std::string_view to_string(Isa isa) {
  switch (isa) {
    case Isa::scalar:
      return "scalar";
    case Isa::avx2:
      return "avx2";
    case Isa::avx512:
      return "avx512";
  }
  return "unknown";
}

std::optional<Isa> parse_isa(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (lower == to_string(isa)) return isa;
  }
  return std::nullopt;
}

Isa cpu_isa() {
  static const Isa isa = detect_isa();
  return isa;
}

Isa isa_limit_from_environment() {
  const char* value = std::getenv("QUANTLM_ISA");
  if (value == nullptr || *value == '\0') return Isa::avx512;
  const std::optional<Isa> isa = parse_isa(value);
  if (!isa) {
    log_warn("ignoring QUANTLM_ISA='{}' (expected scalar, avx2 or avx512)", value);
    return Isa::avx512;
  }
  if (!isa_supported(*isa)) {
    log_warn("QUANTLM_ISA={} but this CPU supports only {}; using {}", value, to_string(cpu_isa()),
             to_string(cpu_isa()));
  }
  return *isa;
}

Isa active_isa() { return clamp_isa(isa_limit()); }

void set_isa_limit(Isa limit) { limit_storage().store(limit, std::memory_order_relaxed); }

Isa isa_limit() { return limit_storage().load(std::memory_order_relaxed); }

}  // namespace quantlm
