// Where the quantize driver gets each Linear's input Gram matrix X·Xᵀ for GPTQ, without depending on the model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace quantlm::quant {

// One Linear's input statistics for GPTQ: h = Σ over calibration tokens of
// x·xᵀ (cols × cols, row-major, double).
struct Hessian {
  std::int64_t cols = 0;
  std::int64_t tokens = 0;
  std::vector<double> h;
};

// Implemented over the float model and calibration text (quant/calibration.h);
// the driver asks tensor by tensor, so an implementation keeps only a bounded
// set of matrices at a time.
class HessianSource {
 public:
  virtual ~HessianSource() = default;
  // The weights that will be asked for, in the order they will be: lets the
  // source collect several in one pass over the text.
  virtual void prepare(const std::vector<std::string>& names) = 0;
  // The matrix for `name`, or nullptr when the model has no Linear of that
  // name. Valid until the next call.
  virtual const Hessian* hessian(const std::string& name) = 0;
};

}  // namespace quantlm::quant
