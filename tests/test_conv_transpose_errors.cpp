// Bad input to conv_transpose: every class returns a specific Status naming the problem, and
// writes nothing.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "hup/hup.h"

using hup::ConvTransposeOptions;
using hup::StatusCode;
using hup::TensorView;

namespace {

constexpr float kSentinel = -12345.f;
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

TensorView view_of(std::vector<float> &data, const std::vector<int64_t> &sizes) {
    TensorView v;
    v.data = data.data();
    v.sizes = sizes;
    return v;
}

// Buffers for a problem of the given sizes: ones in the input, weight and bias, the sentinel
// in the output. Tests then break one view. Sizes that the test fakes (huge or negative) are
// set on the views only: hup must refuse them before reading any data.
struct Problem {
    std::vector<float> in, w, b, out;
    TensorView input, weight, bias, output;
    bool has_bias = false;

    Problem(const std::vector<int64_t> &in_sizes, const std::vector<int64_t> &w_sizes, const std::vector<int64_t> &out_sizes,
            int64_t bias_size = -1) {
        auto count = [](const std::vector<int64_t> &sizes) {
            int64_t n = 1;
            for (int64_t s : sizes) n *= s;
            return (size_t)n;
        };
        in.assign(count(in_sizes), 1.f);
        w.assign(count(w_sizes), 1.f);
        out.assign(count(out_sizes), kSentinel);
        input = view_of(in, in_sizes);
        weight = view_of(w, w_sizes);
        output = view_of(out, out_sizes);
        if (bias_size >= 0) {
            b.assign(bias_size, 1.f);
            bias = view_of(b, {bias_size});
            has_bias = true;
        }
    }
    Problem(const Problem &) = delete;  // the views point into the vectors

    hup::Status run(const ConvTransposeOptions &o) const {
        return hup::conv_transpose(input, weight, has_bias ? &bias : nullptr, output, o);
    }
    bool untouched() const {
        for (float v : out) {
            if (v != kSentinel) return false;
        }
        return true;
    }
};

ConvTransposeOptions opts(std::vector<int64_t> stride = {}, std::vector<int64_t> padding = {},
                          std::vector<int64_t> output_padding = {}, std::vector<int64_t> dilation = {}, int64_t groups = 1) {
    ConvTransposeOptions o;
    o.stride = std::move(stride);
    o.padding = std::move(padding);
    o.output_padding = std::move(output_padding);
    o.dilation = std::move(dilation);
    o.groups = groups;
    return o;
}

ConvTransposeOptions sized(std::vector<int64_t> output_size, std::vector<int64_t> stride = {}) {
    ConvTransposeOptions o = opts(std::move(stride));
    o.output_size = std::move(output_size);
    return o;
}

void expect_status(const hup::Status &s, StatusCode code, const std::string &fragment) {
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), code) << s.message();
    EXPECT_NE(s.message().find(fragment), std::string::npos) << "message: " << s.message();
}

// Expects `code` with `fragment` in the message, and the output left as it was.
void expect_error(const Problem &p, const ConvTransposeOptions &o, StatusCode code, const std::string &fragment) {
    expect_status(p.run(o), code, fragment);
    EXPECT_TRUE(p.untouched());
}

// Also for problems in the sizes and options alone: the sizes query refuses them the same way.
void expect_shape_error(const Problem &p, const ConvTransposeOptions &o, StatusCode code, const std::string &fragment) {
    expect_error(p, o, code, fragment);
    std::vector<int64_t> sizes = {-7};
    expect_status(hup::conv_transpose_output_sizes(p.input.sizes, p.weight.sizes, o, &sizes), code, fragment);
    EXPECT_EQ(sizes, std::vector<int64_t>{-7}) << "the query wrote sizes on error";
}

// A valid 2-D problem: (2, 4, 3, 3) * (4, 3, 3, 3), stride 2, padding 1 -> (2, 3, 5, 5).
const std::vector<int64_t> kIn2d = {2, 4, 3, 3}, kWeight2d = {4, 3, 3, 3}, kOut2d = {2, 3, 5, 5};
ConvTransposeOptions valid_2d() { return opts({2}, {1}); }

