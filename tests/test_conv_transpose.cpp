// Differential tests: hup::conv_transpose against at::conv_transpose{1,2,3}d (libtorch 1.13),
// computed in this process on the same tensors.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <random>
#include <sstream>

#include "target_dispatch.h"
#include "torch_oracle.h"

using hup::ConvTransposeOptions;
using hup_test::Layout;

namespace {

// Tolerance. Every output is a sum of products x*w plus the bias, which hup adds in another
// order than ATen (hup per phase, over input channels then taps, in vectors with fused
// multiply-adds; ATen through a GEMM and col2im, or oneDNN). Reordering a float sum moves it
// by the roundings of its partial sums, each at most FLT_EPSILON/2 of that partial sum, and
// no partial sum exceeds the element's magnitude sum |x*w| + |b|. So the bound is relative to
// that magnitude, per element, which libtorch itself gives as conv_transpose(|x|, |w|, |b|):
// unlike a bound relative to |output| it does not blow up where the terms cancel, and unlike
// one relative to max|x| it scales with the number of terms. The roundings have random signs,
// so the two results differ by a few epsilons of the magnitude at most (2.8 measured over
// every case here); 8 leaves headroom. A missing, extra or misplaced term costs on average
// magnitude / terms, thousands of epsilons even for the largest sums here (24 channels x 64
// taps), so the bound cannot hide a wrong tap.
constexpr double kMagnitudeEps = 8;

// libtorch's OpenMP workers spin for a while after each parallel region. On a small machine
// they then compete for the cores with Halide's thread pool, and a hup call right after an ATen
// call runs many times slower (the 3-D sweep took 0.6 s or, varying from run to run, up to
// 15 s on 2 cores). At these sizes the oracle loses nothing by running on one thread, so every
// test here does, and puts libtorch's setting back afterwards for the other suites.
class SingleThreadedOracle {
public:
    SingleThreadedOracle() : threads_(at::get_num_threads()) { at::set_num_threads(1); }
    ~SingleThreadedOracle() { at::set_num_threads(threads_); }

private:
    int threads_;
};

// Channels: in, out, groups. Dense, grouped and depthwise (groups == C_in == C_out) problems.
struct Channels {
    int64_t in, out, groups;
};

enum class Grouping { Dense, Grouped, Depthwise };

const char *grouping_name(Grouping g) {
    switch (g) {
        case Grouping::Dense: return "dense";
        case Grouping::Grouped: return "grouped";
        case Grouping::Depthwise: return "depthwise";
    }
    return "?";
}

void PrintTo(Grouping g, std::ostream *os) { *os << grouping_name(g); }  // for gtest's messages

// hup's kernels tile 8-lane vectors into blocks of 16 channels (24 for short rows); the
// counts are below and above those, and mostly not multiples of 8, so tails run. Grouped
// includes a channel multiplier (groups == C_in, C_out = 2 * C_in), which is not hup's
// depthwise kernel.
std::vector<Channels> channel_configs(Grouping g) {
    switch (g) {
        case Grouping::Dense: return {{3, 5, 1}, {24, 40, 1}, {1, 17, 1}};
        case Grouping::Grouped: return {{6, 10, 2}, {48, 34, 2}, {3, 6, 3}};
        case Grouping::Depthwise: return {{5, 5, 5}, {40, 40, 40}, {17, 17, 17}};
    }
    return {};
}

const std::vector<Layout> kLayouts = {Layout::Contiguous, Layout::ChannelsLast, Layout::Strided};

// hup_test::make_tensor, plus channels_last for 3-D tensors, for which PyTorch has no memory
// format: (N, W, C) memory seen as (N, C, W), so that channels have unit stride and hup's 1-D
// channels_last kernels run.
at::Tensor make(const std::vector<int64_t> &sizes, Layout layout, bool random = true) {
    if (layout == Layout::ChannelsLast && sizes.size() == 3) {
        const std::vector<int64_t> nwc = {sizes[0], sizes[2], sizes[1]};
        return (random ? torch::rand(nwc) * 2 - 1 : torch::zeros(nwc)).permute({0, 2, 1});
    }
    return hup_test::make_tensor(sizes, layout, random);
}

// A bias of `channels` values; strided means every other element of a longer tensor.
at::Tensor make_bias(int64_t channels, Layout layout) {
    if (layout == Layout::Strided) return (torch::rand({2 * channels}) * 2 - 1).slice(0, 0, c10::nullopt, 2);
    return torch::rand({channels}) * 2 - 1;
}

// All the memory under a (possibly strided) view, flat.
at::Tensor storage_of(const at::Tensor &t) {
    return torch::from_blob(t.storage().data(), {(int64_t)(t.storage().nbytes() / sizeof(float))}, torch::kFloat);
}

// Worst |actual - expected| over the elements, in units of FLT_EPSILON * magnitude; NaN when
// `actual` has a NaN (an element hup never wrote: outputs start as NaN), so that
// `!(eps <= bound)` fails it.
double magnitude_eps(const at::Tensor &actual, const at::Tensor &expected, const at::Tensor &magnitude) {
    if (actual.numel() == 0) return 0;
    if (actual.isnan().any().item<bool>()) return NAN;
    return ((actual - expected).abs() / (magnitude * FLT_EPSILON + 1e-30)).max().item<double>();
}

// One problem and the layouts to run it in; every output layout gets the same input.
struct Case {
    std::vector<int64_t> in, weight;  // (N, C_in, spatial...), (C_in, C_out / groups, k...)
    ConvTransposeOptions options;
    bool bias = false;
    Layout in_layout = Layout::Contiguous, weight_layout = Layout::Contiguous;
    std::vector<Layout> out_layouts = kLayouts;
    // Whether libtorch must confirm a rejection by hup. libtorch 1.13 symbolises a backtrace
    // for every exception it throws (several ms each), so the sweep, with thousands of invalid
    // combinations, confirms each combination once rather than in every rank.
    bool confirm_rejection = true;
};

std::string describe(const Case &c) {
    std::ostringstream s;
    const ConvTransposeOptions &o = c.options;
    s << "in=" << c10::IntArrayRef(c.in) << " " << hup_test::layout_name(c.in_layout) << " weight=" << c10::IntArrayRef(c.weight)
      << " " << hup_test::layout_name(c.weight_layout) << (c.bias ? " bias" : "") << " groups=" << o.groups;
    for (auto [name, v] : {std::pair<const char *, const std::vector<int64_t> *>{"stride", &o.stride}, {"padding", &o.padding},
                           {"output_padding", &o.output_padding}, {"dilation", &o.dilation}, {"output_size", &o.output_size}}) {
        if (!v->empty()) s << " " << name << "=" << c10::IntArrayRef(*v);
    }
    return s.str();
}

// Each output element's magnitude sum |x*w| + |b|, for the tolerance.
at::Tensor reference_magnitude(const at::Tensor &x, const at::Tensor &w, const at::Tensor &b, const ConvTransposeOptions &o) {
    return hup::torch::reference_conv_transpose(x.abs(), w.abs(), b.defined() ? b.abs() : b, o);
}

// Has `write` (hup) fill an output of `layout` that starts as NaN, and checks it against
// libtorch's `expected`: within kMagnitudeEps everywhere (so written everywhere), and nothing
// written around the view. Returns the failure, or "" and raises *worst_eps.
template <typename Write>
std::string check_output(Write &&write, Layout layout, const at::Tensor &expected, const at::Tensor &magnitude, double *worst_eps) {
    at::Tensor out = make(expected.sizes().vec(), layout, /*random=*/false);
    if (out.numel() > 0) storage_of(out).fill_(NAN);
    const hup::Status s = write(out);
    if (!s.ok()) return s.message();
    const double eps = magnitude_eps(out, expected, magnitude);
    if (!(eps <= kMagnitudeEps)) {
        return std::to_string(eps) + " epsilons of the magnitude from libtorch, max |diff| " +
               std::to_string((out - expected).abs().max().item<double>());
    }
    *worst_eps = std::max(*worst_eps, eps);
    if (out.numel() > 0) {
        // Clear the view: what stays NaN is the memory around it, which hup must not touch.
        const at::Tensor storage = storage_of(out);
        out.zero_();
        if (storage.isnan().sum().item<int64_t>() != storage.numel() - out.numel()) return "wrote outside the output view";
    }
    return "";
}

using hup_test::first_line;
using hup_test::Result;
using hup_test::Tally;

// Runs one case through hup and libtorch. They must agree on whether the problem is valid, on
// the output sizes and, within kMagnitudeEps, on every element; hup must write every output
// element and nothing else in the output's memory.
Result check_case(const Case &c) {
    Result r;
    const at::Tensor x = make(c.in, c.in_layout), w = make(c.weight, c.weight_layout);
    const int64_t out_channels = c.weight[1] * c.options.groups;
    const at::Tensor b = c.bias && out_channels > 0 ? make_bias(out_channels, c.weight_layout) : at::Tensor();
    std::vector<int64_t> sizes;
    const hup::Status planned = hup::conv_transpose_output_sizes(c.in, c.weight, c.options, &sizes);
    // reference_conv_transpose turns output_size into output_padding after hup's checks: an
    // output_size that hup rejects has nothing to ask libtorch (ConvTransposeOutputSize covers it).
    if (!planned.ok() && (!c.confirm_rejection || !c.options.output_size.empty())) {
        r.rejected = true;
        return r;
    }
    at::Tensor expected;
    std::string torch_error;
    try {
        expected = hup::torch::reference_conv_transpose(x, w, b, c.options);
    } catch (const std::exception &e) {
        torch_error = first_line(e.what());
    }
    if (hup_test::settled_by_rejection(describe(c), planned, torch_error, &r)) return r;
    if (sizes != expected.sizes().vec()) {
        r.failure = describe(c) + ": output sizes " + c10::str(c10::IntArrayRef(sizes)) + " vs libtorch " + c10::str(expected.sizes());
        return r;
    }
    const at::Tensor magnitude = reference_magnitude(x, w, b, c.options);
    for (Layout out_layout : c.out_layouts) {
        const std::string failure = check_output(
            [&](const at::Tensor &out) { return hup::torch::conv_transpose(x, w, b, out, c.options); }, out_layout, expected,
            magnitude, &r.eps);
        if (!failure.empty()) {
            r.failure = describe(c) + " -> " + hup_test::layout_name(out_layout) + ": " + failure;
            return r;
        }
    }
    return r;
}


// One option's value per spatial dim as the options vector: empty when every dim has PyTorch's
// default, one value when all dims agree (unless `per_dim`), else one per dim.
std::vector<int64_t> option_values(const std::vector<int64_t> &dims, int64_t fallback, bool per_dim) {
    const bool uniform = std::all_of(dims.begin(), dims.end(), [&](int64_t v) { return v == dims[0]; });
    if (per_dim || !uniform) return dims;
    if (dims[0] == fallback) return {};
    return {dims[0]};
}

// Per-dim choices of one problem, assembled into a Case.
struct DimChoice {
    int64_t in, kernel, stride, padding, output_padding, dilation;
};

Case make_case(int64_t batch, const Channels &ch, const std::vector<DimChoice> &dims, bool per_dim_form) {
    Case c;
    c.in = {batch, ch.in};
    c.weight = {ch.in, ch.out / ch.groups};
    std::vector<int64_t> stride, padding, output_padding, dilation;
    for (const DimChoice &d : dims) {
        c.in.push_back(d.in);
        c.weight.push_back(d.kernel);
        stride.push_back(d.stride);
        padding.push_back(d.padding);
        output_padding.push_back(d.output_padding);
        dilation.push_back(d.dilation);
    }
    c.options.groups = ch.groups;
    c.options.stride = option_values(stride, 1, per_dim_form);
    c.options.padding = option_values(padding, 0, per_dim_form);
    c.options.output_padding = option_values(output_padding, 0, per_dim_form);
    c.options.dilation = option_values(dilation, 1, per_dim_form);
    return c;
}

std::vector<std::vector<int64_t>> spatial_shapes(int dims) {
    switch (dims) {
        case 1: return {{1}, {2}, {3}, {5}, {7}};  // every size that 2-D and 3-D use
        case 2: return {{1, 1}, {2, 5}, {7, 3}};
        default: return {{1, 1, 1}, {2, 3, 2}, {5, 1, 3}};
    }
}

// ---- The sweep: every stride, dilation, output_padding, padding and kernel size -------------

class ConvTransposeSweep : public ::testing::TestWithParam<std::tuple<int, Grouping>> {};

// Stride 1..3, dilation 1..2, output_padding 0..max(stride, dilation) (the last one invalid,
// which both must reject; values in [stride, dilation) are valid), padding 0..2 (some giving
// sizes below 1, which both must reject), kernel 1..4, on inputs of size 1, 2 and odd sizes.
// In 2-D and 3-D each point runs once with the same values in every dim, given as one value
// (or left empty at PyTorch's default), and once with the values rotated across the dims and
// given per dim. Channels, bias and layouts are drawn per point from a fixed-seed generator,
// decorrelated from the grid; every output layout runs.
// Validity is decided per dim (each dim's output size and output_padding rule) and does not
// depend on the channels here, so the dense 1-D sweep, which has every per-dim combination of
// 2-D and 3-D, confirms each of hup's rejections with libtorch; the others skip what hup
// rejects (ConvTransposeRandom confirms its rejections in every rank).
TEST_P(ConvTransposeSweep, MatchesTorch) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(5);
    const auto [dims, grouping] = GetParam();
    const std::vector<Channels> channels = channel_configs(grouping);
    std::mt19937 rng(17 + dims);
    auto pick = [&](size_t n) { return (size_t)(rng() % n); };
    Tally tally("cases", kMagnitudeEps);
    for (const std::vector<int64_t> &shape : spatial_shapes(dims)) {
        for (int64_t stride = 1; stride <= 3; stride++) {
            for (int64_t dilation = 1; dilation <= 2; dilation++) {
                for (int64_t op = 0; op <= std::max(stride, dilation); op++) {
                    for (int64_t padding = 0; padding <= 2; padding++) {
                        for (int64_t kernel = 1; kernel <= 4; kernel++) {
                            for (bool rotated : dims == 1 ? std::vector<bool>{false} : std::vector<bool>{false, true}) {
                                std::vector<DimChoice> choice;
                                for (int d = 0; d < dims; d++) {
                                    const int r = rotated ? d : 0;  // dim 0 keeps the grid's values
                                    DimChoice c{shape[d], (kernel - 1 + r) % 4 + 1, (stride - 1 + r) % 3 + 1,
                                                (padding + r) % 3, op, (dilation - 1 + r) % 2 + 1};
                                    // Other dims stay valid: only dim 0 tries the invalid output_padding.
                                    if (d > 0) c.output_padding = std::min(op, std::max(c.stride, c.dilation) - 1);
                                    choice.push_back(c);
                                }
                                Case c = make_case(2, channels[pick(channels.size())], choice, rotated);
                                c.bias = pick(2) == 1;
                                c.in_layout = kLayouts[pick(3)];
                                c.weight_layout = kLayouts[pick(3)];
                                c.confirm_rejection = dims == 1 && grouping == Grouping::Dense;
                                tally.add(check_case(c));
                            }
                        }
                    }
                }
            }
        }
    }
    EXPECT_GT(tally.compared, 300);
    EXPECT_GT(tally.rejected, 50);
    if (dims == 1 && grouping == Grouping::Dense) EXPECT_EQ(tally.confirmed, tally.rejected);
}

