// Differential tests: hup::max_pool (with indices) and hup::max_unpool against libtorch 1.13's
// max_pool{1,2,3}d_with_indices and max_unpool{2,3}d, computed in this process on the same
// tensors. Both operators only move data, so everything is compared bit for bit: the values
// (NaN payloads and signed zeros included) and the int64 indices.
#include <cmath>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <tuple>

#include "inverse_oracle.h"
#include "target_dispatch.h"
#include "tensor_check.h"  // detail::StreamingOverride

using hup::MaxPoolOptions;
using hup::MaxUnpoolOptions;
using hup_test::all_sentinel;
using hup_test::bits_equal;
using hup_test::first_difference;
using hup_test::first_line;
using hup_test::kAllLayouts;
using hup_test::Layout;
using hup_test::make_output;
using hup_test::option_values;
using hup_test::outside_untouched;
using hup_test::Result;
using hup_test::SingleThreadedOracle;
using hup_test::Tally;

namespace {

// ---- Input values ----------------------------------------------------------------------------

// Random: distinct values in [-1, 1). Ties: small integers, so most windows hold the maximum
// several times. Constant: every window is one big tie. NaNs: ties with NaN (30%) and -inf
// (10%) mixed in, so windows hold several NaNs. Infinities: ties with -inf (50%) and a few
// +inf, including windows that hold only -inf (or padding and -inf).
enum class Values { Random, Ties, Constant, NaNs, Infinities };

const char *values_name(Values v) {
    switch (v) {
        case Values::Random: return "random";
        case Values::Ties: return "ties";
        case Values::Constant: return "constant";
        case Values::NaNs: return "nans";
        case Values::Infinities: return "infinities";
    }
    return "?";
}

const std::vector<Values> kAllValues = {Values::Random, Values::Ties, Values::Constant, Values::NaNs, Values::Infinities};

at::Tensor pool_values(const std::vector<int64_t> &sizes, Values kind) {
    auto ties = [&] { return torch::randint(-2, 3, sizes).to(at::kFloat); };
    switch (kind) {
        case Values::Random: return torch::rand(sizes) * 2 - 1;
        case Values::Ties: return ties();
        case Values::Constant: return torch::full(sizes, 0.5f);
        case Values::NaNs: {
            at::Tensor t = ties();
            t.masked_fill_(torch::rand(sizes) < 0.3, NAN);
            t.masked_fill_(torch::rand(sizes) < 0.1, -INFINITY);
            return t;
        }
        case Values::Infinities: {
            at::Tensor t = ties();
            t.masked_fill_(torch::rand(sizes) < 0.5, -INFINITY);
            t.masked_fill_(torch::rand(sizes) < 0.05, INFINITY);
            return t;
        }
    }
    return {};
}

std::string describe(const std::vector<int64_t> &in, const MaxPoolOptions &o) {
    std::ostringstream s;
    s << "in=" << c10::IntArrayRef(in) << hup_test::option_string("kernel_size", o.kernel_size)
      << hup_test::option_string("stride", o.stride) << hup_test::option_string("padding", o.padding)
      << hup_test::option_string("dilation", o.dilation) << (o.ceil_mode ? " ceil_mode" : "");
    return s.str();
}

std::string describe(const std::vector<int64_t> &in, const MaxUnpoolOptions &o) {
    std::ostringstream s;
    s << "unpool in=" << c10::IntArrayRef(in) << hup_test::option_string("kernel_size", o.kernel_size)
      << hup_test::option_string("stride", o.stride) << hup_test::option_string("padding", o.padding)
      << hup_test::option_string("output_size", o.output_size);
    return s.str();
}

// ---- max_pool --------------------------------------------------------------------------------

struct PoolCase {
    std::vector<int64_t> in;
    MaxPoolOptions options;
    Values values = Values::Random;
    Layout in_layout = Layout::Contiguous;
    // (output layout, indices layout) pairs; each gets its own call on the same input.
    std::vector<std::pair<Layout, Layout>> out_layouts = {
        {Layout::Contiguous, Layout::Contiguous}, {Layout::ChannelsLast, Layout::ChannelsLast}, {Layout::Strided, Layout::Strided}};
    // Whether libtorch must confirm a rejection by hup (each libtorch exception costs ms).
    bool confirm_rejection = true;
};

std::string describe(const PoolCase &c) {
    return describe(c.in, c.options) + " values=" + values_name(c.values) + " " + hup_test::layout_name(c.in_layout);
}

// Runs one case through hup and libtorch: they must agree on whether it is valid, on the
// sizes and, bit for bit, on values and indices, in every output layout; hup writes nothing
// around the output views and leaves the input alone.
Result check_pool(const PoolCase &c) {
    Result r;
    std::vector<int64_t> sizes;
    const hup::Status planned = hup::max_pool_output_sizes(c.in, c.options, &sizes);
    if (!planned.ok() && !c.confirm_rejection) {
        r.rejected = true;
        return r;
    }
    const at::Tensor values = pool_values(c.in, c.values);
    at::Tensor expected, expected_indices;
    std::string torch_error;
    try {
        std::tie(expected, expected_indices) = hup::torch::reference_max_pool(values, c.options);
    } catch (const std::exception &e) {
        torch_error = first_line(e.what());
    }
    if (hup_test::settled_by_rejection(describe(c), planned, torch_error, &r)) return r;
    if (sizes != expected.sizes().vec()) {
        r.failure = describe(c) + ": output sizes " + c10::str(c10::IntArrayRef(sizes)) + " vs libtorch " + c10::str(expected.sizes());
        return r;
    }
    const at::Tensor x = hup_test::in_layout(values, c.in_layout);
    for (const auto &[out_layout, index_layout] : c.out_layouts) {
        const std::string where = describe(c) + " -> " + hup_test::layout_name(out_layout) + "/" + hup_test::layout_name(index_layout);
        const at::Tensor out = make_output(sizes, out_layout, at::kFloat), indices = make_output(sizes, index_layout, at::kLong);
        const hup::Status s = hup::torch::max_pool(x, out, indices, c.options);
        if (!s.ok()) {
            r.failure = where + ": " + s.message();
        } else if (!bits_equal(out, expected)) {
            r.failure = where + ": values: " + first_difference(out, expected);
        } else if (!bits_equal(indices, expected_indices)) {
            r.failure = where + ": indices: " + first_difference(indices, expected_indices);
        } else if (!outside_untouched(out) || !outside_untouched(indices)) {
            r.failure = where + ": wrote outside the output views";
        }
        if (!r.failure.empty()) return r;
    }
    if (!bits_equal(x, values)) r.failure = describe(c) + ": the input was modified";
    return r;
}

std::vector<std::vector<int64_t>> spatial_shapes(int dims) {
    switch (dims) {
        case 1: return {{1}, {2}, {5}, {8}};
        case 2: return {{1, 1}, {4, 5}, {7, 3}};
        default: return {{1, 1, 1}, {3, 4, 2}, {5, 2, 3}};
    }
}

// One dim's choices.
struct DimChoice {
    int64_t in, kernel, stride, padding, dilation;  // stride 0: the default (kernel_size)
};

MaxPoolOptions pool_options(const std::vector<DimChoice> &dims, bool ceil_mode, bool per_dim) {
    std::vector<int64_t> k, s, p, d;
    for (const DimChoice &c : dims) {
        k.push_back(c.kernel);
        s.push_back(c.stride);
        p.push_back(c.padding);
        d.push_back(c.dilation);
    }
    MaxPoolOptions o;
    o.kernel_size = option_values(k, -1, per_dim);
    if (s[0] != 0) o.stride = option_values(s, -1, per_dim);
    o.padding = option_values(p, 0, per_dim);
    o.dilation = option_values(d, 1, per_dim);
    o.ceil_mode = ceil_mode;
    return o;
}

std::vector<int64_t> input_sizes(int64_t n, int64_t c, const std::vector<DimChoice> &dims) {
    std::vector<int64_t> in = {n, c};
    for (const DimChoice &d : dims) in.push_back(d.in);
    return in;
}

// ---- The sweep: every kernel, stride (default included), padding, dilation and ceil_mode -----

class MaxPoolSweep : public ::testing::TestWithParam<int> {};

// Kernel 1..3, stride default (= kernel) or 1..3, padding 0..kernel/2 + 1 (the last one over
// PyTorch's limit of half the kernel: both must reject it), dilation 1..2, ceil_mode off and
// on, on inputs of size 1, 2 and odd sizes (some too small for the window: rejected by both).
// In 2-D and 3-D each point runs once with one value for every dim and once with the values
// rotated across dims, given per dim. Values, channels and the input layout are drawn from a
// fixed-seed generator; every output layout runs. The 1-D sweep, which holds every per-dim
// combination, confirms each of hup's rejections with libtorch; the others skip them.
TEST_P(MaxPoolSweep, MatchesTorch) {
    const SingleThreadedOracle single_threaded;
    const int dims = GetParam();
    torch::manual_seed(100 + dims);
    std::mt19937 rng(200 + dims);
    auto pick = [&](size_t n) { return (size_t)(rng() % n); };
    const std::vector<int64_t> channels = {1, 3, 8, 17};
    Tally tally("max_pool sweep");
    for (const std::vector<int64_t> &shape : spatial_shapes(dims)) {
        for (int64_t kernel = 1; kernel <= 3; kernel++) {
            for (int64_t stride = 0; stride <= 3; stride++) {
                for (int64_t padding = 0; padding <= kernel / 2 + 1; padding++) {
                    for (int64_t dilation = 1; dilation <= 2; dilation++) {
                        for (bool ceil_mode : {false, true}) {
                            for (bool rotated : dims == 1 ? std::vector<bool>{false} : std::vector<bool>{false, true}) {
                                std::vector<DimChoice> choice;
                                for (int d = 0; d < dims; d++) {
                                    const int r = rotated ? d : 0;
                                    DimChoice c{shape[d], (kernel - 1 + r) % 3 + 1, stride == 0 ? 0 : (stride - 1 + r) % 3 + 1,
                                                padding, (dilation - 1 + r) % 2 + 1};
                                    if (d > 0) c.padding = std::min(padding, c.kernel / 2);  // only dim 0 goes over the limit
                                    choice.push_back(c);
                                }
                                PoolCase c;
                                c.in = input_sizes(1 + pick(2), channels[pick(channels.size())], choice);
                                c.options = pool_options(choice, ceil_mode, rotated);
                                c.values = kAllValues[pick(kAllValues.size())];
                                c.in_layout = kAllLayouts[pick(3)];
                                c.confirm_rejection = dims == 1;
                                tally.add(check_pool(c));
                            }
                        }
                    }
                }
            }
        }
    }
    EXPECT_GT(tally.compared, dims == 1 ? 200 : 250);
    EXPECT_GT(tally.rejected, 50);
    if (dims == 1) EXPECT_EQ(tally.confirmed, tally.rejected);
}

INSTANTIATE_TEST_SUITE_P(AllRanks, MaxPoolSweep, ::testing::Values(1, 2, 3),
                         [](const ::testing::TestParamInfo<int> &info) { return std::to_string(info.param) + "d"; });

// ---- Layouts: every combination of input, output and indices layout -------------------------

class MaxPoolLayouts : public ::testing::TestWithParam<int> {};

TEST_P(MaxPoolLayouts, EveryCombination) {
    const SingleThreadedOracle single_threaded;
    const int dims = GetParam();
    torch::manual_seed(300 + dims);
    // Odd sizes and 17 channels (a vector tail in channels_last).
    const std::vector<int64_t> shape = dims == 1 ? std::vector<int64_t>{23} : dims == 2 ? std::vector<int64_t>{9, 11}
                                                                                         : std::vector<int64_t>{5, 6, 7};
    struct Setting {
        int64_t kernel, stride, padding, dilation;
        bool ceil_mode;
    };
    const std::vector<Setting> settings = {{3, 2, 1, 1, false}, {2, 0, 0, 1, false}, {3, 1, 1, 2, false}, {2, 3, 1, 1, true}};
    std::vector<std::pair<Layout, Layout>> out_layouts;
    for (Layout o : kAllLayouts) {
        for (Layout i : kAllLayouts) out_layouts.push_back({o, i});
    }
    Tally tally("max_pool layouts");
    for (const Setting &s : settings) {
        for (Layout in_layout : kAllLayouts) {
            std::vector<DimChoice> choice;
            for (int d = 0; d < dims; d++) choice.push_back({shape[d], s.kernel, s.stride, s.padding, s.dilation});
            PoolCase c;
            c.in = input_sizes(2, 17, choice);
            c.options = pool_options(choice, s.ceil_mode, false);
            c.values = Values::NaNs;
            c.in_layout = in_layout;
            c.out_layouts = out_layouts;
            tally.add(check_pool(c));
        }
    }
    EXPECT_EQ(tally.compared, (int)settings.size() * 3);
}

INSTANTIATE_TEST_SUITE_P(AllRanks, MaxPoolLayouts, ::testing::Values(1, 2, 3),
                         [](const ::testing::TestParamInfo<int> &info) { return std::to_string(info.param) + "d"; });

// ---- Random problems -------------------------------------------------------------------------

// Fixed-seed random problems over every rank and option, per-dim values, larger sizes and
// kernels, and independent layouts for input, output and indices.
TEST(MaxPoolRandom, FixedSeedCases) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(400);
    std::mt19937 rng(401);
    auto pick = [&](int64_t lo, int64_t hi) { return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1)); };
    Tally tally("max_pool random");
    for (int i = 0; i < 250; i++) {
        const int dims = (int)pick(1, 3);
        const bool default_stride = pick(0, 3) == 0;
        std::vector<DimChoice> choice;
        for (int d = 0; d < dims; d++) {
            DimChoice c;
            c.in = pick(1, dims == 3 ? 9 : dims == 2 ? 20 : 40);
            c.kernel = pick(1, dims == 3 ? 3 : 5);
            c.stride = default_stride ? 0 : pick(1, 4);
            c.padding = pick(0, c.kernel / 2);
            c.dilation = pick(1, 3);
            choice.push_back(c);
        }
        PoolCase c;
        c.in = input_sizes(pick(1, 3), pick(1, 20), choice);
        c.options = pool_options(choice, pick(0, 1) == 1, pick(0, 1) == 1);
        c.values = kAllValues[pick(0, (int64_t)kAllValues.size() - 1)];
        c.in_layout = kAllLayouts[pick(0, 2)];
        c.out_layouts = {{kAllLayouts[pick(0, 2)], kAllLayouts[pick(0, 2)]}};
        tally.add(check_pool(c));
    }
    EXPECT_GT(tally.compared, 180);
}

