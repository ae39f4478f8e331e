// save_imatrix: llama-imatrix's GGUF layout written, then read back by load_imatrix and GgufFile unchanged.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "io/gguf/gguf_file.h"
#include "quant/imatrix.h"
#include "support/temp_dir.h"

namespace quantlm::quant {
namespace {

ImatrixData sample() {
  ImatrixData d;
  d.datasets = {"calib.txt"};
  d.chunk_count = 3;
  d.chunk_size = 256;
  d.entries["blk.0.attn_q.weight"] = {{1.5F, 0.0F, 12.0F, 3.25F}, 768.0F, {0.5F, 0.0F, 2.0F, 1.0F}};
  d.entries["blk.0.ffn_down.weight"] = {{2.0F, 4.0F, 6.0F}, 768.0F, {}};
  d.entries["blk.1.attn_k.weight"] = {{9.0F, 1.0F}, 0.0F, {3.0F, 1.0F}};  // never seen: importance 1
  return d;
}

TEST(ImatrixWrite, ReadsBackAsImportance) {
  test::TempDir dir;
  const auto path = dir / "imatrix.gguf";
  const ImatrixData d = sample();
  save_imatrix(d, path);
  const Imatrix m = load_imatrix(path);
  EXPECT_EQ(m.datasets, d.datasets);
  EXPECT_EQ(m.chunk_count, 3U);
  EXPECT_EQ(m.chunk_size, 256U);
  ASSERT_EQ(m.importance.size(), 3U);
  for (const auto& [name, e] : d.entries) {
    const std::vector<float>* v = m.find(name);
    ASSERT_NE(v, nullptr) << name;
    ASSERT_EQ(v->size(), e.sum_sq.size());
    for (std::size_t i = 0; i < v->size(); ++i) {
      EXPECT_EQ((*v)[i], e.count > 0 ? e.sum_sq[i] / e.count : 1.0F) << name << " " << i;
    }
  }
}

TEST(ImatrixWrite, LayoutIsLlamaImatrixs) {
  test::TempDir dir;
  const auto path = dir / "imatrix.gguf";
  save_imatrix(sample(), path);
  const gguf::GgufFile f = gguf::GgufFile::open(path);
  ASSERT_NE(f.find("general.type"), nullptr);
  ASSERT_NE(f.find("general.type")->as_string(), nullptr);
  EXPECT_EQ(*f.find("general.type")->as_string(), "imatrix");
  std::vector<std::string> names;
  for (const gguf::TensorInfo& t : f.tensors()) names.push_back(t.name);
  const std::vector<std::string> want = {"blk.0.attn_q.weight.in_sum2",   "blk.0.attn_q.weight.counts",
                                         "blk.0.attn_q.weight.in_absmax", "blk.0.ffn_down.weight.in_sum2",
                                         "blk.0.ffn_down.weight.counts",  "blk.1.attn_k.weight.in_sum2",
                                         "blk.1.attn_k.weight.counts",    "blk.1.attn_k.weight.in_absmax"};
  EXPECT_EQ(names, want);
  const gguf::TensorInfo& sums = f.tensors()[0];
  EXPECT_EQ(sums.ne, (std::vector<std::uint64_t>{4, 1}));  // {cols, experts}, as llama-imatrix writes
  const gguf::TensorInfo& counts = f.tensors()[1];
  EXPECT_EQ(counts.ne, (std::vector<std::uint64_t>{1, 1}));
  float count = 0.0F;
  std::memcpy(&count, f.tensor_data(counts).data(), sizeof(float));
  EXPECT_EQ(count, 768.0F);
  std::vector<float> absmax(4);
  std::memcpy(absmax.data(), f.tensor_data(f.tensors()[2]).data(), 4 * sizeof(float));
  EXPECT_EQ(absmax, (std::vector<float>{0.5F, 0.0F, 2.0F, 1.0F}));
}

}  // namespace
}  // namespace quantlm::quant