INSTANTIATE_TEST_SUITE_P(
    AllRanks, ConvTransposeSweep,
    ::testing::Combine(::testing::Values(1, 2, 3), ::testing::Values(Grouping::Dense, Grouping::Grouped, Grouping::Depthwise)),
    [](const ::testing::TestParamInfo<std::tuple<int, Grouping>> &info) {
        return std::to_string(std::get<0>(info.param)) + "d_" + grouping_name(std::get<1>(info.param));
    });

// ---- Layouts: every pair of input and output layout, with contiguous and strided weights ----

class ConvTransposeLayouts : public ::testing::TestWithParam<std::tuple<int, Layout, Layout>> {};

TEST_P(ConvTransposeLayouts, MatchesTorch) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(9);
    const auto [dims, in_layout, out_layout] = GetParam();
    // (stride, padding, output_padding, dilation, kernel, channels)
    struct Setting {
        int64_t stride, padding, output_padding, dilation, kernel;
        Channels channels;
    };
    const std::vector<Setting> settings = {
        {2, 1, 1, 1, 3, {24, 40, 1}}, {2, 1, 0, 1, 4, {40, 40, 40}}, {1, 0, 1, 2, 2, {6, 10, 2}},
        {3, 2, 2, 1, 4, {5, 3, 1}},   {1, 0, 0, 1, 1, {1, 1, 1}},    {2, 0, 0, 2, 3, {1, 9, 1}}};
    const std::vector<int64_t> shape = spatial_shapes(dims).back();
    Tally tally("cases", kMagnitudeEps);
    for (const Setting &s : settings) {
        for (Layout weight_layout : {Layout::Contiguous, Layout::Strided}) {
            std::vector<DimChoice> choice;
            for (int d = 0; d < dims; d++) choice.push_back({shape[d], s.kernel, s.stride, s.padding, s.output_padding, s.dilation});
            Case c = make_case(2, s.channels, choice, false);
            c.bias = weight_layout == Layout::Strided || s.channels.groups > 1;
            c.in_layout = in_layout;
            c.weight_layout = weight_layout;
            c.out_layouts = {out_layout};
            tally.add(check_case(c));
        }
    }
    EXPECT_EQ(tally.compared, (int)settings.size() * 2);
}

