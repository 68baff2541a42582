// Bad input: every class returns a non-ok Status naming the problem, and writes nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "hup/hup.h"
#include "interpolate_variants.h"
#include "tensor_check.h"

using hup::InterpolateMode;
using hup::InterpolateOptions;
using hup::StatusCode;
using hup::TensorView;

namespace {

constexpr float kSentinel = -12345.f;

struct Buffers {
    std::vector<float> in, out;
    TensorView input, output;
    Buffers(std::vector<int64_t> in_sizes, std::vector<int64_t> out_sizes) {
        int64_t n = 1, m = 1;
        for (auto s : in_sizes) n *= s;
        for (auto s : out_sizes) m *= s;
        in.assign(n, 1.f);
        out.assign(m, kSentinel);
        input.data = in.data();
        input.sizes = in_sizes;
        output.data = out.data();
        output.sizes = out_sizes;
    }
    bool untouched() const {
        for (float v : out) {
            if (v != kSentinel) return false;
        }
        return true;
    }
};

InterpolateOptions opts(InterpolateMode mode, std::vector<int64_t> size, std::vector<double> scale = {}) {
    InterpolateOptions o;
    o.mode = mode;
    o.size = std::move(size);
    o.scale_factor = std::move(scale);
    return o;
}

// Expects `code` with `fragment` in the message, and the output left as it was.
void expect_error(Buffers &b, const InterpolateOptions &o, StatusCode code, const std::string &fragment) {
    hup::Status s = hup::interpolate(b.input, b.output, o);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), code) << s.message();
    EXPECT_NE(s.message().find(fragment), std::string::npos) << "message: " << s.message();
    EXPECT_TRUE(b.untouched());
}

TEST(InterpolateErrors, WrongRankForMode) {
    Buffers b3({1, 2, 4}, {1, 2, 8}), b4({1, 2, 4, 4}, {1, 2, 8, 8}), b5({1, 1, 2, 2, 2}, {1, 1, 4, 4, 4});
    expect_error(b3, opts(InterpolateMode::Bilinear, {8}), StatusCode::InvalidArgument, "needs 4-D");
    expect_error(b3, opts(InterpolateMode::Bicubic, {8}), StatusCode::InvalidArgument, "needs 4-D");
    expect_error(b4, opts(InterpolateMode::Linear, {8, 8}), StatusCode::InvalidArgument, "needs 3-D");
    expect_error(b4, opts(InterpolateMode::Trilinear, {8, 8}), StatusCode::InvalidArgument, "needs 5-D");
    expect_error(b5, opts(InterpolateMode::Bilinear, {4, 4, 4}), StatusCode::InvalidArgument, "needs 4-D");
    Buffers b2({2, 4}, {2, 8}), b6({1, 1, 1, 1, 1, 2}, {1, 1, 1, 1, 1, 4});
    expect_error(b2, opts(InterpolateMode::Nearest, {8}), StatusCode::InvalidArgument, "3 to 5 dims");
    expect_error(b6, opts(InterpolateMode::Nearest, {4}), StatusCode::InvalidArgument, "3 to 5 dims");
}

TEST(InterpolateErrors, SizeAndScaleBothOrNeither) {
    Buffers b({1, 2, 4, 4}, {1, 2, 8, 8});
    expect_error(b, opts(InterpolateMode::Nearest, {8, 8}, {2.0}), StatusCode::InvalidArgument, "only one of size or scale_factor");
    expect_error(b, opts(InterpolateMode::Nearest, {}), StatusCode::InvalidArgument, "either size or scale_factor");
    auto o = opts(InterpolateMode::Nearest, {8, 8});
    o.recompute_scale_factor = true;
    expect_error(b, o, StatusCode::InvalidArgument, "recompute_scale_factor");
    expect_error(b, opts(InterpolateMode::Nearest, {8, 8, 8}), StatusCode::InvalidArgument, "size has 3 values");
    expect_error(b, opts(InterpolateMode::Nearest, {}, {2, 2, 2}), StatusCode::InvalidArgument, "scale_factor has 3 values");
}