TEST(ConvTransposeErrors, ValidProblemRuns) {  // the baseline the other tests break
    Problem p(kIn2d, kWeight2d, kOut2d, 3);
    EXPECT_TRUE(p.run(valid_2d()).ok());
    EXPECT_FALSE(p.untouched());
}

TEST(ConvTransposeErrors, InputRank) {
    Problem flat({2, 4}, {4, 3, 3}, {2, 3, 5});
    expect_shape_error(flat, opts(), StatusCode::InvalidArgument, "3 to 5 dims");
    Problem six({1, 1, 1, 1, 1, 2}, {1, 1, 1, 1, 1, 2}, {1, 1, 1, 1, 1, 3});
    expect_shape_error(six, opts(), StatusCode::InvalidArgument, "3 to 5 dims");
}

TEST(ConvTransposeErrors, WeightRankDiffersFromInput) {
    Problem short_weight(kIn2d, {4, 3, 3}, kOut2d);
    expect_shape_error(short_weight, valid_2d(), StatusCode::InvalidArgument, "weight must have 4 dims");
    Problem long_weight({2, 4, 3}, {4, 3, 3, 3}, {2, 3, 5});
    expect_shape_error(long_weight, opts({2}, {1}), StatusCode::InvalidArgument, "weight must have 3 dims");
}

TEST(ConvTransposeErrors, InputChannelsDifferFromWeight) {
    Problem p({2, 5, 3, 3}, kWeight2d, kOut2d);
    expect_shape_error(p, valid_2d(), StatusCode::ShapeMismatch, "channels");
}

TEST(ConvTransposeErrors, Groups) {
    Problem p(kIn2d, kWeight2d, kOut2d);
    for (int64_t groups : {0, -1}) {
        expect_shape_error(p, opts({2}, {1}, {}, {}, groups), StatusCode::InvalidArgument, "groups must be positive");
    }
    // 3 groups do not divide C_in = 4 (the weight would give C_out = 3 * 3).
    Problem three(kIn2d, kWeight2d, {2, 9, 5, 5});
    expect_shape_error(three, opts({2}, {1}, {}, {}, 3), StatusCode::InvalidArgument, "must divide the input channels");
    // C_out is weight.size(1) * groups, so groups always divide it; an output whose channel
    // count is not that (here 5 for 2 groups of 3) is a shape mismatch.
    Problem odd_out(kIn2d, kWeight2d, {2, 5, 5, 5});
    expect_error(odd_out, opts({2}, {1}, {}, {}, 2), StatusCode::ShapeMismatch, "expected [2, 6, 5, 5]");
}

TEST(ConvTransposeErrors, NonPositiveStrideDilationNegativePadding) {
    Problem p(kIn2d, kWeight2d, kOut2d);
    expect_shape_error(p, opts({0}, {1}), StatusCode::InvalidArgument, "stride must be positive");
    expect_shape_error(p, opts({2, -1}, {1}), StatusCode::InvalidArgument, "stride must be positive (spatial dim 1)");
    expect_shape_error(p, opts({2}, {1}, {}, {0}), StatusCode::InvalidArgument, "dilation must be positive");
    expect_shape_error(p, opts({2}, {1}, {}, {1, -2}), StatusCode::InvalidArgument, "dilation must be positive");
    expect_shape_error(p, opts({2}, {-1}), StatusCode::InvalidArgument, "padding must be non-negative");
    expect_shape_error(p, opts({2}, {1}, {-1}), StatusCode::InvalidArgument, "output_padding must be non-negative");
}

TEST(ConvTransposeErrors, OutputPaddingNotBelowStrideOrDilation) {
    Problem p(kIn2d, kWeight2d, {2, 3, 7, 7});
    // 2 >= stride 2 and >= dilation 1 (or 2): refused, in either dim.
    expect_shape_error(p, opts({2}, {1}, {2}), StatusCode::InvalidArgument, "smaller than stride or dilation");
    expect_shape_error(p, opts({2}, {1}, {0, 2}, {2}), StatusCode::InvalidArgument, "smaller than stride or dilation (spatial dim 1)");
    // Below the dilation is enough, as in PyTorch: output_padding 2 with stride 1, dilation 3.
    Problem ok({2, 4, 3}, {4, 3, 3}, {2, 3, 3 - 1 + 3 * 2 + 2 + 1});
    EXPECT_TRUE(ok.run(opts({1}, {}, {2}, {3})).ok());
}

