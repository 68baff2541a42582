// Differential tests: hup::pixel_shuffle / pixel_unshuffle against at::pixel_shuffle /
// at::pixel_unshuffle (libtorch 1.13), computed in this process on the same tensors. Pure data
// movement: compared bit for bit (NaN payloads and -0 included).
#include <cmath>
#include <random>
#include <sstream>

#include "inverse_oracle.h"
#include "tensor_check.h"  // detail::StreamingOverride

using hup_test::bits_equal;
using hup_test::first_difference;
using hup_test::kAllLayouts;
using hup_test::Layout;
using hup_test::make_output;
using hup_test::outside_untouched;
using hup_test::Result;
using hup_test::SingleThreadedOracle;
using hup_test::Tally;

namespace {

// Random values in [-1, 1) with some -0.0 and NaN (with a payload) mixed in, which a copy must
// keep bit for bit.
at::Tensor shuffle_values(const std::vector<int64_t> &sizes) {
    at::Tensor t = torch::rand(sizes) * 2 - 1;
    t.masked_fill_(torch::rand(sizes) < 0.05, -0.f);
    if (t.numel() > 0) {
        at::Tensor bits = t.view(at::kInt);
        bits.masked_fill_(torch::rand(sizes) < 0.05, (int32_t)0x7fc01234);  // a quiet NaN with a payload
    }
    return t;
}

// The layouts of a (*, C, H, W) tensor: channels_last puts C (dim -3) innermost, as
// at::MemoryFormat::ChannelsLast does for 4-D tensors, in any batch rank.
at::Tensor shuffle_layout(const at::Tensor &values, Layout layout) {
    return hup_test::in_layout(values, layout, values.dim() - 3);
}

at::Tensor shuffle_output(const std::vector<int64_t> &sizes, Layout layout) {
    return make_output(sizes, layout, at::kFloat, (int64_t)sizes.size() - 3);
}

std::string describe(const char *op, const std::vector<int64_t> &in, int64_t r, Layout in_layout, Layout out_layout) {
    std::ostringstream s;
    s << op << " in=" << c10::IntArrayRef(in) << " r=" << r << " " << hup_test::layout_name(in_layout) << " -> "
      << hup_test::layout_name(out_layout);
    return s.str();
}

// One direction: hup's `op` of `values` (in `in_layout`) into each output layout, against
// libtorch's `expected`: sizes from the sizes query, every element bit for bit, nothing written
// around the view, the input unchanged.
template <typename Op, typename Sizes>
std::string check_direction(const char *name, Op &&op, Sizes &&sizes_query, const at::Tensor &values, int64_t r,
                            Layout in_layout, const std::vector<Layout> &out_layouts, const at::Tensor &expected) {
    std::vector<int64_t> sizes;
    const hup::Status planned = sizes_query(values.sizes().vec(), r, &sizes);
    if (!planned.ok()) return describe(name, values.sizes().vec(), r, in_layout, in_layout) + ": sizes: " + planned.message();
    if (sizes != expected.sizes().vec()) {
        return describe(name, values.sizes().vec(), r, in_layout, in_layout) + ": sizes " + c10::str(c10::IntArrayRef(sizes)) +
               " vs libtorch " + c10::str(expected.sizes());
    }
    const at::Tensor x = shuffle_layout(values, in_layout);
    for (Layout out_layout : out_layouts) {
        const std::string where = describe(name, values.sizes().vec(), r, in_layout, out_layout);
        const at::Tensor out = shuffle_output(sizes, out_layout);
        const hup::Status s = op(x, out, r);
        if (!s.ok()) return where + ": " + s.message();
        if (!bits_equal(out, expected)) return where + ": " + first_difference(out, expected);
        if (!outside_untouched(out)) return where + ": wrote outside the output view";
    }
    if (!bits_equal(x, values)) return describe(name, values.sizes().vec(), r, in_layout, in_layout) + ": the input was modified";
    return "";
}

// Shuffle `values` and unshuffle the result: each against libtorch, and the round trip gives
// `values` back exactly.
Result check_round_trip(const at::Tensor &values, int64_t r, Layout in_layout, const std::vector<Layout> &out_layouts) {
    Result result;
    const at::Tensor shuffled = at::pixel_shuffle(values, r);
    result.failure = check_direction(
        "pixel_shuffle", [](const at::Tensor &x, const at::Tensor &out, int64_t f) { return hup::torch::pixel_shuffle(x, out, f); },
        hup::pixel_shuffle_output_sizes, values, r, in_layout, out_layouts, shuffled);
    if (!result.failure.empty()) return result;
    const at::Tensor unshuffled = at::pixel_unshuffle(shuffled, r);
    if (!bits_equal(unshuffled, values)) {
        result.failure = "libtorch's unshuffle of its shuffle is not the identity (test bug)";
        return result;
    }
    result.failure = check_direction(
        "pixel_unshuffle", [](const at::Tensor &x, const at::Tensor &out, int64_t f) { return hup::torch::pixel_unshuffle(x, out, f); },
        hup::pixel_unshuffle_output_sizes, shuffled, r, in_layout, out_layouts, unshuffled);
    if (!result.failure.empty()) return result;
    // hup's own round trip, through a channels_last intermediate.
    const at::Tensor mid = hup::torch::pixel_shuffle(shuffle_layout(values, Layout::ChannelsLast), r);
    const at::Tensor back = hup::torch::pixel_unshuffle(mid, r);
    if (!bits_equal(back, values)) result.failure = describe("round trip", values.sizes().vec(), r, in_layout, in_layout) + ": " +
                                                   first_difference(back, values);
    return result;
}

class PixelShuffleSweep : public ::testing::TestWithParam<int> {};

// Every factor r = 1..4, output channels 1..3, H and W of 1, 2 and odd sizes, for the batch
// rank of the parameter (3-D: no batch, 4-D, 5-D: two batch dims), every pair of input and
// output layout, both directions and the round trip.
TEST_P(PixelShuffleSweep, MatchesTorch) {
    const SingleThreadedOracle single_threaded;
    const int rank = GetParam();
    torch::manual_seed(800 + rank);
    const std::vector<int64_t> batch = rank == 3 ? std::vector<int64_t>{} : rank == 4 ? std::vector<int64_t>{2} : std::vector<int64_t>{2, 3};
    Tally tally("pixel_shuffle sweep");
    for (int64_t r = 1; r <= 4; r++) {
        for (int64_t c = 1; c <= 3; c++) {
            for (int64_t h : {1, 2, 5}) {
                for (int64_t w : {1, 3, 4}) {
                    std::vector<int64_t> in = batch;
                    in.insert(in.end(), {c * r * r, h, w});
                    const at::Tensor values = shuffle_values(in);
                    for (Layout in_layout : kAllLayouts) tally.add(check_round_trip(values, r, in_layout, kAllLayouts));
                }
            }
        }
    }
    EXPECT_EQ(tally.compared, 4 * 3 * 3 * 3 * 3);
}

INSTANTIATE_TEST_SUITE_P(AllBatchRanks, PixelShuffleSweep, ::testing::Values(3, 4, 5),
                         [](const ::testing::TestParamInfo<int> &info) { return std::to_string(info.param) + "D"; });

// Larger tensors: full vectors, tails and several parallel tasks, in the layouts that take
// fast paths (contiguous, channels_last) and a strided one.
TEST(PixelShuffleCommon, TypicalLayers) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(810);
    Tally tally("pixel_shuffle layers");
    const std::vector<std::pair<std::vector<int64_t>, int64_t>> layers = {
        {{2, 64, 17, 19}, 2},     // ESPCN-like, odd sizes
        {{1, 27, 24, 16}, 3},     // RGB output, r = 3
        {{2, 48, 16, 16}, 4},     // r = 4
        {{1, 256, 8, 9}, 2},      // many channels
        {{2, 3, 36, 8, 8}, 3},    // two batch dims
        {{12, 33, 35}, 2},        // unbatched, odd
        {{1, 16, 32, 32}, 1},     // r = 1: a copy
    };
    for (const auto &[in, r] : layers) {
        const at::Tensor values = shuffle_values(in);
        for (Layout layout : {Layout::Contiguous, Layout::ChannelsLast}) {
            tally.add(check_round_trip(values, r, layout, {layout, Layout::Strided}));
        }
    }
    EXPECT_EQ(tally.compared, (int)layers.size() * 2);
}

