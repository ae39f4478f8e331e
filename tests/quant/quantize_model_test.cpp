// quantize_model's behaviour: summary figures on a hand-computed file, metadata, bad input, no partial output.
#include "quant/quantize_model.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/gguf/gguf_file.h"
#include "io/gguf/gguf_writer.h"
#include "quant/imatrix.h"
#include "support/assets.h"
#include "support/temp_dir.h"

namespace quantlm::quant {
namespace {

using formats::FormatId;

QuantizeOptions options_for(const std::filesystem::path& in, const std::filesystem::path& out,
                            const std::string& type) {
  QuantizeOptions o;
  o.input = in;
  o.output = out;
  o.recipe.type = type;
  o.threads = 2;
  o.progress = ProgressMode::never;
  return o;
}

std::span<const std::byte> bytes_of(const std::vector<float>& v) {
  return {reinterpret_cast<const std::byte*>(v.data()), v.size() * sizeof(float)};
}

// A one-block model whose errors can be computed by hand:
//  - attn_q, 2 rows of 32: 127, 0.5, then zeros. Q8_0: d = max|x| / 127 = 1,
//    0.5 / d rounds (away from zero) to 1, so each row has one error of 0.5.
//  - attn_k, 2 rows of 32, every value 1 + 2^-12: F16 (by --tensor-type) has
//    2^-10 steps at 1 and rounds it to 1, an error of 2^-12 per value.
//  - attn_norm, 32 values: 1-D, kept in F32.
std::filesystem::path write_hand_model(const std::filesystem::path& path) {
  std::vector<float> q(64, 0.0F);
  q[0] = q[32] = 127.0F;
  q[1] = q[33] = 0.5F;
  const std::vector<float> k(64, 1.0F + std::ldexp(1.0F, -12));
  const std::vector<float> norm(32, 1.0F);
  const auto* f32 = &formats::traits(FormatId::F32);
  gguf::GgufWriter w(path,
                     {{"general.architecture", gguf::Value::from_string("llama")},
                      {"llama.block_count", gguf::Value::from_u32(1)},
                      {"general.file_type", gguf::Value::from_u32(0)}},
                     {{"blk.0.attn_q.weight", Shape{{2, 32}, 2}, f32},
                      {"blk.0.attn_k.weight", Shape{{2, 32}, 2}, f32},
                      {"blk.0.attn_norm.weight", Shape{{32}, 1}, f32}});
  w.write_tensor(bytes_of(q));
  w.write_tensor(bytes_of(k));
  w.write_tensor(bytes_of(norm));
  w.finish();
  return path;
}

const TensorReport& tensor(const QuantizeReport& r, const std::string& name) {
  for (const TensorReport& t : r.tensors) {
    if (t.name == name) return t;
  }
  throw std::runtime_error("no tensor " + name);
}

TEST(QuantizeModel, SummaryFiguresOnAHandComputedModel) {
  test::TempDir tmp;
  QuantizeOptions o = options_for(write_hand_model(tmp / "hand.gguf"), tmp / "out.gguf", "Q8_0");
  o.recipe.tensor_types = {{"attn_k", "F16"}};
  const QuantizeReport r = quantize_model(o);
  ASSERT_EQ(r.tensors.size(), 3U);
  EXPECT_EQ(r.tensors[0].name, "blk.0.attn_k.weight") << "llama.cpp's order: by name within a block";

  const TensorReport& q = tensor(r, "blk.0.attn_q.weight");
  EXPECT_EQ(q.type, "Q8_0");
  EXPECT_EQ(q.bytes_before, 256U);
  EXPECT_EQ(q.bytes_after, 68U);  // 2 blocks of 34
  EXPECT_DOUBLE_EQ(q.bits_per_weight(), 8.5);
  EXPECT_DOUBLE_EQ(q.error.signal, 2 * (127.0 * 127.0 + 0.25));
  EXPECT_DOUBLE_EQ(q.error.noise, 2 * 0.25);
  EXPECT_NEAR(q.error.relative_error(), 0.5 / std::sqrt(16129.25), 1e-15);
  EXPECT_NEAR(*q.error.sqnr_db(), 10 * std::log10(64517.0), 1e-12);

  const TensorReport& k = tensor(r, "blk.0.attn_k.weight");
  EXPECT_EQ(k.type, "F16");
  EXPECT_EQ(k.bytes_after, 128U);
  const double step = std::ldexp(1.0, -12);
  EXPECT_NEAR(k.error.relative_error(), step / (1 + step), 1e-15);  // = 1 / 4097
  EXPECT_NEAR(*k.error.sqnr_db(), 20 * std::log10(4097.0), 1e-9);

  const TensorReport& n = tensor(r, "blk.0.attn_norm.weight");
  EXPECT_EQ(n.type, "F32");
  EXPECT_FALSE(n.converted);
  EXPECT_EQ(n.why, "kept: 1-D");
  EXPECT_FALSE(n.error.sqnr_db().has_value()) << "a copy has no error";

  const ReportTotals t = r.totals();
  EXPECT_EQ(t.elements, 160);
  EXPECT_EQ(t.bytes_before, 640U);
  EXPECT_EQ(t.bytes_after, 68U + 128U + 128U);
  EXPECT_DOUBLE_EQ(t.reduction_percent, 100.0 * (1.0 - 324.0 / 640.0));
  EXPECT_DOUBLE_EQ(t.bits_per_weight_before, 32.0);
  EXPECT_DOUBLE_EQ(t.bits_per_weight_after, 8.0 * 324.0 / 160.0);
  EXPECT_EQ(t.quantized_tensors, 1);
  EXPECT_DOUBLE_EQ(t.quantized_bits_per_weight, 8.5);
  EXPECT_EQ(t.float_tensors, 2);
  EXPECT_EQ(t.unquantized_matrices, std::vector<std::string>{"blk.0.attn_k.weight"});
  // Over both converted tensors: noise and signal add up.
  const double signal = 2 * (127.0 * 127.0 + 0.25) + 64 * (1 + step) * (1 + step);
  const double noise = 0.5 + 64 * step * step;
  EXPECT_NEAR(t.error.relative_error(), std::sqrt(noise / signal), 1e-15);

  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j["totals"]["bytes_after"], 324);
  EXPECT_EQ(j["tensors"][1]["name"], "blk.0.attn_norm.weight");
  EXPECT_EQ(j["tensors"][1]["sqnr_db"], nullptr) << "infinite SQNR (a copy) is null";
  EXPECT_EQ(j["file_type"], 7);
}

TEST(QuantizeModel, MetadataFollowsLlamaQuantizeAndRecordsTheRecipe) {
  test::TempDir tmp;
  QuantizeOptions o = options_for(write_hand_model(tmp / "hand.gguf"), tmp / "out.gguf", "Q4_K_M");
  o.recipe.tensor_types = {{"attn", "Q8_0"}};
  (void)quantize_model(o);
  const auto out = gguf::GgufFile::open(tmp / "out.gguf");
  const auto& md = out.metadata();
  ASSERT_EQ(md.size(), 5U);
  EXPECT_EQ(md[0].key, "general.architecture");
  EXPECT_EQ(md[1].key, "llama.block_count");
  // Re-set keys move to the end, in llama-quantize's order.
  EXPECT_EQ(md[2].key, "general.quantization_version");
  EXPECT_EQ(md[2].value, gguf::Value::from_u32(2));
  EXPECT_EQ(md[3].key, "general.file_type");
  EXPECT_EQ(md[3].value, gguf::Value::from_u32(15));
  EXPECT_EQ(md[4].key, kRecipeKey);
  const auto recorded = recipe_from_json(nlohmann::json::parse(*md[4].value.as_string()), "file");
  EXPECT_EQ(recorded, o.recipe) << "the file says how it was made";
}

TEST(QuantizeModel, NoPartialOutputWhenAFailureComesMidWrite) {
  test::TempDir tmp;
  const auto in = write_hand_model(tmp / "hand.gguf");
  std::filesystem::create_directory(tmp / "out");
  const auto out = tmp / "out" / "model.gguf";
  { std::ofstream(out) << "previous contents"; }
  QuantizeOptions o = options_for(in, out, "Q8_0");
  int seen = 0;
  o.on_tensor = [&](const TensorReport&) {
    if (++seen == 2) throw Error("injected failure after the second tensor");
  };
  EXPECT_THROW((void)quantize_model(o), Error);
  EXPECT_EQ(seen, 2) << "the writer had started";
  std::ifstream check(out);
  std::string contents;
  std::getline(check, contents);
  EXPECT_EQ(contents, "previous contents") << "the old file is untouched";
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(tmp / "out"), {}), 1) << "no temporary file remains";
}

