// Differential tests: hup::unfold / hup::fold against at::im2col / at::col2im (what F.unfold
// and F.fold call in libtorch 1.13), computed in this process on the same tensors.
//
// unfold only moves data (and writes zeros for the padding): compared bit for bit. fold sums
// overlapping blocks; to compare it bit for bit too, most tests feed it values that are small
// multiples of 1/4 (dyadic, |v| <= 2), whose sums of up to 9 terms are exact in float in any
// order. FoldRandomFloats checks arbitrary floats, where hup may add in another order than
// ATen (see the bound there).
#include <cfloat>
#include <cmath>
#include <random>
#include <sstream>

#include "inverse_oracle.h"
#include "tensor_check.h"  // detail::StreamingOverride

using hup::FoldOptions;
using hup::UnfoldOptions;
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

// Unfold's input: random values with -0 and a NaN payload mixed in (moved bit for bit).
at::Tensor image_values(const std::vector<int64_t> &sizes) {
    at::Tensor t = torch::rand(sizes) * 2 - 1;
    t.masked_fill_(torch::rand(sizes) < 0.05, -0.f);
    if (t.numel() > 0) t.view(at::kInt).masked_fill_(torch::rand(sizes) < 0.03, (int32_t)0x7fc04321);
    return t;
}

// Multiples of 1/4 in [-2, 2]: every sum of up to 2^20 of them is exact in float.
at::Tensor dyadic_values(const std::vector<int64_t> &sizes) { return torch::randint(-8, 9, sizes).to(at::kFloat) / 4; }

// Layouts: the image (N, C, H, W) or (C, H, W) with C innermost for channels_last; the columns
// (N, C*kh*kw, L) or (C*kh*kw, L) with C*kh*kw innermost.
int64_t image_channel_dim(int64_t rank) { return rank - 3; }
int64_t cols_channel_dim(int64_t rank) { return rank - 2; }

at::Tensor image_in(const at::Tensor &values, Layout layout) {
    return hup_test::in_layout(values, layout, image_channel_dim(values.dim()));
}
at::Tensor cols_in(const at::Tensor &values, Layout layout) { return hup_test::in_layout(values, layout, cols_channel_dim(values.dim())); }

struct Problem {
    bool batched = true;
    int64_t n = 2, c = 3;
    std::vector<int64_t> hw;
    std::vector<int64_t> kernel, dilation, padding, stride;  // as the options hold them

    std::vector<int64_t> image_sizes() const {
        std::vector<int64_t> s;
        if (batched) s.push_back(n);
        s.push_back(c);
        s.insert(s.end(), hw.begin(), hw.end());
        return s;
    }
    UnfoldOptions unfold_options() const {
        UnfoldOptions o;
        o.kernel_size = kernel;
        o.dilation = dilation;
        o.padding = padding;
        o.stride = stride;
        return o;
    }
    FoldOptions fold_options() const {
        FoldOptions o;
        o.output_size = hw;
        o.kernel_size = kernel;
        o.dilation = dilation;
        o.padding = padding;
        o.stride = stride;
        return o;
    }
};

std::string describe(const Problem &p) {
    std::ostringstream s;
    s << "image=" << c10::IntArrayRef(p.image_sizes()) << hup_test::option_string("kernel_size", p.kernel)
      << hup_test::option_string("dilation", p.dilation) << hup_test::option_string("padding", p.padding)
      << hup_test::option_string("stride", p.stride);
    return s.str();
}

std::string layouts(Layout in, Layout out) {
    return std::string(" ") + hup_test::layout_name(in) + " -> " + hup_test::layout_name(out);
}

// hup's `op` from `input` (already in its layout) into each output layout, against `expected`.
template <typename Op>
std::string check_writes(const std::string &what, Op &&op, const at::Tensor &input, Layout in_layout, const std::vector<Layout> &out_layouts,
                         const at::Tensor &expected, int64_t channel_dim) {
    const at::Tensor before = input.clone();
    for (Layout out_layout : out_layouts) {
        const std::string where = what + layouts(in_layout, out_layout);
        const at::Tensor out = make_output(expected.sizes().vec(), out_layout, at::kFloat, channel_dim);
        const hup::Status s = op(input, out);
        if (!s.ok()) return where + ": " + s.message();
        if (!bits_equal(out, expected)) return where + ": " + first_difference(out, expected);
        if (!outside_untouched(out)) return where + ": wrote outside the output view";
    }
    if (!bits_equal(input, before)) return what + ": the input was modified";
    return "";
}