// The non-temporal variants (planar outputs that leave the caches; here every output, by the
// override): rows whose vectors are aligned (shuffle's r*W and unshuffle's W/r multiples of 16
// floats), with and without a masked tail, and rows that are not, which take the ordinary
// variant; contiguous outputs and strided ones.
TEST(PixelShuffleStreamed, MatchesTorch) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(815);
    Tally tally("pixel_shuffle streamed");
    const std::vector<std::pair<std::vector<int64_t>, int64_t>> layers = {
        {{2, 64, 8, 32}, 2},      // shuffle rows of 64, unshuffle rows of 32
        {{1, 18, 4, 16}, 3},      // rows of 48 and 16
        {{1, 32, 4, 16}, 4},      // rows of 64 and 16
        {{2, 4, 3, 40}, 2},       // rows of 80 and 40: a masked tail after whole vectors
        {{2, 3, 8, 5, 24}, 2},    // two batch dims
        {{1, 8, 5, 7}, 2},        // rows of 14: not aligned, the ordinary variant
    };
    const hup::detail::StreamingOverride always(0, hup::detail::StreamingMode::Always);
    for (const auto &[in, r] : layers) {
        tally.add(check_round_trip(shuffle_values(in), r, Layout::Contiguous, {Layout::Contiguous, Layout::Strided}));
    }
    EXPECT_EQ(tally.compared, (int)layers.size());
}