INSTANTIATE_TEST_SUITE_P(AllPairs, ConvTransposeLayouts,
                         ::testing::Combine(::testing::Values(1, 2, 3), ::testing::ValuesIn(kLayouts), ::testing::ValuesIn(kLayouts)),
                         [](const ::testing::TestParamInfo<std::tuple<int, Layout, Layout>> &info) {
                             return std::to_string(std::get<0>(info.param)) + "d_" +
                                    hup_test::layout_name(std::get<1>(info.param)) + "_to_" +
                                    hup_test::layout_name(std::get<2>(info.param));
                         });

// ---- output_size ---------------------------------------------------------------------------

// Every output_size in [min, min + stride - 1] (per dim, all combinations; spatial and full
// forms) matches libtorch with output_padding = output_size - min, as nn.ConvTranspose*d sets
// it; min - 1 and min + stride in any one dim are rejected, whatever output_padding says, and
// nothing is written. The range depends on the stride only, also where dilation > stride
// would allow a larger output_padding.
TEST(ConvTransposeOutputSize, WholeRangeMatchesEndsRejected) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(13);
    struct Setting {
        std::vector<int64_t> in, weight;
        ConvTransposeOptions options;
    };
    auto opts = [](std::vector<int64_t> stride, std::vector<int64_t> padding, std::vector<int64_t> dilation, int64_t groups,
                   std::vector<int64_t> output_padding = {}) {
        ConvTransposeOptions o;
        o.stride = std::move(stride);
        o.padding = std::move(padding);
        o.dilation = std::move(dilation);
        o.groups = groups;
        o.output_padding = std::move(output_padding);
        return o;
    };
    const std::vector<Setting> settings = {
        {{2, 3, 5}, {3, 5, 3}, opts({3}, {1}, {2}, 1)},
        {{2, 3, 6}, {3, 2, 4}, opts({1}, {0}, {3}, 1)},  // stride 1: the range is min only
        {{2, 6, 4, 3}, {6, 5, 4, 3}, opts({2, 3}, {1, 0}, {1, 2}, 2)},
        {{2, 4, 4, 1}, {4, 1, 3, 2}, opts({4}, {1, 0}, {}, 4, {1})},  // output_padding is overridden
        {{2, 4, 2, 3, 2}, {4, 3, 3, 2, 3}, opts({2, 1, 3}, {0, 1, 1}, {1}, 1)}};
    Tally tally("cases", kMagnitudeEps);
    for (const Setting &s : settings) {
        const int dims = (int)s.in.size() - 2;
        ConvTransposeOptions base = s.options;
        base.output_padding.clear();
        std::vector<int64_t> min_sizes, max_sizes, stride(dims);
        ASSERT_TRUE(hup::conv_transpose_output_sizes(s.in, s.weight, base, &min_sizes).ok());
        for (int d = 0; d < dims; d++) stride[d] = s.options.stride.size() == 1 ? s.options.stride[0] : s.options.stride[d];
        Case c{s.in, s.weight, s.options, /*bias=*/true};
        auto run = [&](std::vector<int64_t> spatial, bool full) {
            c.options.output_size = spatial;
            if (full) c.options.output_size.insert(c.options.output_size.begin(), min_sizes.begin(), min_sizes.begin() + 2);
            return check_case(c);
        };
        // Every valid size: odometer over the offsets from min.
        std::vector<int64_t> offset(dims, 0);
        do {
            std::vector<int64_t> spatial(dims);
            for (int d = 0; d < dims; d++) spatial[d] = min_sizes[2 + d] + offset[d];
            for (bool full : {false, true}) {
                const Result r = run(spatial, full);
                EXPECT_FALSE(r.rejected) << describe(c) << " was rejected";
                tally.add(r);
            }
            int d = dims - 1;
            while (d >= 0 && ++offset[d] == stride[d]) offset[d--] = 0;
            if (d < 0) break;
        } while (true);
        // Just outside the range, one dim at a time.
        for (int d = 0; d < dims; d++) {
            for (int64_t bad : {min_sizes[2 + d] - 1, min_sizes[2 + d] + stride[d]}) {
                std::vector<int64_t> spatial(min_sizes.begin() + 2, min_sizes.end());
                spatial[d] = bad;
                for (bool full : {false, true}) {
                    c.options.output_size = spatial;
                    if (full) c.options.output_size.insert(c.options.output_size.begin(), min_sizes.begin(), min_sizes.begin() + 2);
                    std::vector<int64_t> sizes;
                    const hup::Status planned = hup::conv_transpose_output_sizes(s.in, s.weight, c.options, &sizes);
                    EXPECT_EQ(planned.code(), hup::StatusCode::InvalidArgument) << describe(c);
                    EXPECT_NE(planned.message().find("output_size"), std::string::npos) << planned.message();
                    // The caller allocated the size it asked for.
                    std::vector<int64_t> out_sizes(min_sizes.begin(), min_sizes.begin() + 2);
                    out_sizes.insert(out_sizes.end(), spatial.begin(), spatial.end());
                    const at::Tensor out = torch::full(out_sizes, 12345.f);
                    const hup::Status status = hup::torch::conv_transpose(make(s.in, Layout::Contiguous),
                                                                          make(s.weight, Layout::Contiguous), at::Tensor(), out, c.options);
                    EXPECT_EQ(status.code(), hup::StatusCode::InvalidArgument) << describe(c);
                    EXPECT_TRUE((out == 12345.f).all().item<bool>()) << describe(c) << ": output written";
                }
            }
        }
    }
    EXPECT_GT(tally.compared, 40);
}