// ---- Ties, NaN, infinities, windows over the padding ------------------------------------------

PoolCase simple_case(std::vector<int64_t> in, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation, bool ceil_mode,
                     Values values) {
    PoolCase c;
    c.in = std::move(in);
    c.options.kernel_size = {kernel};
    if (stride > 0) c.options.stride = {stride};
    c.options.padding = {padding};
    c.options.dilation = {dilation};
    c.options.ceil_mode = ceil_mode;
    c.values = values;
    return c;
}

// Settings where windows overlap (each maximum is seen by several windows), reach into the
// padding on both sides, or, with ceil_mode, hang over the right edge.
std::vector<PoolCase> edge_cases(Values values) {
    std::vector<PoolCase> cases;
    const std::vector<std::vector<int64_t>> shapes = {{2, 3, 7}, {2, 3, 1}, {2, 3, 5, 6}, {1, 2, 1, 1}, {2, 3, 3, 4, 5}, {1, 2, 1, 2, 1}};
    for (const auto &in : shapes) {
        cases.push_back(simple_case(in, 3, 1, 1, 1, false, values));
        cases.push_back(simple_case(in, 2, 1, 1, 1, true, values));
        cases.push_back(simple_case(in, 3, 2, 1, 1, true, values));
        cases.push_back(simple_case(in, 4, 3, 2, 1, true, values));
        cases.push_back(simple_case(in, 3, 1, 1, 2, false, values));
        cases.push_back(simple_case(in, 1, 0, 0, 1, false, values));
    }
    return cases;
}

// Ties go to the first maximum of the window, in every layout. With a constant input that is
// the window's first position inside the input: for a 1-D window starting at o*s - p, index
// max(o*s - p, 0) (dilation 1).
TEST(MaxPoolSemantics, TiesGoToTheFirstMaximum) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(500);
    Tally tally("max_pool ties");
    for (Values values : {Values::Constant, Values::Ties}) {
        for (Layout layout : kAllLayouts) {
            for (PoolCase c : edge_cases(values)) {
                c.in_layout = layout;
                c.confirm_rejection = false;
                tally.add(check_pool(c));
            }
        }
    }
    EXPECT_GT(tally.compared, 150);
    // The formula, on its own, for 1-D windows over a constant input.
    for (int64_t stride : {1, 2, 3}) {
        for (int64_t padding : {0, 1}) {
            MaxPoolOptions o;
            o.kernel_size = {3};
            o.stride = {stride};
            o.padding = {padding};
            const at::Tensor x = torch::full({1, 2, 8}, 2.f);
            const auto [out, indices] = hup::torch::max_pool(x, o);
            ASSERT_EQ(indices.size(-1), (8 + 2 * padding - 3) / stride + 1);
            for (int64_t i = 0; i < indices.size(-1); i++) {
                EXPECT_EQ(indices[0][1][i].item<int64_t>(), std::max<int64_t>(i * stride - padding, 0))
                    << "stride " << stride << " padding " << padding << " window " << i;
            }
        }
    }
}

