// Construction helpers for quantlm::Error.
#include "core/error.h"

#include <cstring>

namespace quantlm {

Error system_error(const std::string& what, int errno_value) {
  return Error(fmt::format("{}: {}", what, std::strerror(errno_value)));
}

}  // namespace quantlm