// ---- Random problems ---------------------------------------------------------------------------

// Fixed-seed random problems over every rank and option, with per-dim values, output_size,
// random layouts and larger strides and dilations than the sweep.
TEST(ConvTransposeRandom, FixedSeedCases) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(21);
    std::mt19937 rng(4242);
    auto pick = [&](int64_t lo, int64_t hi) { return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1)); };  // [lo, hi]
    Tally tally("cases", kMagnitudeEps);
    for (int i = 0; i < 500; i++) {
        const int dims = (int)pick(1, 3);
        const int64_t groups = pick(1, 3) == 1 ? pick(1, 6) : 1;
        const int64_t cig = pick(0, 4) == 0 ? 1 : pick(1, dims == 3 ? 6 : 20);
        const int64_t cog = pick(0, 4) == 0 ? 1 : pick(1, dims == 3 ? 6 : 20);
        std::vector<DimChoice> choice;
        for (int d = 0; d < dims; d++) {
            DimChoice c;
            c.in = pick(1, dims == 3 ? 4 : dims == 2 ? 8 : 24);
            c.kernel = pick(1, dims == 3 ? 3 : 5);
            c.stride = pick(1, 4);
            c.dilation = pick(1, 3);
            c.padding = pick(0, 3);
            c.output_padding = pick(0, std::max(c.stride, c.dilation) - 1);
            choice.push_back(c);
        }
        Case c = make_case(pick(1, 2), {cig * groups, cog * groups, groups}, choice, pick(0, 1) == 1);
        c.bias = pick(0, 1) == 1;
        c.in_layout = kLayouts[pick(0, 2)];
        c.weight_layout = kLayouts[pick(0, 2)];
        c.out_layouts = {kLayouts[pick(0, 2)]};
        if (pick(0, 3) == 0) {  // output_size instead of output_padding, anywhere in its range
            c.options.output_padding.clear();
            std::vector<int64_t> min_sizes;
            if (hup::conv_transpose_output_sizes(c.in, c.weight, c.options, &min_sizes).ok()) {
                for (int d = 0; d < dims; d++) c.options.output_size.push_back(min_sizes[2 + d] + pick(0, choice[d].stride - 1));
            }
        }
        tally.add(check_case(c));
    }
    EXPECT_GT(tally.compared, 350);
}