// NaN counts as the maximum. libtorch's CPU kernel replaces the running maximum whenever it
// meets a NaN, so of several NaNs in a window the last one wins (its index is returned): hup
// must give the same index, whatever the layout. Windows here hold several NaNs, NaN and -inf,
// and NaN next to the padding.
TEST(MaxPoolSemantics, NaNPropagatesAsLibtorch) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(510);
    Tally tally("max_pool NaN");
    for (Layout layout : kAllLayouts) {
        for (PoolCase c : edge_cases(Values::NaNs)) {
            c.in_layout = layout;
            c.confirm_rejection = false;
            tally.add(check_pool(c));
        }
    }
    EXPECT_GT(tally.compared, 80);
    // Every window of an all-NaN input, and windows with NaN at chosen places: a NaN's index
    // is returned, and its value is NaN.
    MaxPoolOptions o;
    o.kernel_size = {3};
    o.stride = {1};
    o.padding = {1};
    at::Tensor x = torch::rand({2, 3, 6, 7});
    x.index_put_({0, 0, 2, 2}, NAN);
    x.index_put_({0, 0, 2, 3}, NAN);
    x.index_put_({0, 0, 3, 2}, NAN);
    x.index_put_({1, 2}, NAN);
    x.index_put_({1, 1, 0, 0}, NAN);
    x.index_put_({1, 1, 5, 6}, NAN);
    for (Layout layout : kAllLayouts) {
        const at::Tensor xl = hup_test::in_layout(x, layout);
        const auto [expected, expected_indices] = hup::torch::reference_max_pool(x, o);
        const auto [out, indices] = hup::torch::max_pool(xl, o);
        EXPECT_TRUE(bits_equal(out, expected)) << hup_test::layout_name(layout) << ": " << first_difference(out, expected);
        EXPECT_TRUE(bits_equal(indices, expected_indices))
            << hup_test::layout_name(layout) << ": " << first_difference(indices, expected_indices);
        // The chosen element is NaN wherever the window holds one.
        const at::Tensor picked = x.flatten(2).gather(2, indices.contiguous().flatten(2)).view_as(out);
        EXPECT_TRUE(bits_equal(picked, out.contiguous()));
        const at::Tensor window_has_nan = std::get<0>(hup::torch::reference_max_pool(x.isnan().to(at::kFloat), o)) > 0;
        EXPECT_TRUE(torch::equal(out.isnan(), window_has_nan)) << hup_test::layout_name(layout);
    }
}

// -inf inputs: the maximum of a window of -inf (and padding, which never wins) is -inf at the
// window's first element in the input; +inf beats everything but NaN.
TEST(MaxPoolSemantics, Infinities) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(520);
    Tally tally("max_pool infinities");
    for (Layout layout : kAllLayouts) {
        for (PoolCase c : edge_cases(Values::Infinities)) {
            c.in_layout = layout;
            c.confirm_rejection = false;
            tally.add(check_pool(c));
        }
    }
    EXPECT_GT(tally.compared, 80);
    // All -inf, windows partly padding.
    for (int dims = 1; dims <= 3; dims++) {
        std::vector<int64_t> in = {2, 3};
        for (int d = 0; d < dims; d++) in.push_back(4 + d);
        const at::Tensor x = torch::full(in, -INFINITY);
        for (auto [k, s, p] : {std::tuple<int64_t, int64_t, int64_t>{3, 1, 1}, {2, 2, 1}, {3, 2, 1}}) {
            MaxPoolOptions o;
            o.kernel_size = {k};
            o.stride = {s};
            o.padding = {p};
            for (Layout layout : kAllLayouts) {
                const auto [expected, expected_indices] = hup::torch::reference_max_pool(x, o);
                const auto [out, indices] = hup::torch::max_pool(hup_test::in_layout(x, layout), o);
                EXPECT_TRUE(bits_equal(out, expected)) << describe(in, o);
                EXPECT_TRUE(bits_equal(indices, expected_indices))
                    << describe(in, o) << " " << hup_test::layout_name(layout) << ": " << first_difference(indices, expected_indices);
            }
        }
    }
}

// Signed zeros and ties between -0 and +0 (equal as floats: the first one wins, and its bits
// are returned).
TEST(MaxPoolSemantics, SignedZeros) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(530);
    const at::Tensor x = torch::where(torch::rand({2, 5, 9, 8}) < 0.5, torch::full({}, -0.f), torch::full({}, 0.f));
    for (Layout layout : kAllLayouts) {
        PoolCase c = simple_case({2, 5, 9, 8}, 3, 2, 1, 1, true, Values::Constant);
        MaxPoolOptions o = c.options;
        const auto [expected, expected_indices] = hup::torch::reference_max_pool(x, o);
        for (Layout out_layout : kAllLayouts) {
            const at::Tensor out = make_output(expected.sizes().vec(), out_layout, at::kFloat);
            const at::Tensor indices = make_output(expected.sizes().vec(), out_layout, at::kLong);
            ASSERT_TRUE(hup::torch::max_pool(hup_test::in_layout(x, layout), out, indices, o).ok());
            EXPECT_TRUE(bits_equal(out, expected)) << first_difference(out, expected);
            EXPECT_TRUE(bits_equal(indices, expected_indices)) << first_difference(indices, expected_indices);
        }
    }
}

// ---- Larger, typical layers: full vectors, tails and several parallel tasks --------------------

TEST(MaxPoolCommon, TypicalLayers) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(540);
    Tally tally("max_pool layers");
    const std::vector<PoolCase> layers = {
        simple_case({2, 24, 33, 35}, 3, 2, 1, 1, false, Values::Random),  // ResNet stem
        simple_case({2, 40, 28, 28}, 2, 0, 0, 1, false, Values::Random),  // VGG / U-Net, default stride
        simple_case({1, 17, 31, 30}, 3, 2, 0, 1, true, Values::Ties),     // ceil_mode (Inception)
        simple_case({2, 24, 100}, 3, 2, 1, 1, false, Values::Random),     // 1-D
        simple_case({2, 9, 77}, 4, 0, 2, 2, true, Values::NaNs),          // 1-D, dilated
        simple_case({1, 16, 9, 10, 11}, 3, 2, 1, 1, false, Values::Random),  // 3-D
        simple_case({2, 8, 8, 8, 8}, 2, 0, 0, 1, false, Values::Ties),       // 3-D, default stride
    };
    for (PoolCase c : layers) {
        for (Layout layout : {Layout::Contiguous, Layout::ChannelsLast}) {
            c.in_layout = layout;
            c.out_layouts = {{layout, layout}, {Layout::Strided, Layout::Contiguous}};
            tally.add(check_pool(c));
        }
    }
    EXPECT_EQ(tally.compared, (int)layers.size() * 2);
}

// 2x2 windows of stride 2 on rows wide enough for whole vectors of outputs: the interior
// runs the variant with that window compiled in (hup_max_pool_r2_planar_window2), which the
// small layers above never reach. Ties, NaNs and infinities; padding 0 and 1; odd sizes.
// Streamed too (the threshold lowered to 0): where the interior starts at 0 and the outputs'
// rows are aligned (32 of them, from 64 inputs), it runs the non-temporal variant (_stream);
// elsewhere (75 inputs, padding 1, strided outputs) the ordinary one.
TEST(MaxPoolCommon, TwoByTwoWindowsOnWideRows) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(541);
    Tally tally("max_pool 2x2 windows, wide rows");
    int cases = 0;
    for (auto mode : {hup::detail::StreamingMode::Never, hup::detail::StreamingMode::Always}) {
        const hup::detail::StreamingOverride path(0, mode);
        for (Values values : {Values::Random, Values::Ties, Values::NaNs, Values::Infinities}) {
            for (int64_t padding : {0, 1}) {
                for (bool ceil_mode : {false, true}) {
                    for (int64_t width : {75, 64}) {
                        PoolCase c = simple_case({2, 3, 9 + 2 * padding, width}, 2, 2, padding, 1, ceil_mode, values);
                        c.in_layout = Layout::Contiguous;
                        c.out_layouts = {{Layout::Contiguous, Layout::Contiguous}, {Layout::Strided, Layout::Contiguous}};
                        tally.add(check_pool(c));
                        cases++;
                    }
                }
            }
        }
    }
    EXPECT_EQ(tally.compared, cases);
}

// hup::torch::max_pool(input, options) allocates output and indices in the input's memory
// format and throws with hup's message on bad arguments.
TEST(MaxPoolTorchAdaptor, AllocatesAndThrows) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(550);
    MaxPoolOptions o;
    o.kernel_size = {3};
    o.stride = {2};
    o.padding = {1};
    for (Layout layout : {Layout::Contiguous, Layout::ChannelsLast}) {
        const at::Tensor x = hup_test::in_layout(torch::rand({2, 6, 9, 8}), layout);
        const auto [expected, expected_indices] = hup::torch::reference_max_pool(x.contiguous(), o);
        const auto [out, indices] = hup::torch::max_pool(x, o);
        EXPECT_TRUE(bits_equal(out, expected));
        EXPECT_TRUE(bits_equal(indices, expected_indices));
        EXPECT_EQ(indices.scalar_type(), at::kLong);
        EXPECT_TRUE(out.is_contiguous(x.suggest_memory_format()));
        EXPECT_TRUE(indices.is_contiguous(x.suggest_memory_format()));
    }
    MaxPoolOptions bad = o;
    bad.padding = {2};  // more than half the kernel
    EXPECT_THROW(hup::torch::max_pool(torch::rand({2, 6, 9, 8}), bad), std::invalid_argument);
    EXPECT_THROW(hup::torch::max_pool(torch::rand({2, 6, 9, 8}, torch::kDouble), o), std::invalid_argument);
    // Indices of the wrong dtype, through the writing overload.
    const at::Tensor out = torch::zeros({2, 6, 5, 4}), float_indices = torch::zeros({2, 6, 5, 4});
    EXPECT_FALSE(hup::torch::max_pool(torch::rand({2, 6, 9, 8}), out, float_indices, o).ok());
}