TEST(QuantizeModel, UnwritableOutputsAreErrorsWithoutFiles) {
  test::TempDir tmp;
  const auto in = write_hand_model(tmp / "hand.gguf");
  EXPECT_THROW((void)quantize_model(options_for(in, tmp / "missing-dir" / "x.gguf", "Q8_0")), Error);
  EXPECT_FALSE(std::filesystem::exists(tmp / "missing-dir"));
  if (::geteuid() != 0) {  // root writes into read-only directories anyway
    std::filesystem::create_directory(tmp / "ro");
    std::filesystem::permissions(tmp / "ro", std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
    EXPECT_THROW((void)quantize_model(options_for(in, tmp / "ro" / "x.gguf", "Q8_0")), Error);
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(tmp / "ro"), {}), 0);
    std::filesystem::permissions(tmp / "ro", std::filesystem::perms::owner_all);
  }
  try {
    (void)quantize_model(options_for(in, in, "Q8_0"));
    ADD_FAILURE() << "writing over the input must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is the input file"), std::string::npos) << e.what();
  }
  // A bad type fails before anything is opened or written.
  EXPECT_THROW((void)quantize_model(options_for(in, tmp / "y.gguf", "Q4_X")), Error);
  EXPECT_FALSE(std::filesystem::exists(tmp / "y.gguf"));
}