TEST(ConvTransposeErrors, OptionOfWrongLength) {
    const std::pair<std::vector<int64_t> ConvTransposeOptions::*, const char *> fields[] = {
        {&ConvTransposeOptions::stride, "stride"},
        {&ConvTransposeOptions::padding, "padding"},
        {&ConvTransposeOptions::output_padding, "output_padding"},
        {&ConvTransposeOptions::dilation, "dilation"}};
    Problem p2(kIn2d, kWeight2d, kOut2d), p1({2, 4, 3}, {4, 3, 3}, {2, 3, 5});
    for (const auto &[field, name] : fields) {
        ConvTransposeOptions o = valid_2d();
        o.*field = {1, 1, 1};
        expect_shape_error(p2, o, StatusCode::InvalidArgument, std::string(name) + " must have 1 or 2 values, got 3");
        o = opts({2}, {1});
        o.*field = {1, 1};
        expect_shape_error(p1, o, StatusCode::InvalidArgument, std::string(name) + " must have 1");
        expect_shape_error(p1, o, StatusCode::InvalidArgument, "got 2");
    }
}

TEST(ConvTransposeErrors, OutputShapeMismatch) {
    for (std::vector<int64_t> wrong : {std::vector<int64_t>{2, 3, 5, 6}, {1, 3, 5, 5}, {2, 3, 25}, {2, 3, 5, 5, 1}}) {
        Problem p(kIn2d, kWeight2d, wrong);
        expect_error(p, valid_2d(), StatusCode::ShapeMismatch, "expected [2, 3, 5, 5]");
    }
    Problem six(kIn2d, kWeight2d, {2, 3, 5, 5, 1, 1});
    expect_error(six, valid_2d(), StatusCode::InvalidArgument, "output must have 3 to 5 dims");
}

TEST(ConvTransposeErrors, Bias) {
    Problem wrong_size(kIn2d, kWeight2d, kOut2d, 4);
    expect_error(wrong_size, valid_2d(), StatusCode::ShapeMismatch, "bias has 4 elements, expected C_out = 3");
    Problem wrong_rank(kIn2d, kWeight2d, kOut2d, 3);
    wrong_rank.bias.sizes = {1, 3};
    expect_error(wrong_rank, valid_2d(), StatusCode::InvalidArgument, "bias must have 1 dims");
    wrong_rank.bias.sizes = {};
    expect_error(wrong_rank, valid_2d(), StatusCode::InvalidArgument, "bias must have 1 dims");
}

TEST(ConvTransposeErrors, NullData) {
    const char *names[] = {"input", "weight", "bias", "output"};
    for (int i = 0; i < 4; i++) {
        Problem p(kIn2d, kWeight2d, kOut2d, 3);
        TensorView *views[] = {&p.input, &p.weight, &p.bias, &p.output};
        views[i]->data = nullptr;
        expect_error(p, valid_2d(), StatusCode::InvalidArgument, std::string(names[i]) + " data is null");
    }
}

TEST(ConvTransposeErrors, NegativeSizesAndBadStrides) {
    Problem p(kIn2d, kWeight2d, kOut2d);
    p.input.sizes = {2, 4, -3, 3};
    expect_shape_error(p, valid_2d(), StatusCode::InvalidArgument, "negative size");
    Problem q(kIn2d, kWeight2d, kOut2d);
    q.weight.strides = {27, 9, 3};
    expect_error(q, valid_2d(), StatusCode::InvalidArgument, "weight has 3 strides for 4 dims");
}