// ---- max_unpool ----------------------------------------------------------------------------------

// hup's semantics, as an explicit loop (the oracle where libtorch's order is undefined):
// each (n, c) plane zero-filled, then the plane's inputs written in row-major order, so that
// the last of several inputs with the same index wins. Indices must be valid.
at::Tensor loop_unpool(const at::Tensor &input, const at::Tensor &indices, const std::vector<int64_t> &out_sizes) {
    const int64_t planes = input.size(0) * input.size(1);
    int64_t in_plane = 1, out_plane = 1;
    for (int64_t d = 2; d < input.dim(); d++) in_plane *= input.size(d);
    for (size_t d = 2; d < out_sizes.size(); d++) out_plane *= out_sizes[d];
    const at::Tensor x = input.contiguous().reshape({planes, in_plane});
    const at::Tensor idx = indices.contiguous().reshape({planes, in_plane});
    at::Tensor out = torch::zeros({planes, out_plane});
    const auto xa = x.accessor<float, 2>();
    const auto ia = idx.accessor<int64_t, 2>();
    auto oa = out.accessor<float, 2>();
    for (int64_t p = 0; p < planes; p++) {
        for (int64_t e = 0; e < in_plane; e++) {
            const int64_t i = ia[p][e];
            if (i < 0 || i >= out_plane) throw std::logic_error("loop_unpool: index out of range (a test bug)");
            oa[p][i] = xa[p][e];
        }
    }
    return out.reshape(out_sizes);
}

// Python's F.max_unpool{1,2,3}d (torch/nn/functional.py, _unpool_output_size): the default
// output size is (in - 1) * stride - 2 * padding + kernel, and an explicit size must lie
// STRICTLY between default - stride and default + stride. (The C++ frontend's copy of that
// check in libtorch 1.13 accepts the ends too, so it cannot serve as the oracle here; hup
// follows Python, see SEMANTICS.md.) Returns the spatial sizes, or nothing when invalid.
// A size below 1 is invalid too: libtorch fails on negative sizes, and for 0 returns an empty
// tensor without looking at the indices, which hup refuses (every index would be outside the
// empty plane, and hup refuses such indices).
std::optional<std::vector<int64_t>> python_unpool_sizes(const std::vector<int64_t> &in, const std::vector<int64_t> &kernel,
                                                        const std::vector<int64_t> &stride, const std::vector<int64_t> &padding,
                                                        const std::vector<int64_t> &output_size) {
    const size_t dims = in.size() - 2;
    std::vector<int64_t> sizes(dims);
    for (size_t d = 0; d < dims; d++) sizes[d] = (in[2 + d] - 1) * stride[d] + kernel[d] - 2 * padding[d];
    if (!output_size.empty()) {
        const std::vector<int64_t> spatial(output_size.end() - dims, output_size.end());
        for (size_t d = 0; d < dims; d++) {
            if (!(sizes[d] - stride[d] < spatial[d] && spatial[d] < sizes[d] + stride[d])) return std::nullopt;
        }
        sizes = spatial;
    }
    for (int64_t s : sizes) {
        if (s < 1) return std::nullopt;
    }
    return sizes;
}

std::vector<int64_t> per_dim(const std::vector<int64_t> &v, size_t dims, const std::vector<int64_t> &fallback) {
    return hup::torch::spatial_values(v, dims, fallback);
}

struct UnpoolCase {
    at::Tensor values, indices;  // contiguous; what hup gets, copied into the layouts below
    MaxUnpoolOptions options;
    Layout in_layout = Layout::Contiguous, index_layout = Layout::Contiguous;
    std::vector<Layout> out_layouts = kAllLayouts;
    // Also compare with libtorch's max_unpool (the explicit loop is always compared): only where
    // no two inputs of a plane with different bits share an index, libtorch's order being
    // undefined.
    bool torch_too = true;
    at::Tensor expected;  // when defined, also expected bit for bit (libtorch of libtorch's pool)
    std::string what;     // for messages
};

// Runs one max_unpool case: hup's output sizes follow Python's rule; valid output sizes give
// the loop's result (and libtorch's) bit for bit in every output layout, with nothing written
// around the view; an index outside the output plane (the default size can be smaller than
// the pooled input) is refused, as by libtorch, with the output untouched.
Result check_unpool(const UnpoolCase &c) {
    Result r;
    const std::vector<int64_t> in = c.values.sizes().vec();
    const size_t dims = in.size() - 2;
    const std::string where = c.what + " " + describe(in, c.options) + " " + hup_test::layout_name(c.in_layout) + "/" +
                              hup_test::layout_name(c.index_layout);
    const std::vector<int64_t> k = per_dim(c.options.kernel_size, dims, {});
    const auto rule = python_unpool_sizes(in, k, per_dim(c.options.stride, dims, k),
                                          per_dim(c.options.padding, dims, std::vector<int64_t>(dims, 0)), c.options.output_size);
    std::vector<int64_t> sizes;
    const hup::Status planned = hup::max_unpool_output_sizes(in, c.options, &sizes);
    if (!rule) {
        if (planned.ok()) r.failure = where + ": hup accepts an output_size that PyTorch refuses";
        r.rejected = r.failure.empty();
        return r;
    }
    std::vector<int64_t> expected_sizes = {in[0], in[1]};
    expected_sizes.insert(expected_sizes.end(), rule->begin(), rule->end());
    if (!planned.ok()) {
        r.failure = where + ": hup rejects: " + planned.message();
        return r;
    }
    if (sizes != expected_sizes) {
        r.failure = where + ": output sizes " + c10::str(c10::IntArrayRef(sizes)) + " vs " + c10::str(c10::IntArrayRef(expected_sizes));
        return r;
    }
    int64_t out_plane = 1;
    for (size_t d = 2; d < sizes.size(); d++) out_plane *= sizes[d];
    const at::Tensor x = hup_test::in_layout(c.values, c.in_layout), ix = hup_test::in_layout(c.indices, c.index_layout);
    const bool in_range = c.indices.numel() == 0 || (c.indices.min().item<int64_t>() >= 0 && c.indices.max().item<int64_t>() < out_plane);
    if (!in_range) {
        // Refused by libtorch too; then by hup, in every layout, writing nothing.
        bool torch_refused = false;
        try {
            hup::torch::reference_max_unpool(c.values, c.indices, c.options);
        } catch (const std::exception &) {
            torch_refused = true;
        }
        if (!torch_refused) r.failure = where + ": libtorch accepts out-of-range indices";
        for (Layout out_layout : c.out_layouts) {
            const at::Tensor out = make_output(sizes, out_layout, at::kFloat);
            const hup::Status s = hup::torch::max_unpool(x, ix, out, c.options);
            if (s.ok()) r.failure = where + ": hup accepts out-of-range indices";
            else if (!all_sentinel(out) || !outside_untouched(out)) r.failure = where + ": wrote despite refusing";
            if (!r.failure.empty()) return r;
        }
        r.rejected = r.confirmed = true;
        return r;
    }
    const at::Tensor loop = loop_unpool(c.values, c.indices, sizes);
    if (c.torch_too) {
        const at::Tensor t = hup::torch::reference_max_unpool(c.values, c.indices, c.options);
        if (!bits_equal(t, loop)) {
            r.failure = where + ": libtorch and the loop oracle disagree (test bug): " + first_difference(t, loop);
            return r;
        }
    }
    if (c.expected.defined() && !bits_equal(c.expected, loop)) {
        r.failure = where + ": the round trip's libtorch result and the loop oracle disagree: " + first_difference(loop, c.expected);
        return r;
    }
    for (Layout out_layout : c.out_layouts) {
        const at::Tensor out = make_output(sizes, out_layout, at::kFloat);
        const hup::Status s = hup::torch::max_unpool(x, ix, out, c.options);
        const std::string w = where + " -> " + hup_test::layout_name(out_layout);
        if (!s.ok()) {
            r.failure = w + ": " + s.message();
        } else if (!bits_equal(out, loop)) {
            r.failure = w + ": " + first_difference(out, loop);
        } else if (!outside_untouched(out)) {
            r.failure = w + ": wrote outside the output view";
        }
        if (!r.failure.empty()) return r;
    }
    if (!bits_equal(x, c.values) || !bits_equal(ix, c.indices)) r.failure = where + ": the inputs were modified";
    return r;
}

