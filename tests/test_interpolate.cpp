// Differential tests: hup::interpolate against torch.nn.functional.interpolate (libtorch 1.13),
// computed in this process on the same input.
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <random>
#include <sstream>

#include "HalideRuntime.h"
#include "target_dispatch.h"
#include "tensor_check.h"  // detail::StreamingOverride
#include "torch_oracle.h"

namespace F = torch::nn::functional;
using hup::InterpolateMode;
using hup::InterpolateOptions;
using hup_test::Layout;
using hup_test::TargetDispatch;
using hup_test::Without;

namespace {

// Arithmetic modes may differ from ATen in the last bits: hup's Halide code may contract a
// multiply-add into an FMA where ATen's scalar code rounds twice (or the reverse). Each output
// is a weighted sum of inputs, so the difference is bounded by a few float epsilons of the
// data scale (max |input|, 1 here). Linear, area and antialiased bilinear stay within 8.
constexpr double kArithmeticUlps = 8;
// Bicubic is looser, measured at up to 24: hup reproduces ATen's source coordinates and taps
// exactly (the coordinate in double, as ATen's CPU acc_type), but not the rounding of ATen's
// cubic coefficients, whose weights do not sum to exactly 1 in float (a 1x1 input upsampled
// by libtorch comes back scaled by 1 +- 2.4e-7). The cubic lobes (weight L1 norm up to 1.6 over
// two passes) amplify that. 32 leaves headroom without hiding a wrong tap, which costs 1e5+.
constexpr double kCubicUlps = 32;

const char *mode_name(InterpolateMode m) { return hup::interpolate_mode_name(m); }

bool is_exact_mode(InterpolateMode m) { return m == InterpolateMode::Nearest || m == InterpolateMode::NearestExact; }
bool is_interpolating(InterpolateMode m) {
    return m == InterpolateMode::Linear || m == InterpolateMode::Bilinear || m == InterpolateMode::Bicubic ||
           m == InterpolateMode::Trilinear;
}

at::Tensor torch_interpolate(const at::Tensor &input, const InterpolateOptions &o) {
    return hup::torch::reference_interpolate(input, o);
}

std::string describe(const at::Tensor &input, Layout layout, const InterpolateOptions &o) {
    std::ostringstream s;
    s << mode_name(o.mode) << " in=" << input.sizes() << " " << hup_test::layout_name(layout);
    if (!o.size.empty()) s << " size=" << c10::IntArrayRef(o.size);
    if (!o.scale_factor.empty()) s << " scale=" << c10::ArrayRef<double>(o.scale_factor);
    if (o.align_corners) s << " align_corners=" << *o.align_corners;
    if (o.recompute_scale_factor) s << " recompute=" << *o.recompute_scale_factor;
    if (o.antialias) s << " antialias";
    return s.str();
}

// Runs one case through hup and libtorch; returns an empty string on agreement.
// The output is written once in the input's memory format and once into a strided view.
std::string check_case(const std::vector<int64_t> &sizes, Layout layout, const InterpolateOptions &o) {
    const at::Tensor input = hup_test::make_tensor(sizes, layout);
    // libtorch 1.13's channels_last nearest kernel takes a shortcut when out == 2*in (src = o/2)
    // or out == in (src = o) even when a user scale such as 2.05 says otherwise; its contiguous
    // kernel follows the formula floor(o / scale). hup follows the formula in every layout
    // (README, "Where hup differs"), so nearest is checked against the contiguous kernel. A
    // tensor with C == 1 counts as channels_last too, so it is given a second channel first.
    at::Tensor expected;
    if (o.mode == InterpolateMode::Nearest) {
        const at::Tensor dense = input.contiguous();
        const at::Tensor two_channels = dense.size(1) == 1 ? at::cat({dense, dense}, 1) : dense;
        expected = torch_interpolate(two_channels, o).narrow(1, 0, dense.size(1));
    } else {
        expected = torch_interpolate(input, o);
    }
    std::vector<int64_t> out_sizes;
    hup::Status s = hup::interpolate_output_sizes(input.sizes().vec(), o, &out_sizes);
    if (!s.ok()) return describe(input, layout, o) + ": " + s.message();
    if (out_sizes != expected.sizes().vec()) {
        return describe(input, layout, o) + ": output sizes " + c10::str(c10::IntArrayRef(out_sizes)) + " vs torch " +
               c10::str(expected.sizes());
    }
    for (Layout out_layout : {layout, Layout::Strided}) {
        at::Tensor actual = hup_test::make_tensor(out_sizes, out_layout, /*random=*/false);
        s = hup::torch::interpolate(input, actual, o);
        if (!s.ok()) return describe(input, layout, o) + ": " + s.message();
        if (is_exact_mode(o.mode)) {
            if (!torch::equal(actual, expected)) {
                return describe(input, layout, o) + " -> " + hup_test::layout_name(out_layout) + ": not bit-exact, max diff " +
                       std::to_string((actual - expected).abs().max().item<double>());
            }
        } else {
            const double ulps = hup_test::ulp_distance(actual, expected, input.abs().max().item<double>());
            const double allowed = o.mode == InterpolateMode::Bicubic ? kCubicUlps : kArithmeticUlps;
            if (!(ulps <= allowed)) {
                return describe(input, layout, o) + " -> " + hup_test::layout_name(out_layout) + ": " + std::to_string(ulps) +
                       " ulps from torch";
            }
        }
    }
    return "";
}

struct ModeRank {
    InterpolateMode mode;
    int rank;
};

std::vector<ModeRank> all_mode_ranks() {
    return {{InterpolateMode::Nearest, 3},      {InterpolateMode::Nearest, 4},      {InterpolateMode::Nearest, 5},
            {InterpolateMode::NearestExact, 3}, {InterpolateMode::NearestExact, 4}, {InterpolateMode::NearestExact, 5},
            {InterpolateMode::Linear, 3},       {InterpolateMode::Bilinear, 4},     {InterpolateMode::Bicubic, 4},
            {InterpolateMode::Trilinear, 5},    {InterpolateMode::Area, 3},         {InterpolateMode::Area, 4},
            {InterpolateMode::Area, 5}};
}

// Every option combination the mode accepts, for one input shape.
std::vector<InterpolateOptions> option_grid(InterpolateMode mode, int rank, const std::vector<int64_t> &in) {
    const int dims = rank - 2;
    std::vector<std::optional<bool>> corners = {std::nullopt};
    if (is_interpolating(mode)) corners = {std::nullopt, false, true};
    std::vector<bool> antialias = {false};
    if ((mode == InterpolateMode::Bilinear || mode == InterpolateMode::Bicubic) && rank == 4) antialias = {false, true};

    // Output specs: explicit sizes (up, down, same, 1, mixed per dim) and scale factors.
    std::vector<std::vector<int64_t>> sizes = {{1}, {2}, {7}};
    std::vector<int64_t> mixed;
    for (int d = 0; d < dims; d++) mixed.push_back(d % 2 ? std::max<int64_t>(1, in[d + 2] / 2) : in[d + 2] * 2 + 1);
    sizes.push_back(mixed);
    std::vector<int64_t> same(in.begin() + 2, in.end());
    sizes.push_back(same);
    const std::vector<std::vector<double>> scales = {{2.0},   {1.5},      {0.75}, {2.05}, {1.0 / 3.0}, {0.9999},
                                                     {120.0 / 88.0}, {1.0}, {3.0}};
    std::vector<InterpolateOptions> grid;
    for (auto ac : corners) {
        for (bool aa : antialias) {
            InterpolateOptions o;
            o.mode = mode;
            o.align_corners = ac;
            o.antialias = aa;
            for (const auto &s : sizes) {
                o.size = s;
                o.scale_factor.clear();
                grid.push_back(o);
            }
            o.size.clear();
            for (const auto &sf : scales) {
                std::vector<double> factors = sf;
                if (dims > 1) {  // mix up- and downsampling across dims
                    factors.assign(dims, sf[0]);
                    factors[0] = sf[0] >= 1 ? sf[0] * 0.5 + 0.25 : sf[0] + 1.25;
                }
                auto gives_empty = [&](const std::vector<double> &f) {
                    bool empty = false;
                    for (int d = 0; d < dims; d++) empty |= std::floor(in[d + 2] * f[f.size() == 1 ? 0 : d]) < 1;
                    return empty;
                };
                for (std::optional<bool> recompute : {std::optional<bool>(), std::optional<bool>(false), std::optional<bool>(true)}) {
                    o.scale_factor = sf;
                    o.recompute_scale_factor = recompute;
                    if (!gives_empty(sf)) grid.push_back(o);
                    o.scale_factor = factors;
                    if (dims > 1 && !gives_empty(factors)) grid.push_back(o);
                }
                o.recompute_scale_factor.reset();
            }
        }
    }
    return grid;
}

class InterpolateSweep : public ::testing::TestWithParam<std::tuple<ModeRank, Layout>> {};

TEST_P(InterpolateSweep, MatchesTorch) {
    hup_test::silence_torch_warnings();
    torch::manual_seed(7);
    const auto [mr, layout] = GetParam();
    // Shapes: sizes 1 and 2, odd sizes, batch > 1, and extents above the schedule's split
    // factors (vector lanes 4-16, 16-row strips, 64-column tiles) as well as below them.
    std::vector<std::vector<int64_t>> spatial_shapes = {{1, 1, 1}, {2, 3, 2}, {5, 7, 3}, {19, 33, 4}};
    if (mr.rank < 5) spatial_shapes.push_back({37, 70, 1});
    int cases = 0;
    for (const auto &spatial : spatial_shapes) {
        std::vector<int64_t> in = {2, 3};
        for (int d = 0; d < mr.rank - 2; d++) in.push_back(spatial[d]);
        for (const InterpolateOptions &o : option_grid(mr.mode, mr.rank, in)) {
            std::vector<int64_t> out;
            if (!hup::interpolate_output_sizes(in, o, &out).ok()) continue;
            if (c10::multiply_integers(out) > 400000) continue;  // keep the suite fast
            const std::string failure = check_case(in, layout, o);
            EXPECT_EQ(failure, "");
            cases++;
        }
    }
    EXPECT_GT(cases, 20);
    std::cout << "[ cases    ] " << cases << " compared with libtorch\n";
}

std::vector<std::tuple<ModeRank, Layout>> sweep_params() {
    std::vector<std::tuple<ModeRank, Layout>> params;
    for (const ModeRank &mr : all_mode_ranks()) {
        for (Layout layout : {Layout::Contiguous, Layout::ChannelsLast, Layout::Strided}) {
            if (layout == Layout::ChannelsLast && mr.rank == 3) continue;  // no 3-D channels_last in PyTorch
            params.emplace_back(mr, layout);
        }
    }
    return params;
}

std::string sweep_name(const ::testing::TestParamInfo<std::tuple<ModeRank, Layout>> &info) {
    const ModeRank mr = std::get<0>(info.param);
    std::string name = std::string(mode_name(mr.mode)) + "_" + std::to_string(mr.rank) + "d_" +
                       hup_test::layout_name(std::get<1>(info.param));
    for (char &c : name) {
        if (!isalnum((unsigned char)c)) c = '_';
    }
    return name;
}

INSTANTIATE_TEST_SUITE_P(AllModes, InterpolateSweep, ::testing::ValuesIn(sweep_params()), sweep_name);

// Thousands of random small cases with a fixed seed.
TEST(InterpolateRandom, FixedSeedCases) {
    hup_test::silence_torch_warnings();
    torch::manual_seed(11);
    std::mt19937 rng(2024);
    auto pick = [&](int n) { return (int)(rng() % n); };
    const auto mode_ranks = all_mode_ranks();
    int run = 0, failures = 0;
    for (int i = 0; i < 3000; i++) {
        const ModeRank mr = mode_ranks[pick((int)mode_ranks.size())];
        const int dims = mr.rank - 2;
        std::vector<int64_t> in = {1 + pick(2), 1 + pick(4)};
        for (int d = 0; d < dims; d++) in.push_back(1 + pick(dims == 3 ? 9 : 24));
        InterpolateOptions o;
        o.mode = mr.mode;
        if (is_interpolating(mr.mode) && pick(3)) o.align_corners = pick(2) == 1;
        if ((mr.mode == InterpolateMode::Bilinear || mr.mode == InterpolateMode::Bicubic) && pick(3) == 0) o.antialias = true;
        if (pick(2)) {
            for (int d = 0; d < dims; d++) o.size.push_back(1 + pick(dims == 3 ? 12 : 40));
        } else {
            for (int d = 0; d < dims; d++) o.scale_factor.push_back(0.2 + (rng() % 1000) / 250.0);
            if (pick(2)) o.recompute_scale_factor = pick(2) == 1;
        }
        std::vector<int64_t> out;
        if (!hup::interpolate_output_sizes(in, o, &out).ok()) continue;  // e.g. a scale giving size 0
        const Layout layout = mr.rank == 3 ? (pick(2) ? Layout::Strided : Layout::Contiguous)
                                           : std::vector<Layout>{Layout::Contiguous, Layout::ChannelsLast, Layout::Strided}[pick(3)];
        const std::string failure = check_case(in, layout, o);
        run++;
        if (!failure.empty() && ++failures <= 10) ADD_FAILURE() << failure;
    }
    EXPECT_EQ(failures, 0);
    EXPECT_GT(run, 2500);
    std::cout << "[ cases    ] " << run << " compared with libtorch\n";
}

// Larger shapes than the sweep, in both fast layouts, so every schedule runs full tiles,
// parallel tasks and vector tails together.
TEST(InterpolateLarge, FullTilesAndTails) {
    hup_test::silence_torch_warnings();
    torch::manual_seed(3);
    struct Big { InterpolateMode mode; std::vector<int64_t> in; std::vector<double> scale; bool antialias; };
    const std::vector<Big> cases = {
        {InterpolateMode::Bilinear, {2, 5, 67, 131}, {2.0}, false},  {InterpolateMode::Bilinear, {1, 3, 150, 97}, {0.3}, true},
        {InterpolateMode::Bicubic, {1, 9, 45, 77}, {1.7}, false},    {InterpolateMode::Bicubic, {1, 2, 90, 120}, {0.45}, true},
        {InterpolateMode::Nearest, {2, 17, 33, 65}, {2.0}, false},   {InterpolateMode::NearestExact, {1, 4, 50, 50}, {0.7}, false},
        {InterpolateMode::Area, {1, 6, 99, 101}, {0.31}, false},      {InterpolateMode::Trilinear, {1, 3, 9, 17, 33}, {1.9}, false},
        {InterpolateMode::Linear, {3, 8, 1000}, {2.5}, false},       {InterpolateMode::Area, {2, 3, 1000}, {0.1}, false},
        // Exact 2x up- and downsampling: the x pass's affine fast path (odd and even widths).
        {InterpolateMode::Bilinear, {2, 3, 40, 64}, {0.5}, false},   {InterpolateMode::Area, {1, 4, 30, 51}, {0.5}, false},
        {InterpolateMode::Nearest, {1, 2, 16, 40}, {0.5}, false},    {InterpolateMode::Bicubic, {1, 2, 20, 31}, {2.0}, false},
        {InterpolateMode::NearestExact, {1, 2, 9, 33}, {2.0}, false}, {InterpolateMode::Linear, {2, 5, 77}, {0.5}, false},
        {InterpolateMode::Trilinear, {1, 2, 6, 8, 20}, {2.0}, false}, {InterpolateMode::Bilinear, {1, 2, 10, 30}, {2.0}, false},
        // channels_last pixels of 64 channels and more (AVX2: 32) run as one unrolled block of
        // vectors per pixel, the last block shifted inwards when C is not a multiple.
        {InterpolateMode::Bilinear, {1, 70, 9, 13}, {2.0}, false},   {InterpolateMode::Nearest, {1, 100, 7, 5}, {1.5}, false},
        {InterpolateMode::Bicubic, {2, 67, 6, 7}, {0.7}, false},     {InterpolateMode::Area, {1, 129, 8, 9}, {0.5}, false},
        // Run-time tap counts: x windows inside the input (tap-major weights), and windows
        // wider than a narrow x (position-major weights, gathered).
        {InterpolateMode::Bicubic, {1, 3, 40, 300}, {0.11}, true},   {InterpolateMode::Area, {2, 2, 90, 3}, {0.05, 1.0}, false},
        // Planar bilinear on 8 or more channels, with W scales other than 2 and 1/2: the
        // channel-block variant (blocks of 8, the last overlapping when C % 8 != 0; column
        // blocks likewise), up- and downsampling, and linear-tap antialias and area.
        {InterpolateMode::Bilinear, {1, 64, 40, 48}, {0.75}, false}, {InterpolateMode::Bilinear, {2, 11, 13, 9}, {1.5}, false},
        {InterpolateMode::Bilinear, {1, 8, 8, 8}, {1.0 / 3.0, 2.05}, false}, {InterpolateMode::Bilinear, {1, 20, 37, 70}, {120.0 / 88.0}, false},
        {InterpolateMode::Bilinear, {1, 16, 23, 41}, {0.9999}, false}, {InterpolateMode::Bilinear, {1, 9, 31, 17}, {0.6}, true},
        {InterpolateMode::Area, {1, 12, 30, 45}, {0.8}, false},
        // Planar bilinear on fewer channels, both dims shrinking until the taps cover under a
        // quarter of the input: the direct variant (no intermediate), with tails and a 1x1 output.
        {InterpolateMode::Bilinear, {2, 3, 50, 61}, {0.2}, false}, {InterpolateMode::Bilinear, {1, 5, 37, 101}, {0.1, 0.05}, false},
        {InterpolateMode::Bilinear, {1, 1, 9, 9}, {0.2}, false}, {InterpolateMode::Bilinear, {1, 2, 300, 1000}, {0.19}, false}};
    for (const Big &b : cases) {
        for (Layout layout : {Layout::Contiguous, Layout::ChannelsLast}) {
            for (std::optional<bool> corners : {std::optional<bool>(), std::optional<bool>(true)}) {
                if (corners && !is_interpolating(b.mode)) continue;
                if (corners && b.antialias) continue;  // covered by the sweep; keeps this test short
                InterpolateOptions o;
                o.mode = b.mode;
                o.scale_factor = b.scale;
                o.antialias = b.antialias;
                o.align_corners = corners;
                EXPECT_EQ(check_case(b.in, layout, o), "");
            }
        }
    }
}

// One mode, input shape and scale_factor (and antialias), checked contiguous and channels_last.
struct ScaledCase {
    InterpolateMode mode;
    std::vector<int64_t> in;
    std::vector<double> scale;
    bool antialias = false;
};

void check_scaled_cases(const std::vector<ScaledCase> &cases) {
    for (const ScaledCase &c : cases) {
        for (Layout layout : {Layout::Contiguous, Layout::ChannelsLast}) {
            if (layout == Layout::ChannelsLast && c.in.size() == 3) continue;
            InterpolateOptions o;
            o.mode = c.mode;
            o.scale_factor = c.scale;
            o.antialias = c.antialias;
            EXPECT_EQ(check_case(c.in, layout, o), "");
        }
    }
}

// Outputs past detail::streaming_bytes are computed a chunk of about 64K floats at a time into a
// scratch and streamed out (detail::run_streamed). With the threshold at 0, these shapes cut
// their chunks along every dim: rows of one plane (planar 2-D), whole planes (many small
// channels), images, a 1-D row itself, 3-D slices, and channels_last rows; each with tails.
TEST(InterpolateStreamed, ChunksMatchTorch) {
    hup_test::silence_torch_warnings();
    torch::manual_seed(11);
    const hup::detail::StreamingOverride streamed(0, hup::detail::StreamingMode::Always);
    const std::vector<ScaledCase> cases = {
        {InterpolateMode::Bilinear, {2, 3, 150, 171}, {2.0}},       // 300 x 342 planes: cut along rows
        {InterpolateMode::Nearest, {1, 2, 151, 170}, {2.0}},
        {InterpolateMode::Bicubic, {1, 2, 140, 160}, {1.9}},
        {InterpolateMode::Bilinear, {1, 20, 40, 50}, {2.0}},        // 8000-float planes: cut along C
        {InterpolateMode::Bilinear, {2, 9, 100, 90}, {2.0}},        // 18 chunks: tasks of 2, which prefetch
        {InterpolateMode::NearestExact, {3, 5, 40, 50}, {2.0}},     // cut along N
        {InterpolateMode::Area, {1, 3, 700, 500}, {0.4}},           // run-time taps
        {InterpolateMode::Bilinear, {1, 2, 400, 500}, {0.7}, true},
        {InterpolateMode::Linear, {2, 3, 70001}, {2.0}},            // a 140002-float row: cut along W
        {InterpolateMode::Trilinear, {1, 4, 20, 30, 41}, {2.0}},    // cut along D
        {InterpolateMode::Trilinear, {1, 2, 3, 200, 201}, {1.5}}};  // a slice > a chunk: cut along H
    check_scaled_cases(cases);
}

// Planar 2x bilinear upsampling along W into an output past detail::streaming_bytes runs the
// direct variant with one phase per vector half and only the row ends clamped (the threshold
// at 0 sends these small shapes there): rows shorter than a vector, odd widths, widths that
// leave a vector tail, H scaled by other factors, and area's 2x windows, which the same
// variant runs. The check covers every row's first and last columns, the clamped ones.
void check_direct_upsampling() {
    const hup::detail::StreamingOverride direct(0, hup::detail::StreamingMode::Never);
    const std::vector<ScaledCase> cases = {
        {InterpolateMode::Bilinear, {1, 1, 1, 1}, {2.0}},        {InterpolateMode::Bilinear, {1, 2, 2, 2}, {2.0}},
        {InterpolateMode::Bilinear, {2, 3, 3, 7}, {2.0}},        {InterpolateMode::Bilinear, {1, 2, 5, 16}, {2.0}},
        {InterpolateMode::Bilinear, {1, 3, 6, 17}, {2.0}},       {InterpolateMode::Bilinear, {2, 2, 9, 100}, {2.0}},
        {InterpolateMode::Bilinear, {1, 1, 4, 250}, {2.0}},      {InterpolateMode::Bilinear, {1, 2, 7, 40}, {0.6, 2.0}},
        {InterpolateMode::Bilinear, {1, 2, 3, 33}, {3.0, 2.0}},  {InterpolateMode::Area, {1, 3, 5, 37}, {2.0}},
        {InterpolateMode::Area, {2, 1, 4, 64}, {1.0, 2.0}}};
    check_scaled_cases(cases);
}

TEST(InterpolateUpsampling2x, DirectMatchesTorch) {
    hup_test::silence_torch_warnings();
    torch::manual_seed(13);
    check_direct_upsampling();
}

// The narrower objects of every multi-target variant (tests/target_dispatch.h): the AVX2
// ones, which run where AVX-512 is missing, and the SSE4.1 fallback.
void check_without(Without without) {
    // The CPU objects only: under a GPU device (HUP_TEST_DEVICE) the hook would also steer the
    // device runtime's own feature checks.
    if (std::getenv("HUP_TEST_DEVICE")) GTEST_SKIP() << "CPU dispatch test";
    hup_test::silence_torch_warnings();
    torch::manual_seed(5);
    const TargetDispatch dispatch(without);
    const std::vector<ScaledCase> cases = {
        {InterpolateMode::Bilinear, {1, 16, 40, 48}, {0.75}}, {InterpolateMode::Bilinear, {1, 11, 13, 9}, {1.5}},
        {InterpolateMode::Bicubic, {1, 9, 20, 30}, {1.7}},    {InterpolateMode::Bilinear, {2, 3, 20, 33}, {2.0}},
        {InterpolateMode::Nearest, {1, 5, 17, 33}, {0.6}},    {InterpolateMode::Area, {1, 4, 30, 51}, {0.3}},
        {InterpolateMode::Trilinear, {1, 3, 6, 8, 20}, {1.4}}, {InterpolateMode::Linear, {2, 5, 77}, {0.7}},
        {InterpolateMode::Bicubic, {1, 3, 41, 67}, {0.45}, true},  // run-time taps, windows in range
        {InterpolateMode::Bilinear, {1, 3, 50, 61}, {0.2}},        // the direct variant
        {InterpolateMode::Bilinear, {1, 40, 6, 9}, {2.0}}};        // channels_last: AVX2's shifted channel block
    check_scaled_cases(cases);
    check_direct_upsampling();
    if (TargetDispatch::refusals() == 0) GTEST_SKIP() << "the dispatch chose before this test: run it alone";
}

TEST(InterpolateFallbackTarget, Sse41MatchesTorch) { check_without(Without::Avx); }
TEST(InterpolateFallbackTarget, Avx2MatchesTorch) { check_without(Without::Avx512); }

}  // namespace