struct Layouts {
    Layout image = Layout::Contiguous, cols = Layout::Contiguous;
    std::vector<Layout> unfold_out = kAllLayouts, fold_out = kAllLayouts;
};

// One problem, both ways and round trip:
// - unfold: hup and libtorch agree on validity and sizes; bit-exact in every output layout;
// - fold of dyadic columns of that shape: same sizes; bit-exact against col2im;
// - fold(unfold(x)) == x * fold(unfold(ones)) (each pixel times the number of blocks covering
//   it), for a dyadic image, all through hup; the counts themselves match libtorch's.
Result check_problem(const Problem &p, const Layouts &l, bool confirm_rejection) {
    Result r;
    const std::vector<int64_t> image_sizes = p.image_sizes();
    const UnfoldOptions uo = p.unfold_options();
    const FoldOptions fo = p.fold_options();
    std::vector<int64_t> cols_sizes;
    const hup::Status planned = hup::unfold_output_sizes(image_sizes, uo, &cols_sizes);
    if (!planned.ok() && !confirm_rejection) {
        r.rejected = true;
        return r;
    }
    const at::Tensor image = image_values(image_sizes);
    at::Tensor expected_cols;
    std::string torch_error;
    try {
        expected_cols = hup::torch::reference_unfold(image, uo);
    } catch (const std::exception &e) {
        torch_error = first_line(e.what());
    }
    if (!planned.ok() || !torch_error.empty()) {
        if (planned.ok()) r.failure = describe(p) + ": hup accepts, libtorch throws: " + torch_error;
        if (torch_error.empty()) r.failure = describe(p) + ": libtorch accepts, hup rejects: " + planned.message();
        if (!r.failure.empty()) return r;
        // fold refuses the same geometry (given columns with one block).
        std::vector<int64_t> fold_in = {p.c * c10::multiply_integers(hup::torch::spatial_values(p.kernel, 2, {})), 1};
        if (p.batched) fold_in.insert(fold_in.begin(), p.n);
        std::vector<int64_t> sizes;
        if (hup::fold_output_sizes(fold_in, fo, &sizes).ok()) {
            r.failure = describe(p) + ": unfold refuses, fold accepts";
            return r;
        }
        r.rejected = r.confirmed = true;
        return r;
    }
    if (cols_sizes != expected_cols.sizes().vec()) {
        r.failure = describe(p) + ": unfold sizes " + c10::str(c10::IntArrayRef(cols_sizes)) + " vs libtorch " + c10::str(expected_cols.sizes());
        return r;
    }
    const int64_t image_rank = (int64_t)image_sizes.size(), cols_rank = image_rank - 1;
    r.failure = check_writes(
        "unfold " + describe(p), [&](const at::Tensor &in, const at::Tensor &out) { return hup::torch::unfold(in, out, uo); },
        image_in(image, l.image), l.image, l.unfold_out, expected_cols, cols_channel_dim(cols_rank));
    if (!r.failure.empty()) return r;

    const at::Tensor cols = dyadic_values(cols_sizes);
    const at::Tensor expected_image = hup::torch::reference_fold(cols, fo);
    std::vector<int64_t> fold_sizes;
    const hup::Status fold_planned = hup::fold_output_sizes(cols_sizes, fo, &fold_sizes);
    if (!fold_planned.ok()) {
        r.failure = "fold " + describe(p) + ": " + fold_planned.message();
        return r;
    }
    if (fold_sizes != expected_image.sizes().vec()) {
        r.failure = "fold " + describe(p) + ": sizes " + c10::str(c10::IntArrayRef(fold_sizes)) + " vs libtorch " +
                    c10::str(expected_image.sizes());
        return r;
    }
    r.failure = check_writes(
        "fold " + describe(p), [&](const at::Tensor &in, const at::Tensor &out) { return hup::torch::fold(in, out, fo); },
        cols_in(cols, l.cols), l.cols, l.fold_out, expected_image, image_channel_dim(image_rank));
    if (!r.failure.empty()) return r;

    // Round trip, through hup only.
    const at::Tensor x = dyadic_values(image_sizes);
    const at::Tensor ones = torch::ones(image_sizes);
    const at::Tensor counts = hup::torch::fold(hup::torch::unfold(ones, uo), fo);
    const at::Tensor torch_counts = hup::torch::reference_fold(hup::torch::reference_unfold(ones, uo), fo);
    if (!bits_equal(counts, torch_counts)) {
        r.failure = "fold(unfold(ones)) " + describe(p) + ": " + first_difference(counts, torch_counts);
        return r;
    }
    const at::Tensor back = hup::torch::fold(hup::torch::unfold(image_in(x, l.image), uo), fo);
    // (+ 0: a pixel no block covers is an empty sum, +0, where x * 0 may be -0.)
    const at::Tensor expected_back = x * counts + 0.f;
    if (!bits_equal(back, expected_back)) r.failure = "fold(unfold(x)) " + describe(p) + ": " + first_difference(back, expected_back);
    return r;
}