TEST(ConvTransposeErrors, EmptyWeightOrSpatialInput) {
    Problem empty_kernel(kIn2d, {4, 3, 0, 3}, kOut2d);
    expect_shape_error(empty_kernel, valid_2d(), StatusCode::InvalidArgument, "weight sizes must be positive");
    Problem empty_spatial({2, 4, 0, 3}, kWeight2d, kOut2d);
    expect_shape_error(empty_spatial, valid_2d(), StatusCode::InvalidArgument, "input spatial sizes must be positive");
}

TEST(ConvTransposeErrors, NonPositiveOutputSize) {
    // (1 - 1) * 1 - 2 * 1 + 1 * (1 - 1) + 1 = -1, and 0 with stride 2 and output_padding 1.
    Problem p({2, 4, 1}, {4, 3, 1}, {2, 3, 1});
    expect_shape_error(p, opts({1}, {1}), StatusCode::InvalidArgument, "output size -1 (spatial dim 0) is not positive");
    expect_shape_error(p, opts({2}, {1}, {1}), StatusCode::InvalidArgument, "output size 0 (spatial dim 0) is not positive");
}

TEST(ConvTransposeErrors, OutputSizeOfWrongLength) {
    Problem p(kIn2d, kWeight2d, kOut2d);
    for (std::vector<int64_t> size : {std::vector<int64_t>{5}, {3, 5, 5}, {2, 3, 5, 5, 5}}) {
        expect_shape_error(p, sized(size, {2}), StatusCode::InvalidArgument, "output_size must have 2 or 4 values");
    }
}

TEST(ConvTransposeErrors, OutputSizeOutOfRange) {
    // The sizes with stride 2: min 2 * 2 + 3 = 7 (no padding), max 8.
    for (int64_t bad : {6, 9}) {
        Problem p(kIn2d, kWeight2d, {2, 3, 7, bad});
        expect_shape_error(p, sized({7, bad}, {2}), StatusCode::InvalidArgument,
                           "output_size " + std::to_string(bad) + " (spatial dim 1) must lie in [7, 8]");
        expect_shape_error(p, sized({2, 3, 7, bad}, {2}), StatusCode::InvalidArgument, "must lie in [7, 8]");
    }
    // A size hup accepts, written into a buffer of another size, is still a mismatch.
    Problem q(kIn2d, kWeight2d, {2, 3, 7, 7});
    expect_error(q, sized({8, 8}, {2}), StatusCode::ShapeMismatch, "expected [2, 3, 8, 8]");
}

TEST(ConvTransposeErrors, SizesThatOverflowInt64) {
    // Only sizes are read before the checks fail, so fake sizes over small buffers are safe.
    Problem long_input({1, 1, 4}, {1, 1, 3}, {1, 1, 6});
    long_input.input.sizes = {1, 1, int64_t(1) << 62};
    expect_shape_error(long_input, opts({4}), StatusCode::InvalidArgument, "overflow");
    Problem p({1, 1, 4}, {1, 1, 3}, {1, 1, 6});
    expect_shape_error(p, opts({kInt64Max}), StatusCode::InvalidArgument, "overflow");
    expect_shape_error(p, opts({1}, {}, {}, {kInt64Max}), StatusCode::InvalidArgument, "overflow");
    expect_shape_error(p, opts({1}, {kInt64Max}), StatusCode::InvalidArgument, "overflow");
    expect_shape_error(p, opts({2}, {}, {kInt64Max - 1}, {kInt64Max}), StatusCode::InvalidArgument, "overflow");
    // C_out = weight.size(1) * groups overflows.
    Problem channels({1, 2, 4}, {2, 1, 3}, {1, 2, 6});
    channels.weight.sizes = {2, int64_t(1) << 62, 1};
    expect_shape_error(channels, opts({}, {}, {}, {}, 2), StatusCode::InvalidArgument, "overflow");
    // Every size fits, but their product (the output's element count) does not.
    Problem count({1, 1, 4}, {1, 1, 3}, {1, 1, 6});
    count.input.sizes = {int64_t(1) << 40, 1, int64_t(1) << 20};
    count.weight.sizes = {1, int64_t(1) << 10, 1};
    expect_shape_error(count, opts(), StatusCode::InvalidArgument, "overflow");
}

