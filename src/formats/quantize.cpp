// quantize_rows: dispatches to a format's reference quantizer (options are added by the formats that support them).
#include "formats/quantize.h"

#include "core/error.h"

namespace quantlm::formats {

void quantize_rows(const FormatTraits& format, const float* src, std::byte* dst, std::int64_t rows, std::int64_t cols,
                   const QuantizeParams& params) {
  if (format.quantize_ref == nullptr) throw make_error("format {} cannot be produced by quantlm", format.name);
  if (cols % format.block_elems != 0) {
    throw make_error("format {}: rows of {} values are not a multiple of its block size {}", format.name, cols,
                     format.block_elems);
  }
  const bool defaults = params.search == ScaleSearch::format_default && params.correction == ScaleCorrection::none &&
                        params.importance == nullptr;
  if (!defaults)
    throw make_error("format {}: scale search, correction and importance are not supported yet", format.name);
  const std::int64_t row_bytes = cols / format.block_elems * format.block_bytes;
  for (std::int64_t r = 0; r < rows; ++r) format.quantize_ref(src + r * cols, dst + r * row_bytes, cols);
}

}  // namespace quantlm::formats