// ---- Common layers, larger: full register tiles, tails and several parallel tasks -------------

struct Layer {
    std::vector<int64_t> in, weight;
    int64_t stride, padding, output_padding, groups;
};

std::vector<Layer> typical_layers() {
    return {
        {{2, 24, 33}, {24, 40, 16}, 8, 4, 0, 1},             // 1-D upsampler, kernel 16 stride 8
        {{2, 5, 70}, {5, 3, 16}, 8, 4, 3, 1},                // ... few channels, long rows
        {{2, 40, 9, 11}, {40, 24, 4, 4}, 2, 1, 0, 1},        // DCGAN: kernel 4 stride 2
        {{2, 24, 13, 8}, {24, 17, 2, 2}, 2, 0, 0, 1},        // kernel 2 stride 2 (U-Net)
        {{2, 17, 10, 12}, {17, 40, 3, 3}, 2, 1, 1, 1},       // kernel 3 stride 2 output_padding 1
        {{2, 24, 12, 12}, {24, 24, 3, 3}, 1, 1, 0, 1},       // kernel 3 stride 1
        {{2, 40, 12, 9}, {40, 1, 4, 4}, 2, 1, 0, 40},        // depthwise
        {{2, 32, 7, 9}, {32, 8, 3, 3}, 2, 1, 1, 4},          // grouped
        {{2, 24, 4, 5, 6}, {24, 17, 2, 2, 2}, 2, 0, 0, 1},   // 3-D kernel 2 stride 2
        {{1, 17, 6, 5, 4}, {17, 9, 3, 3, 3}, 1, 1, 0, 1},    // 3-D kernel 3 stride 1
        {{2, 8, 5, 4, 3}, {8, 16, 3, 3, 3}, 2, 1, 1, 1},     // 3-D kernel 3 stride 2
        // DCGAN's first layers: many input channels (more than one 64-channel block of the
        // sum) and short rows of 4 or 8 outputs per phase, in tiles of 24 channels (16 for 32).
        {{2, 150, 1, 1}, {150, 40, 4, 4}, 1, 0, 0, 1},      // 1x1 -> 4x4
        {{2, 200, 4, 4}, {200, 24, 4, 4}, 2, 1, 0, 1},      // 4x4 -> 8x8
        {{2, 150, 4, 4}, {150, 32, 4, 4}, 2, 1, 0, 1},      // 4x4 -> 8x8, 16-channel tiles
        {{1, 136, 8, 3}, {136, 17, 4, 4}, 2, 1, 0, 1},      // rows of 3, with a tail of channels
        {{2, 130, 5, 4}, {130, 24, 4, 4}, 2, 1, 0, 1},      // 5 rows per phase: tiles of 2 rows (AVX-512) overhang
        {{2, 160, 9}, {160, 16, 4}, 2, 1, 0, 1},            // 1-D
        {{1, 130, 2, 3, 2}, {130, 9, 2, 2, 2}, 2, 0, 0, 1},  // 3-D
        // Planar tensors go through channels_last and back: rows and channels of a vector or
        // more, neither a multiple of one, so the transposing copies' last blocks shift back.
        {{1, 20, 5, 18}, {20, 17, 2, 2}, 2, 0, 0, 1},
        {{1, 18, 2, 3, 17}, {18, 20, 2, 2, 2}, 2, 0, 0, 1},
        // Output layers (few output channels: input-channel tiles channels_last, position
        // tiles over a bordered copy planar): RGB; input channels padded to vectors (40 -> 48);
        // grouped; rows of 37 per phase (a second tile of 32 positions that overhangs, and 5
        // rows: a tile of 4 rows that overhangs); output_padding (phases of unequal sizes).
        {{2, 64, 9, 7}, {64, 3, 4, 4}, 2, 1, 0, 1},
        {{1, 40, 5, 6}, {40, 5, 3, 3}, 1, 1, 0, 1},
        {{2, 32, 6, 5}, {32, 3, 3, 3}, 2, 1, 1, 2},
        {{1, 16, 5, 37}, {16, 3, 4, 4}, 2, 1, 0, 1},
        {{2, 6, 11, 9}, {6, 2, 4, 4}, 2, 1, 1, 1}};
}