enum class SizeForm { Default, Spatial, Full };

// ---- Round trip: max_unpool(max_pool(x)) --------------------------------------------------------

class MaxUnpoolRoundTrip : public ::testing::TestWithParam<int> {};

// hup's max_unpool of hup's max_pool equals libtorch's max_unpool of libtorch's max_pool, bit
// for bit, over kernel 1..3, stride default or 1..3, padding 0..kernel/2, ceil_mode, dilation
// 1..2 in the pool, and output_size left to its default, or set to the pooled input's sizes
// (spatial or full form). Overlapping windows give repeated indices (with equal values). The
// default size can be smaller than the pooled input, and with dilation the input size can be
// outside the allowed range: those are refused, as by PyTorch.
TEST_P(MaxUnpoolRoundTrip, MatchesTorchOfTorch) {
    const SingleThreadedOracle single_threaded;
    const int dims = GetParam();
    torch::manual_seed(600 + dims);
    std::mt19937 rng(601 + dims);
    auto pick = [&](size_t n) { return (size_t)(rng() % n); };
    Tally tally("max_unpool round trip");
    int refused_indices = 0;
    for (const std::vector<int64_t> &shape : spatial_shapes(dims)) {
        for (int64_t kernel = 1; kernel <= 3; kernel++) {
            for (int64_t stride = 0; stride <= 3; stride++) {
                for (int64_t padding = 0; padding <= kernel / 2; padding++) {
                    for (int64_t dilation = 1; dilation <= 2; dilation++) {
                        for (bool ceil_mode : {false, true}) {
                            for (bool rotated : dims == 1 ? std::vector<bool>{false} : std::vector<bool>{false, true}) {
                                std::vector<DimChoice> choice;
                                for (int d = 0; d < dims; d++) {
                                    const int r = rotated ? d : 0;
                                    DimChoice c{shape[d], (kernel - 1 + r) % 3 + 1, stride == 0 ? 0 : (stride - 1 + r) % 3 + 1, 0, 1};
                                    c.padding = std::min(padding, c.kernel / 2);
                                    choice.push_back(c);
                                }
                                const MaxPoolOptions po = pool_options(choice, ceil_mode, rotated);
                                const std::vector<int64_t> in = input_sizes(1 + pick(2), 1 + pick(4), choice);
                                std::vector<int64_t> pooled;
                                if (!hup::max_pool_output_sizes(in, po, &pooled).ok()) continue;  // MaxPoolSweep covers those
                                const Values values = pick(3) == 0 ? Values::Ties : Values::Random;
                                const at::Tensor x = hup_test::in_layout(pool_values(in, values), kAllLayouts[pick(3)]);
                                const auto [tv, ti] = hup::torch::reference_max_pool(x.contiguous(), po);
                                const auto [hv, hi] = hup::torch::max_pool(x, po);
                                if (!bits_equal(hv, tv) || !bits_equal(hi, ti)) {
                                    Result bad;
                                    bad.failure = describe(in, po) + ": max_pool differs from libtorch";
                                    tally.add(bad);
                                    continue;
                                }
                                for (SizeForm form : {SizeForm::Default, SizeForm::Spatial, SizeForm::Full}) {
                                    if (dilation == 2 && form == SizeForm::Default) continue;
                                    UnpoolCase c;
                                    c.values = hv.contiguous();
                                    c.indices = hi.contiguous();
                                    c.options.kernel_size = po.kernel_size;
                                    c.options.stride = po.stride;
                                    c.options.padding = po.padding;
                                    if (form != SizeForm::Default) c.options.output_size.assign(in.begin() + (form == SizeForm::Full ? 0 : 2), in.end());
                                    c.in_layout = kAllLayouts[pick(3)];
                                    c.index_layout = kAllLayouts[pick(3)];
                                    c.what = describe(in, po) + " ->";
                                    std::vector<int64_t> sizes;
                                    if (hup::max_unpool_output_sizes(c.values.sizes().vec(), c.options, &sizes).ok() &&
                                        c.indices.numel() > 0 && c.indices.max().item<int64_t>() < c10::multiply_integers(sizes.begin() + 2, sizes.end())) {
                                        c.expected = hup::torch::reference_max_unpool(tv, ti, c.options);
                                    }
                                    const Result r = check_unpool(c);
                                    refused_indices += r.confirmed;
                                    tally.add(r);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    EXPECT_GT(tally.compared, dims == 1 ? 100 : 300);
    EXPECT_GT(tally.rejected, 5);
    EXPECT_GT(refused_indices, 0);
}

INSTANTIATE_TEST_SUITE_P(AllRanks, MaxUnpoolRoundTrip, ::testing::Values(1, 2, 3),
                         [](const ::testing::TestParamInfo<int> &info) { return std::to_string(info.param) + "d"; });

// Random indices within the output plane, for every pair of input and output layout (indices
// in the input's layout, and once more in each other layout).
std::vector<std::tuple<Layout, Layout, Layout>> layout_triples() {
    std::vector<std::tuple<Layout, Layout, Layout>> triples;
    for (Layout in : kAllLayouts) {
        for (Layout index : kAllLayouts) triples.push_back({in, index, in});
    }
    return triples;
}

struct UnpoolSetting {
    std::vector<int64_t> in;
    std::vector<int64_t> kernel, stride, padding;
};

std::vector<UnpoolSetting> unpool_settings() {
    return {
        {{2, 3, 5}, {3}, {2}, {1}},
        {{2, 5, 1}, {2}, {}, {}},
        {{2, 3, 3, 4}, {3, 2}, {2, 3}, {1, 0}},
        {{1, 17, 5, 6}, {2}, {}, {}},
        {{2, 2, 2, 3, 2}, {2}, {2, 1, 3}, {0}},
        {{1, 9, 3, 3, 3}, {3}, {2}, {1}},
    };
}

MaxUnpoolOptions unpool_options(const UnpoolSetting &s) {
    MaxUnpoolOptions o;
    o.kernel_size = s.kernel;
    o.stride = s.stride;
    o.padding = s.padding;
    return o;
}

// Random distinct positions of each output plane (a random permutation's prefix), in the
// input's sizes: indices no max_pool would produce, far from their input's position.
at::Tensor distinct_indices(const std::vector<int64_t> &in, int64_t out_plane) {
    const int64_t planes = in[0] * in[1];
    int64_t in_plane = 1;
    for (size_t d = 2; d < in.size(); d++) in_plane *= in[d];
    std::vector<at::Tensor> rows;
    for (int64_t p = 0; p < planes; p++) rows.push_back(torch::randperm(out_plane, at::kLong).slice(0, 0, in_plane));
    return torch::stack(rows).reshape(in);
}

int64_t out_plane_of(const std::vector<int64_t> &in, const MaxUnpoolOptions &o) {
    std::vector<int64_t> sizes;
    if (!hup::max_unpool_output_sizes(in, o, &sizes).ok()) return -1;
    return c10::multiply_integers(sizes.begin() + 2, sizes.end());
}

// Indices no max_pool produces: a random permutation within each plane, scattering inputs
// across the whole output plane, in every layout combination; and indices from an overlapping
// pool (kernel 3, stride 2), where windows share elements.
TEST(MaxUnpoolIndices, NonLocalIndices) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(700);
    Tally tally("max_unpool non-local");
    for (const UnpoolSetting &s : unpool_settings()) {
        const MaxUnpoolOptions o = unpool_options(s);
        const int64_t plane = out_plane_of(s.in, o);
        ASSERT_GT(plane, 0) << describe(s.in, o);
        for (const auto &[in_layout, index_layout, out_layout] : layout_triples()) {
            UnpoolCase c;
            c.values = torch::rand(s.in) * 2 - 1;
            c.indices = distinct_indices(s.in, plane);
            c.options = o;
            c.in_layout = in_layout;
            c.index_layout = index_layout;
            c.out_layouts = {out_layout, Layout::Strided};
            c.what = "permutation";
            tally.add(check_unpool(c));
        }
    }
    // Overlapping pool: kernel 3 stride 2 padding 1, unpooled to the input's size and default.
    for (const std::vector<int64_t> &in : {std::vector<int64_t>{2, 3, 11}, {2, 5, 7, 9}, {1, 4, 5, 6, 7}}) {
        MaxPoolOptions po;
        po.kernel_size = {3};
        po.stride = {2};
        po.padding = {1};
        for (Values values : {Values::Random, Values::Ties}) {
            const at::Tensor x = pool_values(in, values);
            const auto [tv, ti] = hup::torch::reference_max_pool(x, po);
            for (bool sized : {false, true}) {
                UnpoolCase c;
                c.values = tv;
                c.indices = ti;
                c.options.kernel_size = po.kernel_size;
                c.options.stride = po.stride;
                c.options.padding = po.padding;
                if (sized) c.options.output_size.assign(in.begin() + 2, in.end());
                c.what = "k3s2 pool";
                for (Layout layout : kAllLayouts) {
                    c.in_layout = c.index_layout = layout;
                    tally.add(check_unpool(c));
                }
            }
        }
    }
    EXPECT_EQ(tally.failures, 0);
    EXPECT_GT(tally.compared, 60);
}

// Several inputs with one index: the last input element in row-major order (of the logical
// tensor, whatever its memory layout) wins, as hup documents and as PyTorch's serial CPU loop
// does. The oracle is the explicit loop; libtorch's order is formally undefined.
TEST(MaxUnpoolIndices, DuplicatesLastWins) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(710);
    Tally tally("max_unpool duplicates");
    for (const UnpoolSetting &s : unpool_settings()) {
        const MaxUnpoolOptions o = unpool_options(s);
        const int64_t plane = out_plane_of(s.in, o);
        for (const auto &[in_layout, index_layout, out_layout] : layout_triples()) {
            for (int64_t spread : {1, 3}) {  // every input on index 0, or on 3 positions
                UnpoolCase c;
                c.values = torch::rand(s.in) * 2 - 1;  // distinct: the winner shows
                c.indices = torch::randint(0, std::min(spread, plane), s.in, at::kLong);
                c.options = o;
                c.in_layout = in_layout;
                c.index_layout = index_layout;
                c.out_layouts = {out_layout};
                c.torch_too = false;
                c.what = "duplicates (spread " + std::to_string(spread) + ")";
                tally.add(check_unpool(c));
            }
        }
    }
    EXPECT_EQ(tally.failures, 0);
    // Directly: with every index 0, each plane's first output is its last input.
    for (Layout layout : kAllLayouts) {
        const std::vector<int64_t> in = {2, 3, 4, 5};
        const at::Tensor x = torch::rand(in);
        MaxUnpoolOptions o;
        o.kernel_size = {2};
        const at::Tensor out = hup::torch::max_unpool(hup_test::in_layout(x, layout),
                                                      hup_test::in_layout(torch::zeros(in, at::kLong), layout), o);
        EXPECT_TRUE(bits_equal(out.flatten(2).select(2, 0), x.flatten(2).select(2, 19))) << hup_test::layout_name(layout);
        EXPECT_TRUE(torch::equal(out.flatten(2).slice(2, 1), torch::zeros({2, 3, 79})));
    }
}

// Every class of bad index: negative, the plane size, far past the end, 2^31 and more, and
// values that would alias a valid index if truncated to 32 bits ((1 << 32) + 3, -(1 << 32) + 3),
// at the first, a middle or only the last element (last (n, c) plane, last position), in every
// rank and layout: an error Status and the output untouched (the default-size call included).
TEST(MaxUnpoolIndices, BadIndicesAreRefusedAndNothingIsWritten) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(720);
    int checked = 0;
    for (const UnpoolSetting &s : unpool_settings()) {
        const MaxUnpoolOptions o = unpool_options(s);
        const int64_t plane = out_plane_of(s.in, o);
        std::vector<int64_t> out_sizes;
        ASSERT_TRUE(hup::max_unpool_output_sizes(s.in, o, &out_sizes).ok());
        const at::Tensor values = torch::rand(s.in);
        const at::Tensor good = distinct_indices(s.in, plane);
        const int64_t count = good.numel();
        const std::vector<int64_t> bad_values = {-1,
                                                 plane,
                                                 plane + 1,
                                                 plane * 1000 + 7,
                                                 int64_t(1) << 31,
                                                 (int64_t(1) << 31) - 1,
                                                 (int64_t(1) << 32) + 3,
                                                 -(int64_t(1) << 32) + 3,
                                                 (int64_t(1) << 32) + plane - 1,
                                                 std::numeric_limits<int64_t>::max(),
                                                 std::numeric_limits<int64_t>::min()};
        for (int64_t bad : bad_values) {
            for (int64_t position : {int64_t(0), count / 2, count - 1}) {
                at::Tensor indices = good.clone();
                indices.view({-1})[position] = bad;
                for (const auto &[in_layout, index_layout, out_layout] : layout_triples()) {
                    const at::Tensor x = hup_test::in_layout(values, in_layout), ix = hup_test::in_layout(indices, index_layout);
                    const at::Tensor out = make_output(out_sizes, out_layout, at::kFloat);
                    const hup::Status st = hup::torch::max_unpool(x, ix, out, o);
                    const std::string where = describe(s.in, o) + " index " + std::to_string(bad) + " at " + std::to_string(position) +
                                              " " + hup_test::layout_name(in_layout) + "/" + hup_test::layout_name(index_layout) +
                                              " -> " + hup_test::layout_name(out_layout);
                    EXPECT_FALSE(st.ok()) << where;
                    EXPECT_EQ(st.code(), hup::StatusCode::InvalidArgument) << where << ": " << st.message();
                    EXPECT_NE(st.message().find("ind"), std::string::npos) << where << ": " << st.message();
                    EXPECT_TRUE(all_sentinel(out)) << where << ": output written";
                    EXPECT_TRUE(outside_untouched(out)) << where << ": wrote around the output";
                    checked++;
                }
            }
        }
        // libtorch refuses them too (one confirmation per class).
        for (int64_t bad : bad_values) {
            at::Tensor indices = good.clone();
            indices.view({-1})[count - 1] = bad;
            EXPECT_ANY_THROW(hup::torch::reference_max_unpool(values, indices, o)) << bad;
        }
    }
    EXPECT_GT(checked, 1000);
}

// output_size at its limits, per dim: default - stride + 1 .. default + stride - 1 accepted
// (compared with libtorch), default - stride and default + stride refused (with "output_size"
// in the message and nothing written), each given as spatial sizes and as full (N, C, ...)
// sizes. With stride 1 only the default is accepted.
TEST(MaxUnpoolOutputSize, LimitsAcceptedAndRefused) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(730);
    Tally tally("max_unpool output_size");
    int refused = 0;
    for (const UnpoolSetting &s : unpool_settings()) {
        const MaxUnpoolOptions base = unpool_options(s);
        const size_t dims = s.in.size() - 2;
        const std::vector<int64_t> k = per_dim(s.kernel, dims, {}), stride = per_dim(s.stride, dims, k);
        std::vector<int64_t> defaults;
        ASSERT_TRUE(hup::max_unpool_output_sizes(s.in, base, &defaults).ok());
        const std::vector<int64_t> spatial_default(defaults.begin() + 2, defaults.end());
        for (size_t d = 0; d < dims; d++) {
            for (int64_t offset : {-stride[d], -stride[d] + 1, int64_t(0), stride[d] - 1, stride[d]}) {
                std::vector<int64_t> spatial = spatial_default;
                spatial[d] += offset;
                for (bool full : {false, true}) {
                    MaxUnpoolOptions o = base;
                    o.output_size = spatial;
                    if (full) o.output_size.insert(o.output_size.begin(), s.in.begin(), s.in.begin() + 2);
                    std::vector<int64_t> out_sizes(s.in.begin(), s.in.begin() + 2);
                    out_sizes.insert(out_sizes.end(), spatial.begin(), spatial.end());
                    const int64_t plane = c10::multiply_integers(spatial.begin(), spatial.end());
                    const bool accepted = std::abs(offset) < stride[d];
                    if (accepted) {
                        UnpoolCase c;
                        c.values = torch::rand(s.in) * 2 - 1;
                        c.indices = distinct_indices(s.in, plane);
                        c.options = o;
                        c.what = "limits";
                        const Result r = check_unpool(c);
                        EXPECT_FALSE(r.rejected) << describe(s.in, o);
                        tally.add(r);
                        continue;
                    }
                    std::vector<int64_t> sizes = {-7};
                    const hup::Status planned = hup::max_unpool_output_sizes(s.in, o, &sizes);
                    EXPECT_EQ(planned.code(), hup::StatusCode::InvalidArgument) << describe(s.in, o);
                    EXPECT_NE(planned.message().find("output_size"), std::string::npos) << planned.message();
                    EXPECT_EQ(sizes, std::vector<int64_t>{-7}) << "sizes written on error";
                    // The caller allocated the size it asked for; indices valid for it.
                    if (plane <= 0) continue;
                    const at::Tensor out = make_output(out_sizes, Layout::Contiguous, at::kFloat);
                    const at::Tensor indices = torch::randint(0, plane, s.in, at::kLong);
                    const hup::Status st = hup::torch::max_unpool(torch::rand(s.in), indices, out, o);
                    EXPECT_EQ(st.code(), hup::StatusCode::InvalidArgument) << describe(s.in, o) << ": " << st.message();
                    EXPECT_TRUE(all_sentinel(out)) << describe(s.in, o) << ": output written";
                    refused++;
                }
            }
        }
    }
    EXPECT_GT(tally.compared, 40);
    EXPECT_GT(refused, 20);
}

// Fixed-seed random problems: larger sizes, per-dim options, random output_size in range,
// random layouts, indices from a random permutation or from libtorch's pool of a tensor of the
// output's size.
TEST(MaxUnpoolRandom, FixedSeedCases) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(740);
    std::mt19937 rng(741);
    auto pick = [&](int64_t lo, int64_t hi) { return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1)); };
    Tally tally("max_unpool random");
    for (int i = 0; i < 150; i++) {
        const int dims = (int)pick(1, 3);
        UnpoolSetting s;
        s.in = {pick(1, 3), pick(1, 20)};
        std::vector<int64_t> k, st, p;
        for (int d = 0; d < dims; d++) {
            s.in.push_back(pick(1, dims == 3 ? 6 : dims == 2 ? 12 : 30));
            k.push_back(pick(1, 4));
            st.push_back(pick(1, 4));
            p.push_back(pick(0, k.back() / 2));
        }
        const bool per_dim_form = pick(0, 1) == 1;
        s.kernel = option_values(k, -1, per_dim_form);
        s.stride = pick(0, 3) == 0 ? std::vector<int64_t>{} : option_values(st, -1, per_dim_form);
        s.padding = option_values(p, 0, per_dim_form);
        MaxUnpoolOptions o = unpool_options(s);
        const std::vector<int64_t> stride = per_dim(s.stride, dims, k);
        std::vector<int64_t> defaults;
        if (!hup::max_unpool_output_sizes(s.in, o, &defaults).ok()) continue;
        if (pick(0, 1) == 1) {
            for (int d = 0; d < dims; d++) {
                o.output_size.push_back(pick(std::max<int64_t>(1, defaults[2 + d] - stride[d] + 1), defaults[2 + d] + stride[d] - 1));
            }
            if (pick(0, 1) == 1) o.output_size.insert(o.output_size.begin(), s.in.begin(), s.in.begin() + 2);
        }
        std::vector<int64_t> sizes;
        if (!hup::max_unpool_output_sizes(s.in, o, &sizes).ok()) {
            Result r;
            r.failure = describe(s.in, o) + ": an output_size in range is refused";
            tally.add(r);
            continue;
        }
        const int64_t plane = c10::multiply_integers(sizes.begin() + 2, sizes.end());
        if (plane <= 0) continue;
        UnpoolCase c;
        c.values = torch::rand(s.in) * 2 - 1;
        c.options = o;
        c.in_layout = kAllLayouts[pick(0, 2)];
        c.index_layout = kAllLayouts[pick(0, 2)];
        c.out_layouts = {kAllLayouts[pick(0, 2)]};
        c.what = "random";
        const int64_t in_plane = c.values[0][0].numel();
        if (in_plane <= plane) {
            c.indices = distinct_indices(s.in, plane);
        } else {
            c.indices = torch::randint(0, plane, s.in, at::kLong);  // duplicates: the loop decides
            c.torch_too = false;
        }
        tally.add(check_unpool(c));
    }
    EXPECT_GT(tally.compared, 100);
}

// hup::torch::max_unpool(input, indices, options) allocates in the input's memory format.
// Outputs of 32 MiB or more may take the runtime's streaming path (planes produced in a cache-
// sized scratch and copied out with non-temporal stores) or be written in place, whichever
// detail::StreamingChoice measures faster; smaller ones are written in place. Both ways, with
// indices from a pool and with non-local ones, against libtorch, bit-exact.
TEST(MaxUnpoolLarge, StreamedOutputMatchesTorch) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(760);
    MaxPoolOptions po;
    po.kernel_size = {2};
    MaxUnpoolOptions o;
    o.kernel_size = {2};
    const at::Tensor x = torch::rand({2, 65, 256, 256});  // 32.5 MiB
    const auto [tv, ti] = hup::torch::reference_max_pool(x, po);
    // Indices spread over the whole plane (not from a pool).
    const at::Tensor spread = torch::randint(0, 256 * 256, ti.sizes(), at::kLong);
    for (auto mode : {hup::detail::StreamingMode::Always, hup::detail::StreamingMode::Never}) {
        const hup::detail::StreamingOverride path(hup::detail::streaming_bytes, mode);
        EXPECT_TRUE(bits_equal(hup::torch::max_unpool(tv, ti, o), hup::torch::reference_max_unpool(tv, ti, o)));
        EXPECT_TRUE(bits_equal(hup::torch::max_unpool(tv, spread, o), hup::torch::reference_max_unpool(tv, spread, o)));
    }
}