std::vector<std::vector<int64_t>> image_shapes() { return {{1, 1}, {2, 5}, {6, 3}, {5, 6}}; }

class FoldSweep : public ::testing::TestWithParam<bool> {};

// Kernel 1..3, dilation 1..2, padding 0..2, stride 1..3, on images with sides of 1, 2 and odd
// sizes (some too small for the block: rejected by both), once with one value for both dims
// and once with the values rotated between H and W, given per dim. Batched (N, C, H, W) or
// unbatched (C, H, W), the parameter. Layouts drawn per point from a fixed-seed generator;
// every output layout runs. Rejections are confirmed with libtorch for the uniform points
// (the rotated ones have the same per-dim combinations).
TEST_P(FoldSweep, MatchesTorch) {
    const SingleThreadedOracle single_threaded;
    const bool batched = GetParam();
    torch::manual_seed(900 + batched);
    std::mt19937 rng(901 + batched);
    auto pick = [&](size_t n) { return (size_t)(rng() % n); };
    Tally tally(batched ? "fold sweep batched" : "fold sweep unbatched");
    for (const std::vector<int64_t> &hw : image_shapes()) {
        for (int64_t kernel = 1; kernel <= 3; kernel++) {
            for (int64_t dilation = 1; dilation <= 2; dilation++) {
                for (int64_t padding = 0; padding <= 2; padding++) {
                    for (int64_t stride = 1; stride <= 3; stride++) {
                        for (bool rotated : {false, true}) {
                            std::vector<int64_t> k, d, pd, s;
                            for (int dim = 0; dim < 2; dim++) {
                                const int r = rotated ? dim : 0;
                                k.push_back((kernel - 1 + r) % 3 + 1);
                                d.push_back((dilation - 1 + r) % 2 + 1);
                                pd.push_back((padding + r) % 3);
                                s.push_back((stride - 1 + r) % 3 + 1);
                            }
                            Problem p;
                            p.batched = batched;
                            p.n = 1 + pick(2);
                            p.c = 1 + pick(3);
                            p.hw = hw;
                            p.kernel = option_values(k, -1, rotated);
                            p.dilation = option_values(d, 1, rotated);
                            p.padding = option_values(pd, 0, rotated);
                            p.stride = option_values(s, 1, rotated);
                            Layouts l;
                            l.image = kAllLayouts[pick(3)];
                            l.cols = kAllLayouts[pick(3)];
                            tally.add(check_problem(p, l, !rotated));
                        }
                    }
                }
            }
        }
    }
    EXPECT_GT(tally.compared, 300);
    EXPECT_GT(tally.rejected, 20);
    EXPECT_GT(tally.confirmed, 10);
}

INSTANTIATE_TEST_SUITE_P(BatchedAndUnbatched, FoldSweep, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool> &info) { return info.param ? "batched" : "unbatched"; });

// Every combination of image and columns layouts, for unfold and fold both ways.
TEST(FoldLayouts, EveryCombination) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(910);
    Tally tally("fold layouts");
    for (bool batched : {true, false}) {
        Problem p;
        p.batched = batched;
        p.n = 2;
        p.c = 17;
        p.hw = {9, 11};
        p.kernel = {3, 2};
        p.dilation = {1, 2};
        p.padding = {1};
        p.stride = {2, 1};
        for (Layout image : kAllLayouts) {
            for (Layout cols : kAllLayouts) {
                Layouts l;
                l.image = image;
                l.cols = cols;
                tally.add(check_problem(p, l, true));
            }
        }
    }
    EXPECT_EQ(tally.compared, 18);
}