// Fixed-seed random problems: any batch rank (3-D to 6-D), r up to 5, random sizes and layouts.
TEST(PixelShuffleRandom, FixedSeedCases) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(820);
    std::mt19937 rng(821);
    auto pick = [&](int64_t lo, int64_t hi) { return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1)); };
    Tally tally("pixel_shuffle random");
    for (int i = 0; i < 150; i++) {
        const int64_t r = pick(1, 5);
        std::vector<int64_t> in;
        const int64_t batch_dims = pick(0, 3);
        for (int64_t b = 0; b < batch_dims; b++) in.push_back(pick(1, 3));
        in.insert(in.end(), {pick(1, 6) * r * r, pick(1, 13), pick(1, 13)});
        tally.add(check_round_trip(shuffle_values(in), r, kAllLayouts[pick(0, 2)], {kAllLayouts[pick(0, 2)]}));
    }
    EXPECT_EQ(tally.compared, 150);
}

// The definition itself, independent of libtorch: out[n, c, h*r + i, w*r + j] = in[n, c*r*r + i*r + j, h, w].
TEST(PixelShuffleSemantics, Definition) {
    const int64_t r = 3, c = 2, h = 2, w = 3;
    const at::Tensor x = torch::arange(c * r * r * h * w, at::kFloat).reshape({1, c * r * r, h, w});
    const at::Tensor out = hup::torch::pixel_shuffle(x, r);
    ASSERT_EQ(out.sizes(), (std::vector<int64_t>{1, c, h * r, w * r}));
    for (int64_t ci = 0; ci < c; ci++) {
        for (int64_t y = 0; y < h * r; y++) {
            for (int64_t xx = 0; xx < w * r; xx++) {
                const int64_t i = y % r, j = xx % r;
                EXPECT_EQ(out[0][ci][y][xx].item<float>(), x[0][ci * r * r + i * r + j][y / r][xx / r].item<float>());
            }
        }
    }
}

// Empty batches are fine: an empty output, as in PyTorch.
TEST(PixelShuffleSemantics, EmptyBatch) {
    for (const std::vector<int64_t> &in : {std::vector<int64_t>{0, 8, 2, 3}, {2, 0, 4, 1, 1}}) {
        const at::Tensor x = torch::rand(in);
        const at::Tensor expected = at::pixel_shuffle(x, 2);
        const at::Tensor out = hup::torch::pixel_shuffle(x, 2);
        EXPECT_EQ(out.sizes(), expected.sizes());
        const at::Tensor back = hup::torch::pixel_unshuffle(out, 2);
        EXPECT_EQ(back.sizes(), x.sizes());
    }
}

// The allocating adaptors keep the input's memory format and throw on bad arguments.
TEST(PixelShuffleTorchAdaptor, AllocatesAndThrows) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(830);
    for (Layout layout : {Layout::Contiguous, Layout::ChannelsLast}) {
        const at::Tensor x = shuffle_layout(shuffle_values({2, 18, 5, 7}), layout);
        const at::Tensor out = hup::torch::pixel_shuffle(x, 3);
        EXPECT_TRUE(bits_equal(out, at::pixel_shuffle(x.contiguous(), 3)));
        EXPECT_TRUE(out.is_contiguous(x.suggest_memory_format()));
        const at::Tensor back = hup::torch::pixel_unshuffle(out, 3);
        EXPECT_TRUE(bits_equal(back, x));
        EXPECT_TRUE(back.is_contiguous(x.suggest_memory_format()));
    }
    EXPECT_THROW(hup::torch::pixel_shuffle(torch::rand({2, 5, 3, 3}), 2), std::invalid_argument);
    EXPECT_THROW(hup::torch::pixel_unshuffle(torch::rand({2, 5, 3, 4}), 2), std::invalid_argument);
    EXPECT_THROW(hup::torch::pixel_shuffle(torch::rand({2, 4, 3, 3}, at::kDouble), 2), std::invalid_argument);
}

}  // namespace