// Planar 2-D and 3-D unpooling with kernel 2, stride 2, no padding and the default output size
// runs as a gather (runtime/pool.cpp, unpool_by_windows) once every index lies in its own
// window; otherwise the check and scatter of any other input. Both ways, in place and
// streamed (with non-temporal stores, where the output's rows and base are aligned; rows
// narrowed from wider ones are not), against libtorch bit-exact: max_pool's indices; one
// moved into a neighbouring window (or a window's other corner); one outside the plane
// (refused, nothing written).
TEST(MaxUnpoolWindows, GatherAndItsFallbacksMatchTorch) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(780);
    MaxPoolOptions po;
    po.kernel_size = {2};
    MaxUnpoolOptions o;
    o.kernel_size = {2};
    int compared = 0;
    for (bool streaming : {false, true}) {
        const hup::detail::StreamingOverride path(0, streaming ? hup::detail::StreamingMode::Always
                                                               : hup::detail::StreamingMode::Never);
        // Even sizes: max_pool's indices are flat in its input's plane, which the default
        // output size matches only then (odd sizes unpool to the input's size: not the gather).
        for (const std::vector<int64_t> &in :
             {std::vector<int64_t>{2, 3, 8, 10}, {1, 1, 2, 2}, {1, 4, 2, 34}, {2, 5, 34, 18},
              {2, 24, 128, 130},
              {2, 3, 6, 32},  // rows of 32 floats: streamed by the non-temporal variant
              {1, 2, 4, 6, 8}, {2, 3, 2, 2, 2}, {1, 1, 2, 4, 34},
              {1, 2, 4, 6, 16},  // 3-D, rows of 16: the non-temporal variant
              {1, 4, 16, 32, 34}}) {
            const at::Tensor x = torch::randn(in);
            const auto [tv, ti] = hup::torch::reference_max_pool(x, po);
            const std::string what = std::string(c10::str(c10::IntArrayRef(in))) + " streaming " + std::to_string(streaming);
            EXPECT_TRUE(bits_equal(hup::torch::max_unpool(tv, ti, o), hup::torch::reference_max_unpool(tv, ti, o))) << what;
            const int64_t last_dim = tv.dim() - 1;
            std::vector<int64_t> out_sizes = tv.sizes().vec();
            for (int64_t d = 2; d < tv.dim(); d++) out_sizes[d] *= 2;
            // Into output rows that are not back to back (a narrowed wider tensor).
            std::vector<int64_t> wide_sizes = out_sizes;
            wide_sizes[last_dim] += 3;
            const at::Tensor wide = torch::full(wide_sizes, 7.0f);
            const at::Tensor rows = wide.narrow(last_dim, 1, out_sizes[last_dim]);
            EXPECT_TRUE(hup::torch::max_unpool(tv, ti, rows, o).ok()) << what;
            EXPECT_TRUE(bits_equal(rows, hup::torch::reference_max_unpool(tv, ti, o))) << what << " strided rows";
            EXPECT_TRUE(wide.narrow(last_dim, 0, 1).eq(7.0f).all().item<bool>()) << what << " strided rows";
            const int64_t width = out_sizes[last_dim], slice = width * out_sizes[last_dim - 1], last = ti.numel() - 1;
            int64_t plane = 1;
            for (int64_t d = 2; d < tv.dim(); d++) plane *= out_sizes[d];
            std::vector<int64_t> shifts = {2, -1, width, 1 - width};  // another window, or corner
            if (tv.dim() == 5) shifts.insert(shifts.end(), {slice, -slice, 2 * slice});
            for (int64_t shift : shifts) {
                at::Tensor moved = ti.clone();
                int64_t &index = moved.view({-1}).data_ptr<int64_t>()[last / 2];
                index = std::clamp<int64_t>(index + shift, 0, plane - 1);
                EXPECT_TRUE(bits_equal(hup::torch::max_unpool(tv, moved, o), hup::torch::reference_max_unpool(tv, moved, o)))
                    << what << " index moved by " << shift;
            }
            at::Tensor outside = ti.clone();
            outside.view({-1})[last] = plane;
            const at::Tensor out = torch::full(out_sizes, 7.0f);
            EXPECT_EQ(hup::torch::max_unpool(tv, outside, out, o).code(), hup::StatusCode::InvalidArgument) << what;
            EXPECT_TRUE(out.eq(7.0f).all().item<bool>()) << what << ": output written";
            compared++;
        }
    }
    EXPECT_EQ(compared, 22);
}