TEST(QuantizeModel, RequantizingNeedsTheFlag) {
  test::TempDir tmp;
  const auto in = write_hand_model(tmp / "hand.gguf");
  (void)quantize_model(options_for(in, tmp / "q4.gguf", "Q4_0"));
  try {
    (void)quantize_model(options_for(tmp / "q4.gguf", tmp / "q8.gguf", "Q8_0"));
    ADD_FAILURE() << "re-quantizing must need --allow-requantize";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--allow-requantize"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(tmp / "q8.gguf"));
  // The same type is a copy, which needs no flag.
  const QuantizeReport same = quantize_model(options_for(tmp / "q4.gguf", tmp / "same.gguf", "Q4_0"));
  EXPECT_FALSE(tensor(same, "blk.0.attn_q.weight").converted);
  QuantizeOptions o = options_for(tmp / "q4.gguf", tmp / "q8.gguf", "Q8_0");
  o.recipe.allow_requantize = true;
  const QuantizeReport r = quantize_model(o);
  EXPECT_EQ(tensor(r, "blk.0.attn_q.weight").source_type, "Q4_0");
  EXPECT_EQ(tensor(r, "blk.0.attn_q.weight").type, "Q8_0");
}

TEST(QuantizeModel, DryRunWritesNothing) {
  test::TempDir tmp;
  QuantizeOptions o = options_for(write_hand_model(tmp / "hand.gguf"), tmp / "out.gguf", "Q8_0");
  o.dry_run = true;
  const QuantizeReport r = quantize_model(o);
  EXPECT_FALSE(std::filesystem::exists(tmp / "out.gguf"));
  EXPECT_EQ(tensor(r, "blk.0.attn_q.weight").bytes_after, 68U);
  EXPECT_TRUE(r.dry_run);
}

TEST(Imatrix, ReadsLlamaImatrixGguf) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const auto path = assets / "models/stories260K/llama.cpp-quantized/imatrix-calib.gguf";
  const Imatrix m = load_imatrix(path);
  EXPECT_EQ(m.importance.size(), 36U) << "7 matrices x 5 blocks + output.weight";
  EXPECT_EQ(m.chunk_count, 67U);
  EXPECT_EQ(m.chunk_size, 256U);
  ASSERT_EQ(m.datasets.size(), 1U);
  const std::vector<float>* down = m.find("blk.4.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->size(), 172U);
  EXPECT_EQ(m.find("token_embd.weight"), nullptr);
  // By hand: importance = in_sum2 / counts.
  const auto file = gguf::GgufFile::open(path);
  float sum = 0;
  float count = 0;
  std::memcpy(&sum, file.tensor_data(*file.find_tensor("blk.4.ffn_down.weight.in_sum2")).data() + 5 * 4, 4);
  std::memcpy(&count, file.tensor_data(*file.find_tensor("blk.4.ffn_down.weight.counts")).data(), 4);
  EXPECT_GT(count, 0.0F);
  EXPECT_EQ((*down)[5], sum / count);
  for (float x : *down) EXPECT_GE(x, 0.0F);
}

TEST(Imatrix, NotAnImatrixIsAnError) {
  QUANTLM_REQUIRE_ASSETS(assets);
  EXPECT_THROW((void)load_imatrix(assets / "models/stories260K/stories260K.gguf"), Error);
  test::TempDir tmp;
  { std::ofstream(tmp / "legacy.dat") << "not a gguf"; }
  EXPECT_THROW((void)load_imatrix(tmp / "legacy.dat"), Error);
}

// With --imatrix the importance reaches every converted quantized tensor that
// has an entry, the metadata says so as llama-quantize's does, or, while a
// format cannot use importance yet, the run stops before writing with a
// message naming the option.
TEST(Imatrix, QuantizeWithImportance) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const auto dir = assets / "models/stories260K";
  test::TempDir tmp;
  QuantizeOptions o = options_for(dir / "stories260K.gguf", tmp / "out.gguf", "Q4_0");
  o.recipe.imatrix = (dir / "llama.cpp-quantized/imatrix-calib.gguf").string();
  QuantizeReport r;
  try {
    r = quantize_model(o);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--imatrix"), std::string::npos) << e.what();
    EXPECT_FALSE(std::filesystem::exists(tmp / "out.gguf"));
    GTEST_SKIP() << "importance is not supported by a format yet: " << e.what();
  }
  EXPECT_TRUE(tensor(r, "blk.0.attn_q.weight").importance);
  EXPECT_EQ(tensor(r, "blk.0.ffn_down.weight").type, "F16") << "Q4_0's imatrix guard covers layers < 5/8: none";
  EXPECT_FALSE(tensor(r, "token_embd.weight").importance) << "no entry for token_embd";
  EXPECT_FALSE(tensor(r, "blk.1.ffn_down.weight").importance) << "F16 does not take importance";
  const auto out = gguf::GgufFile::open(tmp / "out.gguf");
  ASSERT_NE(out.find("quantize.imatrix.file"), nullptr);
  EXPECT_EQ(out.find("quantize.imatrix.entries_count")->as_int(), 36);
  EXPECT_EQ(out.find("quantize.imatrix.chunks_count")->as_int(), 67);
}

// Options a format refuses (formats/quantize.h: importance needs a search with
// an objective, not min-max) stop the run before the output file exists.
TEST(Imatrix, OptionsAFormatRefusesFailBeforeWriting) {
  QUANTLM_REQUIRE_ASSETS(assets);
  const auto dir = assets / "models/stories260K";
  test::TempDir tmp;
  QuantizeOptions o = options_for(dir / "stories260K.gguf", tmp / "out.gguf", "Q4_0");
  o.recipe.imatrix = (dir / "llama.cpp-quantized/imatrix-calib.gguf").string();
  o.recipe.scale_search = formats::ScaleSearch::min_max;
  try {
    (void)quantize_model(o);
    ADD_FAILURE() << "importance with min-max must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--scale-search min-max"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--imatrix"), std::string::npos) << e.what();
  }
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(tmp.path()), {}), 0) << "nothing was written";
}

}  // namespace
}  // namespace quantlm::quant