// Larger, typical uses (patch extraction, sliding windows, overlapping tiles). Also streamed
// (the threshold lowered to 0): unfold's columns of the 3x3 layer (rows of 32 blocks) are
// aligned for its non-temporal variant (hup_unfold_stream), the others are not.
TEST(FoldCommon, TypicalSizes) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(920);
    Tally tally("fold typical");
    auto problem = [](std::vector<int64_t> image, std::vector<int64_t> k, std::vector<int64_t> d, std::vector<int64_t> pd,
                      std::vector<int64_t> s) {
        Problem p;
        p.batched = image.size() == 4;
        if (p.batched) p.n = image[0];
        p.c = image[image.size() - 3];
        p.hw = {image[image.size() - 2], image.back()};
        p.kernel = std::move(k);
        p.dilation = std::move(d);
        p.padding = std::move(pd);
        p.stride = std::move(s);
        return p;
    };
    const std::vector<Problem> problems = {
        problem({2, 16, 32, 32}, {3}, {}, {1}, {}),     // 3x3 im2col of a conv layer
        problem({2, 3, 64, 48}, {16}, {}, {}, {16}),    // ViT patches, no overlap
        problem({1, 8, 37, 41}, {7, 5}, {}, {3, 2}, {4, 3}),  // overlapping tiles, odd sizes
        problem({2, 5, 30, 31}, {3}, {2}, {2}, {1}),    // dilated
        problem({24, 20, 19}, {4}, {}, {1}, {2}),       // unbatched
    };
    for (auto mode : {hup::detail::StreamingMode::Never, hup::detail::StreamingMode::Always}) {
        const hup::detail::StreamingOverride path(0, mode);
        for (const Problem &p : problems) {
            for (Layout layout : {Layout::Contiguous, Layout::ChannelsLast}) {
                Layouts l;
                l.image = layout;
                l.cols = layout;
                l.unfold_out = {Layout::Contiguous, Layout::Strided};
                l.fold_out = {layout, Layout::Strided};
                tally.add(check_problem(p, l, true));
            }
        }
    }
    EXPECT_EQ(tally.compared, (int)problems.size() * 4);
}

// Fixed-seed random problems: per-dim options, sizes up to 20, batched or not, random layouts.
TEST(FoldRandom, FixedSeedCases) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(930);
    std::mt19937 rng(931);
    auto pick = [&](int64_t lo, int64_t hi) { return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1)); };
    Tally tally("fold random");
    for (int i = 0; i < 200; i++) {
        Problem p;
        p.batched = pick(0, 2) > 0;
        p.n = pick(1, 3);
        p.c = pick(1, 8);
        p.hw = {pick(1, 20), pick(1, 20)};
        const bool per_dim = pick(0, 1) == 1;
        std::vector<int64_t> k = {pick(1, 5), pick(1, 5)}, d = {pick(1, 3), pick(1, 3)}, pd = {pick(0, 3), pick(0, 3)},
                             s = {pick(1, 4), pick(1, 4)};
        p.kernel = option_values(k, -1, per_dim);
        p.dilation = option_values(d, 1, per_dim);
        p.padding = option_values(pd, 0, per_dim);
        p.stride = option_values(s, 1, per_dim);
        Layouts l;
        l.image = kAllLayouts[pick(0, 2)];
        l.cols = kAllLayouts[pick(0, 2)];
        l.unfold_out = {kAllLayouts[pick(0, 2)]};
        l.fold_out = {kAllLayouts[pick(0, 2)]};
        tally.add(check_problem(p, l, true));
    }
    EXPECT_GT(tally.compared, 120);
}