// The streaming variants' narrower objects (tests/target_dispatch.h): their AVX2 and SSE4.1
// code, like the AVX-512 code, comes from Halide's IR with the stores marked non-temporal
// and compiled by llc (cmake/HupKernels.cmake), so each runs here against libtorch,
// bit-exact, on outputs whose rows are aligned, with a row's last vector a masked one too:
// max_unpool's gather, max_pool's 2x2 interior (2-D), and pixel_shuffle and unshuffle (whose
// shuffle stores are wider than a line: the build splits them into aligned ones).
void check_streaming_without(hup_test::Without without) {
    if (std::getenv("HUP_TEST_DEVICE")) GTEST_SKIP() << "CPU dispatch test";
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(790);
    const hup_test::TargetDispatch dispatch(without);
    const hup::detail::StreamingOverride streamed(0, hup::detail::StreamingMode::Always);
    MaxPoolOptions po;
    po.kernel_size = {2};
    MaxUnpoolOptions o;
    o.kernel_size = {2};
    for (const std::vector<int64_t> &in :
         {std::vector<int64_t>{2, 3, 6, 32}, {1, 2, 10, 48}, {1, 2, 10, 64}, {1, 2, 4, 6, 16}}) {
        const at::Tensor x = torch::randn(in);
        const auto [tv, ti] = hup::torch::reference_max_pool(x, po);
        EXPECT_TRUE(bits_equal(hup::torch::max_unpool(tv, ti, o), hup::torch::reference_max_unpool(tv, ti, o)))
            << c10::IntArrayRef(in);
        if (in.size() == 4) {
            const auto [v, i] = hup::torch::max_pool(x, po);
            EXPECT_TRUE(bits_equal(v, tv) && bits_equal(i, ti)) << c10::IntArrayRef(in) << " max_pool";
        }
    }
    for (const std::vector<int64_t> &in : {std::vector<int64_t>{1, 8, 4, 32}, {2, 4, 3, 40}}) {
        const at::Tensor x = torch::randn(in);
        const at::Tensor shuffled = at::pixel_shuffle(x, 2);
        EXPECT_TRUE(bits_equal(hup::torch::pixel_shuffle(x, 2), shuffled)) << c10::IntArrayRef(in) << " pixel_shuffle";
        EXPECT_TRUE(bits_equal(hup::torch::pixel_unshuffle(shuffled, 2), x)) << c10::IntArrayRef(in) << " pixel_unshuffle";
    }
    if (hup_test::TargetDispatch::refusals() == 0) GTEST_SKIP() << "the dispatch chose before this test: run it alone";
}