TEST(InterpolateErrors, NonPositiveSizesAndScales) {
    Buffers b({1, 2, 4, 4}, {1, 2, 8, 8});
    expect_error(b, opts(InterpolateMode::Nearest, {0, 8}), StatusCode::InvalidArgument, "greater than 0");
    expect_error(b, opts(InterpolateMode::Nearest, {-3}), StatusCode::InvalidArgument, "greater than 0");
    expect_error(b, opts(InterpolateMode::Nearest, {}, {0.0}), StatusCode::InvalidArgument, "positive");
    expect_error(b, opts(InterpolateMode::Nearest, {}, {-2.0}), StatusCode::InvalidArgument, "positive");
    expect_error(b, opts(InterpolateMode::Nearest, {}, {std::nan("")}), StatusCode::InvalidArgument, "positive");
    expect_error(b, opts(InterpolateMode::Nearest, {}, {INFINITY}), StatusCode::InvalidArgument, "finite");
    expect_error(b, opts(InterpolateMode::Nearest, {}, {0.1}), StatusCode::InvalidArgument, "empty output");
    Buffers empty_spatial({1, 2, 0, 4}, {1, 2, 8, 8});
    expect_error(empty_spatial, opts(InterpolateMode::Nearest, {8, 8}), StatusCode::InvalidArgument, "spatial sizes");
    Buffers negative({1, 2, 4, 4}, {1, 2, 8, 8});
    negative.input.sizes = {1, -2, 4, 4};
    expect_error(negative, opts(InterpolateMode::Nearest, {8, 8}), StatusCode::InvalidArgument, "negative size");
}

TEST(InterpolateErrors, AlignCornersOnlyForInterpolatingModes) {
    Buffers b({1, 2, 4, 4}, {1, 2, 8, 8});
    for (auto mode : {InterpolateMode::Nearest, InterpolateMode::NearestExact, InterpolateMode::Area}) {
        for (bool value : {false, true}) {
            auto o = opts(mode, {8, 8});
            o.align_corners = value;
            expect_error(b, o, StatusCode::InvalidArgument, "align_corners");
        }
    }
}

TEST(InterpolateErrors, AntialiasOnUnsupportedModeOrRank) {
    Buffers b4({1, 2, 4, 4}, {1, 2, 8, 8}), b3({1, 2, 4}, {1, 2, 8}), b5({1, 1, 2, 2, 2}, {1, 1, 4, 4, 4});
    for (auto mode : {InterpolateMode::Nearest, InterpolateMode::NearestExact, InterpolateMode::Area}) {
        auto o = opts(mode, {8, 8});
        o.antialias = true;
        expect_error(b4, o, StatusCode::InvalidArgument, "antialias");
    }
    auto o = opts(InterpolateMode::Linear, {8});
    o.antialias = true;
    expect_error(b3, o, StatusCode::InvalidArgument, "antialias");
    o = opts(InterpolateMode::Trilinear, {4, 4, 4});
    o.antialias = true;
    expect_error(b5, o, StatusCode::InvalidArgument, "antialias");
}

TEST(InterpolateErrors, OutputSizesMustMatch) {
    Buffers b({1, 2, 4, 4}, {1, 2, 8, 7});
    expect_error(b, opts(InterpolateMode::Bilinear, {8, 8}), StatusCode::ShapeMismatch, "expected [1, 2, 8, 8]");
    Buffers c({1, 2, 4, 4}, {1, 3, 8, 8});
    expect_error(c, opts(InterpolateMode::Nearest, {8, 8}), StatusCode::ShapeMismatch, "output has sizes");
    Buffers r({1, 2, 4, 4}, {1, 2, 8, 8, 1});
    expect_error(r, opts(InterpolateMode::Nearest, {8, 8}), StatusCode::ShapeMismatch, "output has sizes");
}

