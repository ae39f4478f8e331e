// Relative RMS error of every searchable format on stories260K's 37 weight matrices, with and without MSE search.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "formats/format_traits.h"
#include "formats/quantize_testing.h"
#include "io/gguf/gguf_file.h"
#include "support/assets.h"

namespace quantlm::formats {
namespace {

using testing::Matrix;

// Every 2-D tensor of the F32 model: token_embd and output (512 x 64), per
// layer attn_q/attn_output (64 x 64), attn_k/attn_v (32 x 64), ffn_gate/ffn_up
// (172 x 64) and ffn_down (64 x 172: rows no ggml block divides).
const std::vector<Matrix>& weights(const std::filesystem::path& assets) {
  static const std::vector<Matrix> all = [&] {
    const auto file = gguf::GgufFile::open(assets / "models/stories260K/stories260K.gguf");
    std::vector<Matrix> out;
    for (const gguf::TensorInfo& t : file.tensors()) {
      if (t.shape.rank != 2) continue;
      Matrix m{t.shape.rows(), t.shape.innermost(), {}};
      m.values.resize(static_cast<std::size_t>(m.rows * m.cols));
      std::memcpy(m.values.data(), file.tensor_data(t).data(), m.values.size() * sizeof(float));
      out.push_back(std::move(m));
    }
    return out;
  }();
  return all;
}

struct StoriesCase {
  const char* format;
  // ||W - Q(W)|| / ||W|| pooled over the matrices the format can store (all
  // 37 for quantlm's formats, ragged ffn_down included; ggml's 32-value types
  // skip the five ffn_down). The data is fixed, so the bands are tight (+-2%):
  // any change in a quantizer's arithmetic shows up here.
  double reference;  // format_default: min-max (absmean for binary and ternary), llama.cpp's for ggml types
  double mse;        // ScaleSearch::mse
};

const StoriesCase kCases[] = {
    {"Q4_0", 0.08549, 0.08130},       {"Q4_1", 0.08406, 0.07771},     {"Q5_0", 0.04338, 0.04150},
    {"Q5_1", 0.03839, 0.03641},       {"Q8_0", 0.00541, 0.00533},     {"IQ4_NL", 0.07836, 0.07628},
    {"I8_ROW", 0.00591, 0.00585},     {"I8_ROWA", 0.00542, 0.00534},  {"I8_G32", 0.00542, 0.00530},
    {"I8_G32A", 0.00471, 0.00447},    {"I8_G64", 0.00583, 0.00576},   {"I8_G64A", 0.00534, 0.00527},
    {"I8_G128", 0.00587, 0.00581},    {"I8_G128A", 0.00538, 0.00531}, {"I4_ROW", 0.09471, 0.09108},
    {"I4_ROWA", 0.09362, 0.08840},    {"I4_G32", 0.08561, 0.08144},   {"I4_G32A", 0.08361, 0.07734},
    {"I4_G64", 0.09342, 0.09012},     {"I4_G64A", 0.09208, 0.08708},  {"I4_G128", 0.09404, 0.09057},
    {"I4_G128A", 0.09279, 0.08772},   {"I3_ROW", 0.19481, 0.18367},   {"I3_ROWA", 0.19781, 0.17615},
    {"I3_G32", 0.17526, 0.16507},     {"I3_G32A", 0.17279, 0.15560},  {"I3_G64", 0.19235, 0.18230},
    {"I3_G64A", 0.19440, 0.17439},    {"I3_G128", 0.19350, 0.18297},  {"I3_G128A", 0.19595, 0.17527},
    {"I2_ROW", 0.41038, 0.36963},     {"I2_ROWA", 0.46426, 0.32887},  {"I2_G32", 0.37731, 0.34885},
    {"I2_G32A", 0.40179, 0.31234},    {"I2_G64", 0.40586, 0.36790},   {"I2_G64A", 0.45622, 0.32745},
    {"I2_G128", 0.40802, 0.36876},    {"I2_G128A", 0.45995, 0.32822}, {"NF4_G64", 0.09538, 0.08979},
    {"LOG2_4_G32", 0.19061, 0.15748}, {"FP8_G32", 0.02300, 0.02068},  {"BIN_G32", 0.60457, 0.60457},
    {"BIN_ROW", 0.60965, 0.60965},    {"TERN_G32", 0.51937, 0.43965}, {"TERN_ROW", 0.52261, 0.44474},
};
void PrintTo(const StoriesCase& c, std::ostream* os) { *os << c.format; }

class StoriesWeights : public ::testing::TestWithParam<StoriesCase> {};

TEST_P(StoriesWeights, RelativeErrorWithinBands) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const StoriesCase& c = GetParam();
  const FormatTraits& f = *find_format(c.format);
  testing::ErrorSums reference;
  testing::ErrorSums mse;
  double bytes = 0.0;
  double count = 0.0;
  int matrices = 0;
  QuantizeParams mse_params;
  mse_params.search = ScaleSearch::mse;
  for (const Matrix& w : weights(assets)) {
    if (!f.row_length_ok(w.cols)) continue;
    ++matrices;
    bytes += static_cast<double>(f.row_bytes(w.cols) * w.rows);
    count += static_cast<double>(w.values.size());
    reference.add(testing::round_trip(f, w).values, w.values);
    mse.add(testing::round_trip(f, w, mse_params).values, w.values);
  }
  EXPECT_EQ(matrices, f.origin == Origin::quantlm ? 37 : 32);
  std::printf("%-11s %6.3f bpw  relative RMS %.5f (reference)  %.5f (mse)\n", c.format, 8 * bytes / count,
              reference.relative_rms(), mse.relative_rms());
  EXPECT_NEAR(reference.relative_rms(), c.reference, 0.02 * c.reference);
  EXPECT_NEAR(mse.relative_rms(), c.mse, 0.02 * c.mse);
  EXPECT_LE(mse.err2, reference.err2 * (1 + 1e-9)) << "absmean is not an MSE candidate, but never beat it here";
}

std::string case_name(const ::testing::TestParamInfo<StoriesCase>& param) { return param.param.format; }
INSTANTIATE_TEST_SUITE_P(Formats, StoriesWeights, ::testing::ValuesIn(kCases), case_name);

}  // namespace
}  // namespace quantlm::formats