// Arbitrary float columns. ATen's col2im adds each block into the image in the order of the
// kernel offset (channel, kernel row, kernel column, then block position), starting from 0;
// hup may add an element's terms in another order. A recursive sum of n terms carries at most
// (n - 1) roundings of FLT_EPSILON/2 of a partial sum, each partial sum at most sum |terms|,
// so two orders differ by at most (n - 1) * FLT_EPSILON * sum |terms|. The bound below is that,
// per element, with n the number of blocks covering the element (fold(unfold(ones))) and the
// magnitude col2im(|cols|) from libtorch: elements covered by at most 2 blocks must be exact
// (0 + a + b is the same in either order), and a missing or misplaced term, which costs the
// whole term, cannot hide under it. The test also reports how many cases were bit-exact.
TEST(FoldRandomFloats, WithinReorderingBound) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(940);
    std::mt19937 rng(941);
    auto pick = [&](int64_t lo, int64_t hi) { return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1)); };
    int compared = 0, exact = 0;
    double worst = 0;  // in units of the per-element bound
    for (int i = 0; i < 100; i++) {
        Problem p;
        p.batched = pick(0, 3) > 0;
        p.n = pick(1, 2);
        p.c = pick(1, 6);
        p.hw = {pick(4, 24), pick(4, 24)};
        p.kernel = {pick(1, 4), pick(1, 4)};
        p.dilation = {pick(1, 2), pick(1, 2)};
        p.padding = {pick(0, 2), pick(0, 2)};
        p.stride = {pick(1, 2), pick(1, 3)};
        std::vector<int64_t> cols_sizes;
        if (!hup::unfold_output_sizes(p.image_sizes(), p.unfold_options(), &cols_sizes).ok()) continue;
        const FoldOptions fo = p.fold_options();
        const at::Tensor cols = torch::rand(cols_sizes) * 2 - 1;
        const at::Tensor expected = hup::torch::reference_fold(cols, fo);
        const at::Tensor magnitude = hup::torch::reference_fold(cols.abs(), fo);
        const at::Tensor counts = hup::torch::reference_fold(torch::ones(cols_sizes), fo);
        const Layout layout = kAllLayouts[pick(0, 2)];
        const at::Tensor out = make_output(expected.sizes().vec(), kAllLayouts[pick(0, 2)], at::kFloat,
                                           image_channel_dim((int64_t)expected.dim()));
        const hup::Status s = hup::torch::fold(cols_in(cols, layout), out, fo);
        ASSERT_TRUE(s.ok()) << describe(p) << ": " << s.message();
        // (1.01: the first-order bound's higher-order terms and the rounding of `magnitude`.)
        const at::Tensor bound = torch::where(counts >= 3, (counts - 1) * (1.01 * FLT_EPSILON) * magnitude, torch::zeros({}));
        const at::Tensor diff = (out - expected).abs();
        EXPECT_TRUE((diff <= bound).all().item<bool>()) << describe(p) << ": max |diff| " << diff.max().item<double>()
                                                        << ", worst ratio to the bound "
                                                        << (diff / (bound + 1e-30)).max().item<double>();
        worst = std::max(worst, (diff / (bound + 1e-30)).masked_fill(bound == 0, 0).max().item<double>());
        exact += bits_equal(out, expected);
        compared++;
        EXPECT_TRUE(outside_untouched(out)) << describe(p);
    }
    EXPECT_GT(compared, 80);
    std::cout << "[ fold floats ] " << compared << " compared, " << exact << " bit-exact; worst error " << worst
              << " of the reordering bound\n";
}

// Empty batches give empty outputs, as in PyTorch.
TEST(FoldSemantics, EmptyBatch) {
    UnfoldOptions uo;
    uo.kernel_size = {2};
    const at::Tensor cols = hup::torch::unfold(torch::rand({0, 3, 4, 5}), uo);
    EXPECT_EQ(cols.sizes(), hup::torch::reference_unfold(torch::rand({0, 3, 4, 5}), uo).sizes());
    FoldOptions fo;
    fo.output_size = {4, 5};
    fo.kernel_size = {2};
    const at::Tensor image = hup::torch::fold(cols, fo);
    EXPECT_EQ(image.sizes(), (std::vector<int64_t>{0, 3, 4, 5}));
}

// The allocating adaptors, and their exceptions.
TEST(FoldTorchAdaptor, AllocatesAndThrows) {
    const SingleThreadedOracle single_threaded;
    torch::manual_seed(950);
    UnfoldOptions uo;
    uo.kernel_size = {3, 2};
    uo.stride = {2};
    const at::Tensor x = image_in(image_values({2, 4, 7, 6}), Layout::ChannelsLast);
    const at::Tensor cols = hup::torch::unfold(x, uo);
    EXPECT_TRUE(bits_equal(cols, hup::torch::reference_unfold(x.contiguous(), uo)));
    FoldOptions fo;
    fo.output_size = {7, 6};
    fo.kernel_size = {3, 2};
    fo.stride = {2};
    const at::Tensor dy = dyadic_values(cols.sizes().vec());
    EXPECT_TRUE(bits_equal(hup::torch::fold(dy, fo), hup::torch::reference_fold(dy, fo)));
    uo.kernel_size = {8};
    EXPECT_THROW(hup::torch::unfold(x, uo), std::invalid_argument);
    fo.kernel_size = {3};
    EXPECT_THROW(hup::torch::fold(dy, fo), std::invalid_argument);
}

}  // namespace