TEST(InterpolateErrors, NullData) {
    Buffers b({1, 2, 4, 4}, {1, 2, 8, 8});
    b.input.data = nullptr;
    expect_error(b, opts(InterpolateMode::Nearest, {8, 8}), StatusCode::InvalidArgument, "input data is null");
    Buffers c({1, 2, 4, 4}, {1, 2, 8, 8});
    TensorView null_out = c.output;
    null_out.data = nullptr;
    hup::Status s = hup::interpolate(c.input, null_out, opts(InterpolateMode::Nearest, {8, 8}));
    EXPECT_EQ(s.code(), StatusCode::InvalidArgument);
    EXPECT_NE(s.message().find("output data is null"), std::string::npos);
}

TEST(InterpolateErrors, StridesOfWrongLength) {
    Buffers b({1, 2, 4, 4}, {1, 2, 8, 8});
    b.input.strides = {32, 16, 4};
    expect_error(b, opts(InterpolateMode::Nearest, {8, 8}), StatusCode::InvalidArgument, "strides");
}

TEST(InterpolateErrors, SizesThatOverflow) {
    Buffers b({1, 2, 4, 4}, {1, 2, 8, 8});
    // Only the sizes are read before the check fails, so fake sizes over real memory are safe.
    b.input.sizes = {int64_t(1) << 40, int64_t(1) << 40, 4, 4};
    expect_error(b, opts(InterpolateMode::Nearest, {8, 8}), StatusCode::InvalidArgument, "overflow");
    Buffers c({1, 2, 4, 4}, {1, 2, 8, 8});
    expect_error(c, opts(InterpolateMode::Nearest, {}, {1e300}), StatusCode::InvalidArgument, "overflow");
    // Fits int64 but not Halide's 32-bit addressing: refused before any work.
    Buffers d({1, 2, 4, 4}, {1, 2, 8, 8});
    d.output.sizes = {1, 2, 100000, 100000};
    expect_error(d, opts(InterpolateMode::Nearest, {100000, 100000}), StatusCode::Unsupported, "2 GiB");
}

TEST(InterpolateErrors, OutputSizesQueryChecksToo) {
    std::vector<int64_t> out;
    EXPECT_EQ(hup::interpolate_output_sizes({1, 2, 4}, opts(InterpolateMode::Bilinear, {8}), &out).code(),
              StatusCode::InvalidArgument);
    EXPECT_EQ(hup::interpolate_output_sizes({1, 2, 4}, opts(InterpolateMode::Linear, {8}), nullptr).code(),
              StatusCode::InvalidArgument);
    ASSERT_TRUE(hup::interpolate_output_sizes({1, 2, 32}, opts(InterpolateMode::Linear, {}, {0.9999}), &out).ok());
    EXPECT_EQ(out, (std::vector<int64_t>{1, 2, 31}));  // floor(32 * 0.9999), PyTorch's truncation
}

// A Halide runtime error (here: a tap table shorter than the output) comes back as a
// RuntimeError Status with Halide's message, instead of Halide's default abort.
TEST(InterpolateErrors, HalideRuntimeErrorBecomesStatus) {
    auto kernel = hup::detail::find_interpolate_kernel(2, 1, false);
    ASSERT_NE(kernel, nullptr);
    // A linear plan for 8 -> 3 outputs, run on an output of 16: its tables are too short.
    const hup::detail::ResamplePlan plan =
        hup::detail::make_resample_plan(hup::detail::Resampling::Linear, {{8, 3, std::nullopt}}, false);
    std::vector<float> in(8, 1.f), out(16, kSentinel);
    TensorView in_view{in.data(), hup::DType::Float32, {1, 1, 8}, {}};
    TensorView out_view{out.data(), hup::DType::Float32, {1, 1, 16}, {}};
    hup::detail::HalideView hin, hout;
    hup::detail::make_halide_view(in_view, &hin);
    hup::detail::make_halide_view(out_view, &hout);
    hup::Status s = hup::detail::run_pipeline("interpolate", [&](void *uc) {
        return hup::detail::run_interpolate_kernel(kernel, uc, &hin.buffer, plan, 1, 0, &hout.buffer);
    });
    EXPECT_EQ(s.code(), StatusCode::RuntimeError);
    EXPECT_NE(s.message().find("tap_start"), std::string::npos) << s.message();
    for (float v : out) EXPECT_EQ(v, kSentinel);
}

}  // namespace