TEST(ConvTransposeErrors, BeyondHalideAddressing) {
    // 2^32 output elements fit int64 but not Halide's 32-bit offsets: refused before any work.
    Problem p({1, 1, 4}, {1, 1, 3}, {1, 1, 6});
    p.input.sizes = {1, 1, int64_t(1) << 20};
    p.weight.sizes = {1, 4096, 1};
    p.output.sizes = {1, 4096, int64_t(1) << 20};
    expect_error(p, opts(), StatusCode::Unsupported, "2 GiB");
}

TEST(ConvTransposeErrors, BorderedInputBeyondHalideAddressing) {
    // Few output channels, channels_last (input-channel tiles): the input fits Halide's 32-bit
    // offsets, but the zero-bordered copy with its channels padded (13 -> 16) would not (1.75
    // against 2.16 GB). Refused before the copy is made, so the fake sizes over small buffers
    // are never read. A CPU path: device runs move the (fake-sized) tensors to the device first.
    if (std::getenv("HUP_TEST_DEVICE")) GTEST_SKIP() << "the bordered copy is CPU-only";
    Problem p({1, 13, 4, 4}, {13, 3, 3, 3}, {1, 3, 4, 4});
    p.input.sizes = {1, 13, 5800, 5800};
    p.input.strides = {13 * 5800 * 5800, 1, 13 * 5800, 13};
    p.output.sizes = {1, 3, 5800, 5800};
    p.output.strides = {3 * 5800 * 5800, 1, 3 * 5800, 3};
    expect_error(p, opts({1}, {1}), StatusCode::Unsupported, "once bordered");
}

TEST(ConvTransposeErrors, PlanarBorderedInputBeyondHalideAddressing) {
    // Few output channels, planar (position tiles): a 23170 x 23170 plane fits Halide's 32-bit
    // offsets by 87 KB, its bordered copy (a column and a row either side, and the last tile's
    // reach) does not.
    if (std::getenv("HUP_TEST_DEVICE")) GTEST_SKIP() << "the bordered copy is CPU-only";
    Problem p({1, 1, 4, 4}, {1, 1, 3, 3}, {1, 1, 4, 4});
    p.input.sizes = {1, 1, 23170, 23170};
    p.output.sizes = {1, 1, 23170, 23170};
    expect_error(p, opts({1}, {1}), StatusCode::Unsupported, "once bordered");
}

// PyTorch accepts an empty batch and returns an empty output: so does hup, writing nothing
// (here through null data pointers, which are fine for empty tensors).
TEST(ConvTransposeErrors, EmptyBatchIsOk) {
    const ConvTransposeOptions o = valid_2d();
    std::vector<int64_t> sizes;
    ASSERT_TRUE(hup::conv_transpose_output_sizes({0, 4, 3, 3}, kWeight2d, o, &sizes).ok());
    EXPECT_EQ(sizes, (std::vector<int64_t>{0, 3, 5, 5}));
    std::vector<float> w(4 * 3 * 3 * 3, 1.f), b(3, 1.f);
    TensorView input{nullptr, hup::DType::Float32, {0, 4, 3, 3}, {}}, weight = view_of(w, kWeight2d), bias = view_of(b, {3});
    TensorView output{nullptr, hup::DType::Float32, sizes, {}};
    EXPECT_TRUE(hup::conv_transpose(input, weight, &bias, output, o).ok());
    EXPECT_TRUE(hup::conv_transpose(input, weight, nullptr, output, o).ok());
    // The empty output still has to have the right sizes.
    output.sizes = {0, 3, 5, 4};
    const hup::Status s = hup::conv_transpose(input, weight, nullptr, output, o);
    EXPECT_EQ(s.code(), StatusCode::ShapeMismatch) << s.message();
}