// Each layer in both input layouts, against libtorch.
void check_layers(const std::vector<Layer> &layers) {
    Tally tally("cases", kMagnitudeEps);
    for (const Layer &l : layers) {
        for (Layout layout : {Layout::Contiguous, Layout::ChannelsLast}) {
            Case c{l.in, l.weight, {}, /*bias=*/true, layout, Layout::Contiguous, {layout, Layout::Strided}};
            c.options.stride = {l.stride};
            c.options.padding = {l.padding};
            c.options.output_padding = {l.output_padding};
            c.options.groups = l.groups;
            tally.add(check_case(c));
        }
    }
    EXPECT_EQ(tally.compared, (int)layers.size() * 2);
}

TEST(ConvTransposeCommon, TypicalLayers) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(31);
    check_layers(typical_layers());
}

// Small 2-D grids in channels_last with one group, where padding taps are a large share: the
// listed-position kernel, one call per box of grid points with the same in-range taps (inner
// boxes, border rows and columns, corners, and boxes that no tap reaches, which get the bias
// only). Positions across images and rows fill its tiles, with tails; taps step by the
// dilation; channels above and below a vector. The last layer's padding crops every padding
// tap: no border waste, so the boxed kernels run it (the runtime's choice, checked alike).
TEST(ConvTransposeListed, BorderBoxesMatchTorch) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(33);
    struct Listed {
        std::vector<int64_t> in, weight;
        int64_t stride, padding, output_padding, dilation;
    };
    const std::vector<Listed> cases = {
        {{16, 40, 4, 4}, {40, 24, 4, 4}, 2, 1, 0, 1},  // a DCGAN layer: 3x3 inner boxes, borders, corners
        {{3, 70, 8, 8}, {70, 17, 4, 4}, 2, 1, 0, 1},   // 8x8, more input channels than a vector, channel tail
        {{1, 9, 1, 1}, {9, 8, 4, 4}, 2, 1, 0, 1},      // one input pixel: every box a corner
        {{2, 12, 3, 5}, {12, 19, 4, 4}, 2, 1, 1, 1},   // output_padding: one more row and column
        {{2, 12, 5, 3}, {12, 33, 3, 3}, 1, 1, 0, 1},   // stride 1: 3 taps, two borders each
        {{2, 6, 4, 6}, {6, 16, 5, 5}, 3, 2, 2, 2},     // stride 3, dilation 2: taps step by 2; bias-only boxes
        {{1, 20, 2, 7}, {20, 40, 3, 3}, 2, 2, 1, 1}};  // the padding crops the padding taps: boxed
    Tally tally("cases", kMagnitudeEps);
    for (const Listed &l : cases) {
        Case c{l.in, l.weight, {}, /*bias=*/true, Layout::ChannelsLast, Layout::Contiguous, {Layout::ChannelsLast}};
        c.options.stride = {l.stride};
        c.options.padding = {l.padding};
        c.options.output_padding = {l.output_padding};
        c.options.dilation = {l.dilation};
        tally.add(check_case(c));
    }
    EXPECT_EQ(tally.compared, (int)cases.size());
}