TEST(PoolFallbackTarget, Sse41StreamsLikeTorch) { check_streaming_without(hup_test::Without::Avx); }
TEST(PoolFallbackTarget, Avx2StreamsLikeTorch) { check_streaming_without(hup_test::Without::Avx512); }

// max_pool options and the max_unpool options that undo them, back to the input's size.
static std::pair<MaxPoolOptions, MaxUnpoolOptions> round_trip_options(const std::vector<int64_t> &in, int64_t kernel,
                                                                      int64_t stride, int64_t padding) {
    MaxPoolOptions pool;
    pool.kernel_size = {kernel};
    pool.stride = {stride};
    pool.padding = {padding};
    MaxUnpoolOptions unpool;
    unpool.kernel_size = pool.kernel_size;
    unpool.stride = pool.stride;
    unpool.padding = pool.padding;
    unpool.output_size.assign(in.begin() + 2, in.end());
    return {pool, unpool};
}

// max_unpool's streaming path (planes produced a few at a time in a scratch, copied out with
// non-temporal stores) on small problems, with the threshold lowered to 0 for this test, after
// pooling (whose large-output threshold, if it ever gets one, this covers too).
TEST(PoolStreaming, SmallProblemsMatchTorch) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(770);
    const hup::detail::StreamingOverride streamed(0, hup::detail::StreamingMode::Always);
    for (const std::vector<int64_t> &in : {std::vector<int64_t>{2, 3, 9, 10}, {1, 5, 4, 6, 7}, {2, 4, 11}, {1, 3, 40, 37}}) {
        for (const auto &[k, stride, pad] : {std::tuple<int64_t, int64_t, int64_t>{2, 2, 0}, {3, 2, 1}, {3, 1, 1}}) {
            const auto [po, o] = round_trip_options(in, k, stride, pad);
            const at::Tensor x = torch::rand(in);
            const auto [v, i] = hup::torch::max_pool(x, po);
            const auto [tv, ti] = hup::torch::reference_max_pool(x, po);
            EXPECT_TRUE(bits_equal(v, tv)) << c10::IntArrayRef(in) << " k" << k << " s" << stride << " p" << pad;
            EXPECT_TRUE(bits_equal(i, ti)) << c10::IntArrayRef(in) << " k" << k << " s" << stride << " p" << pad;
            std::vector<int64_t> unpooled;
            if (!hup::max_unpool_output_sizes(tv.sizes().vec(), o, &unpooled).ok()) continue;  // out of range
            EXPECT_TRUE(bits_equal(hup::torch::max_unpool(tv, ti, o), hup::torch::reference_max_unpool(tv, ti, o)));
        }
    }
}

// Planes larger than a task's cache-sized chunk go through the streaming path in slabs of
// outermost slices (runtime/pool.cpp, UnpoolSlabs) when every index lands in its slab's range:
// max_pool's with kernel <= stride do; overlapping windows, padding at the slab edges and
// indices spread over the plane (slabs refused, the whole plane at once) are checked too.
TEST(PoolStreaming, LargePlanesInSlabs) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(771);
    const hup::detail::StreamingOverride streamed(0, hup::detail::StreamingMode::Always);
    for (const std::vector<int64_t> &in : {std::vector<int64_t>{1, 2, 300, 260}, {2, 1, 8, 96, 97}, {1, 2, 5, 120, 130}}) {
        for (const auto &[k, stride, pad] :
             {std::tuple<int64_t, int64_t, int64_t>{2, 2, 0}, {2, 2, 1}, {3, 3, 1}, {3, 2, 1}, {1, 2, 0}}) {
            const auto [po, o] = round_trip_options(in, k, stride, pad);
            const at::Tensor x = torch::rand(in);
            const auto [tv, ti] = hup::torch::reference_max_pool(x, po);
            std::vector<int64_t> unpooled;
            if (!hup::max_unpool_output_sizes(tv.sizes().vec(), o, &unpooled).ok()) continue;  // out of range
            const std::string what = c10::str(c10::IntArrayRef(in), " k", k, " s", stride, " p", pad);
            EXPECT_TRUE(bits_equal(hup::torch::max_unpool(tv, ti, o), hup::torch::reference_max_unpool(tv, ti, o))) << what;
            int64_t plane = 1;
            for (size_t d = 2; d < in.size(); d++) plane *= in[d];
            const at::Tensor spread = torch::randint(0, plane, ti.sizes(), at::kLong);
            EXPECT_TRUE(bits_equal(hup::torch::max_unpool(tv, spread, o), hup::torch::reference_max_unpool(tv, spread, o)))
                << what << " spread";
            // The last slice's inputs all on the plane's first element: one slab's index lands
            // in another's range (and repeats there: the last input wins).
            at::Tensor moved = ti.clone();
            moved.select(2, moved.size(2) - 1).fill_(0);
            EXPECT_TRUE(bits_equal(hup::torch::max_unpool(tv, moved, o), hup::torch::reference_max_unpool(tv, moved, o)))
                << what << " moved";
            // An index outside the plane in the last slab: refused, nothing written, as on
            // every other path (the slab scan reports it).
            at::Tensor bad = ti.clone();
            bad.view({-1})[bad.numel() - 1] = plane;
            const at::Tensor out = torch::full(unpooled, 7.0f);
            const hup::Status st = hup::torch::max_unpool(tv, bad, out, o);
            EXPECT_EQ(st.code(), hup::StatusCode::InvalidArgument) << what << ": " << st.message();
            EXPECT_TRUE(out.eq(7.0f).all().item<bool>()) << what << ": output written";
        }
    }
}

TEST(MaxUnpoolTorchAdaptor, Allocates) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(750);
    MaxPoolOptions po;
    po.kernel_size = {2};
    MaxUnpoolOptions o;
    o.kernel_size = {2};
    for (Layout layout : {Layout::Contiguous, Layout::ChannelsLast}) {
        const at::Tensor x = hup_test::in_layout(torch::rand({2, 6, 8, 10}), layout);
        const auto [v, i] = hup::torch::max_pool(x, po);
        const at::Tensor out = hup::torch::max_unpool(v, i, o);
        const auto [tv, ti] = hup::torch::reference_max_pool(x.contiguous(), po);
        EXPECT_TRUE(bits_equal(out, hup::torch::reference_max_unpool(tv, ti, o)));
        EXPECT_TRUE(out.is_contiguous(x.suggest_memory_format()));
        // The maxima are back at their places, zeros elsewhere.
        EXPECT_TRUE(bits_equal(torch::where(out != 0, x, torch::zeros({})), out));
    }
    o.output_size = {100, 100};
    EXPECT_THROW(hup::torch::max_unpool(torch::rand({2, 6, 4, 5}), torch::zeros({2, 6, 4, 5}, at::kLong), o), std::invalid_argument);
}

}  // namespace