// A plan refuses to run unprepared, prepare() checks the weight, bias and options like
// conv_transpose, and run() checks the input and output against the plan.
TEST(ConvTransposeErrors, Plan) {
    Problem p(kIn2d, kWeight2d, kOut2d, 3);
    hup::ConvTransposePlan plan;
    expect_status(plan.run(p.input, p.output), StatusCode::InvalidArgument, "not prepared");
    expect_status(plan.prepare(p.weight, &p.bias, opts({2}, {1}, {}, {}, 0)), StatusCode::InvalidArgument, "groups must be positive");
    // An output_padding no input can use: prepare() may leave it to run(), where output_size
    // (which overrides it) is known to be absent.
    hup::Status s = plan.prepare(p.weight, &p.bias, opts({2}, {1}, {2}));
    if (s.ok()) s = plan.run(p.input, p.output);
    expect_status(s, StatusCode::InvalidArgument, "smaller than stride or dilation");
    Problem long_bias(kIn2d, kWeight2d, kOut2d, 4);
    expect_status(plan.prepare(long_bias.weight, &long_bias.bias, valid_2d()), StatusCode::ShapeMismatch, "bias has 4 elements");
    TensorView null_weight = p.weight;
    null_weight.data = nullptr;
    expect_status(plan.prepare(null_weight, nullptr, valid_2d()), StatusCode::InvalidArgument, "weight data is null");
    EXPECT_TRUE(p.untouched());

    ASSERT_TRUE(plan.prepare(p.weight, &p.bias, valid_2d()).ok());
    Problem channels({2, 5, 3, 3}, kWeight2d, kOut2d);
    expect_status(plan.run(channels.input, channels.output), StatusCode::ShapeMismatch, "channels");
    EXPECT_TRUE(channels.untouched());
    Problem wrong_out(kIn2d, kWeight2d, {2, 3, 5, 6});
    expect_status(plan.run(wrong_out.input, wrong_out.output), StatusCode::ShapeMismatch, "expected [2, 3, 5, 5]");
    EXPECT_TRUE(wrong_out.untouched());
    Problem rank({2, 4, 3}, kWeight2d, {2, 3, 5});
    expect_status(plan.run(rank.input, rank.output), StatusCode::InvalidArgument, "must have 4 dims");
    EXPECT_TRUE(rank.untouched());
}

// A problem that runs on the listed-position kernel (2-D channels_last, one group, 8 or more
// output channels, a small grid): its bad input is refused like any other, writing nothing.
TEST(ConvTransposeErrors, ListedPositionsRefuseBadInput) {
    // Input and output channels_last (NHWC strides), a 2-D problem each.
    auto channels_last = [](Problem *problem) {
        for (TensorView *t : {&problem->input, &problem->output}) {
            const std::vector<int64_t> &s = t->sizes;
            t->strides = {s[1] * s[2] * s[3], 1, s[3] * s[1], s[1]};
        }
    };
    Problem ok({2, 16, 4, 4}, {16, 8, 4, 4}, {2, 8, 8, 8}, 8);
    channels_last(&ok);
    ASSERT_TRUE(ok.run(opts({2}, {1})).ok());
    Problem wrong_out({2, 16, 4, 4}, {16, 8, 4, 4}, {2, 8, 8, 9}, 8);
    channels_last(&wrong_out);
    expect_error(wrong_out, opts({2}, {1}), StatusCode::ShapeMismatch, "expected [2, 8, 8, 8]");
    Problem wrong_bias({2, 16, 4, 4}, {16, 8, 4, 4}, {2, 8, 8, 8}, 9);
    channels_last(&wrong_bias);
    expect_error(wrong_bias, opts({2}, {1}), StatusCode::ShapeMismatch, "bias has 9 elements");
    Problem padding_too_large({2, 16, 4, 4}, {16, 8, 4, 4}, {2, 8, 1, 1}, 8);
    channels_last(&padding_too_large);
    expect_error(padding_too_large, opts({2}, {5}), StatusCode::InvalidArgument, "not positive");
}

TEST(ConvTransposeErrors, SizesQueryNeedsAResult) {
    const hup::Status s = hup::conv_transpose_output_sizes(kIn2d, kWeight2d, valid_2d(), nullptr);
    EXPECT_EQ(s.code(), StatusCode::InvalidArgument);
    EXPECT_NE(s.message().find("output_sizes is null"), std::string::npos) << s.message();
}

}  // namespace