// The same layers on the narrower objects: the SSE4.1 fallback (4-lane vectors: other tiles
// and tails), and AVX2 where the CPU has AVX-512.
void check_layers_without(hup_test::Without without) {
    if (std::getenv("HUP_TEST_DEVICE")) GTEST_SKIP() << "CPU dispatch test";
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(32);
    const hup_test::TargetDispatch dispatch(without);
    check_layers(typical_layers());
    if (hup_test::TargetDispatch::refusals() == 0) GTEST_SKIP() << "the dispatch chose before this test: run it alone";
}

TEST(ConvTransposeFallbackTarget, Sse41MatchesTorch) { check_layers_without(hup_test::Without::Avx); }
// The AVX2 objects, and the tilings the runtime picks for 8-float vectors (short rows in 16-
// and 24-channel tiles), on a machine with AVX-512 as well.
TEST(ConvTransposeFallbackTarget, Avx2MatchesTorch) { check_layers_without(hup_test::Without::Avx512); }

// ---- Edge cases: hup accepts exactly what libtorch accepts ------------------------------------

TEST(ConvTransposeEdgeCases, AcceptsExactlyWhatTorchAccepts) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(37);
    auto edge = [](std::vector<int64_t> in, std::vector<int64_t> weight, int64_t stride, int64_t padding, int64_t output_padding,
                   int64_t dilation, int64_t groups = 1) {
        Case c{std::move(in), std::move(weight)};
        c.options.stride = {stride};
        c.options.padding = {padding};
        c.options.output_padding = {output_padding};
        c.options.dilation = {dilation};
        c.options.groups = groups;
        return c;
    };
    const std::vector<Case> accepted = {
        edge({0, 3, 5}, {3, 2, 3}, 2, 1, 1, 1),           // empty batch: an empty output
        edge({0, 4, 3, 2}, {4, 1, 2, 2}, 1, 0, 0, 1, 4),  // ... depthwise
        edge({2, 3, 1}, {3, 2, 1}, 1, 0, 0, 1),           // output size 1
        edge({2, 3, 1, 1}, {3, 2, 3, 3}, 1, 1, 0, 1),     // padding eats all but the centre
        edge({2, 3, 2}, {3, 2, 2}, 1, 0, 1, 2),           // output_padding >= stride, < dilation
        edge({2, 3, 2}, {3, 2, 1}, 3, 2, 2, 1),           // trailing outputs that no tap reaches
    };
    const std::vector<Case> rejected = {
        edge({2, 3, 1}, {3, 2, 1}, 1, 1, 0, 1),           // output size -1
        edge({2, 3, 1}, {3, 2, 1}, 2, 1, 1, 1),           // output size 0
        edge({2, 3, 4}, {3, 2, 3}, 2, 0, 2, 1),           // output_padding == stride > dilation
        edge({2, 3, 4}, {3, 2, 3}, 2, 0, 2, 2),           // output_padding == stride == dilation
        edge({2, 3, 4}, {3, 2, 3}, 1, 0, 0, 1, 2),        // groups do not divide C_in
        edge({2, 4, 4}, {3, 2, 3}, 1, 0, 0, 1),           // C_in differs from the weight's
        edge({2, 3, 4, 4}, {3, 2, 3}, 1, 0, 0, 1),        // weight rank differs from the input's
        edge({2, 3, 0}, {3, 2, 3}, 1, 0, 0, 1),           // empty spatial dim
        edge({2, 3, 4}, {3, 2, 3}, 0, 0, 0, 1),           // stride 0
        edge({2, 3, 4}, {3, 2, 3}, 1, -1, 0, 1),          // negative padding
        edge({2, 3, 4}, {3, 2, 3}, 1, 0, 0, 0),           // dilation 0
        edge({2, 0, 5}, {0, 2, 3}, 1, 0, 0, 1),           // no input channels
        edge({2, 3, 5}, {3, 0, 3}, 1, 0, 0, 1),           // no output channels
        edge({2, 3, 5}, {3, 2, 0}, 1, 0, 0, 1),           // empty kernel
    };
    for (const Case &c : accepted) {
        const Result r = check_case(c);
        EXPECT_EQ(r.failure, "");
        EXPECT_FALSE(r.rejected) << describe(c);
    }
    for (const Case &c : rejected) {
        const Result r = check_case(c);
        EXPECT_EQ(r.failure, "");
        EXPECT_TRUE(r.rejected) << describe(c);
    }
}

// ---- ConvTransposePlan: weights packed once ---------------------------------------------------

// A plan runs inputs of any batch and spatial size and layout like conv_transpose, from its
// own copy of the weights and bias: changing the caller's tensors after prepare() does nothing.
TEST(ConvTransposePlan, RunsLikeOneShotFromItsOwnWeights) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(43);
    ConvTransposeOptions o;
    o.stride = {2, 3};
    o.padding = {1};
    o.output_padding = {0, 2};
    o.groups = 2;
    const at::Tensor w = make({6, 9, 3, 4}, Layout::Strided), b = make_bias(18, Layout::Strided);
    const at::Tensor w0 = w.clone(), b0 = b.clone();
    hup::ConvTransposePlan plan;
    const hup::TensorView bias_view = hup::torch::view(b);
    ASSERT_TRUE(plan.prepare(hup::torch::view(w), &bias_view, o).ok());
    w.fill_(0);
    b.fill_(0);
    const std::vector<std::pair<std::vector<int64_t>, Layout>> inputs = {
        {{2, 6, 5, 4}, Layout::Contiguous}, {{1, 6, 3, 7}, Layout::ChannelsLast}, {{3, 6, 1, 1}, Layout::Strided}};
    double worst_eps = 0;
    for (const auto &[sizes, layout] : inputs) {
        const at::Tensor x = make(sizes, layout);
        const at::Tensor expected = hup::torch::reference_conv_transpose(x, w0, b0, o);
        const at::Tensor magnitude = reference_magnitude(x, w0, b0, o);
        for (Layout out_layout : kLayouts) {
            EXPECT_EQ(check_output([&](const at::Tensor &out) { return plan.run(hup::torch::view(x), hup::torch::view(out)); },
                                   out_layout, expected, magnitude, &worst_eps),
                      "")
                << "in=" << c10::IntArrayRef(sizes) << " " << hup_test::layout_name(layout) << " -> "
                << hup_test::layout_name(out_layout);
        }
    }
    // A moved-from plan is empty (and safe to use), and the plan it moved to runs.
    hup::ConvTransposePlan moved = std::move(plan);
    const at::Tensor x = make({1, 6, 2, 2}, Layout::Contiguous);
    const at::Tensor out = torch::zeros(hup::torch::reference_conv_transpose(x, w0, b0, o).sizes());
    EXPECT_FALSE(plan.run(hup::torch::view(x), hup::torch::view(out)).ok());
    EXPECT_TRUE(moved.run(hup::torch::view(x), hup::torch::view(out)).ok());
}

// ---- The torch.h adaptor ---------------------------------------------------------------------

// hup::torch::conv_transpose(input, weight, bias, options) allocates in the input's memory
// format and throws with hup's message on bad arguments.
TEST(ConvTransposeTorchAdaptor, AllocatesAndThrows) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(41);
    ConvTransposeOptions o;
    o.stride = {2};
    o.padding = {1};
    o.output_padding = {1};
    for (Layout layout : {Layout::Contiguous, Layout::ChannelsLast}) {
        const at::Tensor x = make({2, 6, 5, 4}, layout), w = make({6, 3, 3, 3}, Layout::Contiguous), b = make_bias(3, Layout::Contiguous);
        const at::Tensor expected = hup::torch::reference_conv_transpose(x, w, b, o);
        const at::Tensor actual = hup::torch::conv_transpose(x, w, b, o);
        EXPECT_EQ(actual.sizes(), expected.sizes());
        EXPECT_TRUE(actual.is_contiguous(x.suggest_memory_format()));
        const at::Tensor magnitude = reference_magnitude(x, w, b, o);
        EXPECT_LE(magnitude_eps(actual, expected, magnitude), kMagnitudeEps);
        EXPECT_LE(magnitude_eps(hup::torch::conv_transpose(x, w, at::Tensor(), o),
                                hup::torch::reference_conv_transpose(x, w, at::Tensor(), o), magnitude),
                  kMagnitudeEps);
    }
    ConvTransposeOptions bad = o;
    bad.output_padding = {2};
    EXPECT_THROW(hup::torch::conv_transpose(make({2, 6, 5, 4}, Layout::Contiguous), make({6, 3, 3, 3}, Layout::Contiguous),
                                            at::Tensor(), bad),
                 std::invalid_argument);
    // Not float32: refused by the adaptor, as hup only has float kernels.
    const at::Tensor doubles = torch::zeros({2, 6, 5, 4}, torch::kDouble);
    EXPECT_THROW(hup::torch::conv_transpose(doubles, make({6, 3, 3, 3}, Layout::Contiguous), at::Tensor(), o),
                 std::invalid_argument);
}

}  // namespace
