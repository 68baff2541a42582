// The float arithmetic here mirrors ATen 1.13's (UpSample.h, UpSampleKernel.cpp,
// UpSampleBicubic2d.cpp, AdaptivePooling.h) operation for operation, including where ATen
// promotes to double, so that source indices land on the same input element as PyTorch's.
// This file is compiled with -ffp-contract=off: a fused multiply-add would round differently.
#include "resample_plan.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace hup {
namespace detail {

namespace {

// compute_scales_value<float>: the user's scale maps with 1/scale; otherwise in/out.
float coordinate_scale(const AxisSpec &axis) {
    if (axis.scale && *axis.scale > 0.) return static_cast<float>(1.0 / *axis.scale);
    return static_cast<float>(axis.in_size) / axis.out_size;
}

// area_pixel_compute_scale<float>
float area_pixel_scale(const AxisSpec &axis, bool align_corners) {
    if (align_corners) {
        return axis.out_size > 1 ? static_cast<float>(axis.in_size - 1) / (axis.out_size - 1) : 0.f;
    }
    return coordinate_scale(axis);
}

// area_pixel_compute_source_index<T>, evaluated in double as ATen's CPU kernels do for float
// (acc_type<float> is double on CPU). In float, the fraction of a coordinate near 300 would
// carry 2e-5 of rounding error into the weights.
template <typename T>
T source_coordinate(float scale, int64_t o, bool align_corners, bool cubic) {
    if (align_corners) return static_cast<T>(scale) * o;
    const T src = static_cast<T>(scale) * (o + static_cast<T>(0.5)) - static_cast<T>(0.5);
    return (!cubic && src < 0) ? T(0) : src;
}

struct Taps {
    int32_t start = 0;
    int32_t count = 0;
    std::vector<float> weight;  // sized to the plan's tap count
};

// One output position's taps.
void nearest_taps(const AxisSpec &a, int64_t o, bool exact, Taps *t) {
    // nearest: floor(o * s), OpenCV's rule; nearest-exact: floor((o + 0.5) * s), with the
    // product in double as ATen writes it.
    const float scale = coordinate_scale(a);
    const float real = exact ? static_cast<float>((o + 0.5) * scale) : o * scale;
    t->start = (int32_t)std::min(static_cast<int64_t>(std::floor(real)), a.in_size - 1);
    t->count = 1;
    t->weight[0] = 1.f;
}

void linear_taps(const AxisSpec &a, float scale, int64_t o, bool align_corners, Taps *t) {
    t->count = 2;
    if (a.out_size == a.in_size) {  // ATen copies same-size axes
        t->start = (int32_t)o;
        t->weight[0] = 1.f;
        t->weight[1] = 0.f;
        return;
    }
    const double real = source_coordinate<double>(scale, o, align_corners, /*cubic=*/false);
    const int64_t i0 = static_cast<int64_t>(real);
    const float lambda1 = static_cast<float>(real - i0);
    t->start = (int32_t)i0;  // the second tap is clamped to the last element, as in ATen
    t->weight[0] = 1.f - lambda1;
    t->weight[1] = lambda1;
}

float cubic_near(float x, float A) { return ((A + 2) * x - (A + 3)) * x * x + 1; }       // |x| <= 1
float cubic_far(float x, float A) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; }  // 1 < |x| < 2

void cubic_taps(float scale, int64_t o, bool align_corners, bool identity, Taps *t) {
    t->count = 4;
    if (identity) {  // UpSampleBicubic2d copies when every spatial size is unchanged
        t->start = (int32_t)o - 1;
        t->weight[0] = 0.f, t->weight[1] = 1.f, t->weight[2] = 0.f, t->weight[3] = 0.f;
        return;
    }
    const float A = -0.75f;
    const double real = source_coordinate<double>(scale, o, align_corners, /*cubic=*/true);
    const int64_t i = static_cast<int64_t>(std::floor(real));
    const float frac = static_cast<float>(real - i);
    const float rest = static_cast<float>(1.0 - frac);
    t->start = (int32_t)(i - 1);
    t->weight[0] = cubic_far(static_cast<float>(frac + 1.0), A);
    t->weight[1] = cubic_near(frac, A);
    t->weight[2] = cubic_near(rest, A);
    t->weight[3] = cubic_far(static_cast<float>(rest + 1.0), A);
}

// adaptive_avg_pool window [start_index, end_index), as mean weights.
void area_taps(const AxisSpec &a, int64_t o, Taps *t) {
    const int64_t in = a.in_size, out = a.out_size;
    const int64_t start = (o / out) * in + ((o % out) * in) / out;
    const int64_t end = 1 + ((o + 1) * in - 1) / out;
    t->start = (int32_t)start;
    t->count = (int32_t)(end - start);
    const float w = 1.f / t->count;
    for (int k = 0; k < t->count; k++) t->weight[k] = w;
}

// ATen's antialias filters, evaluated in double as ATen's macros promote them.
float triangle_filter(float x) {
    if (x < 0) x = -x;
    return x < 1 ? 1 - x : 0;
}
float aa_cubic_filter(float x) {
    const double a = -0.5;
    if (x < 0) x = -x;
    if (x < 1) return static_cast<float>(((a + 2.0) * x - (a + 3.0)) * x * x + 1);
    if (x < 2) return static_cast<float>((((x - 5) * x + 8) * x - 4) * a);
    return 0;
}

void antialias_taps(const AxisSpec &a, float scale, float support, int max_taps, int64_t o, bool cubic, Taps *t) {
    const float center = scale * (o + 0.5);
    const float invscale = (scale >= 1.0) ? 1.0 / scale : 1.0;
    const int64_t xmin = std::max(static_cast<int64_t>(center - support + 0.5), int64_t(0));
    const int64_t xsize = std::min(std::min(static_cast<int64_t>(center + support + 0.5), a.in_size) - xmin, int64_t(max_taps));
    float total = 0;
    t->start = (int32_t)xmin;
    t->count = (int32_t)std::max<int64_t>(xsize, 0);
    for (int64_t j = 0; j < xsize; j++) {
        const float arg = static_cast<float>((j + xmin - center + 0.5) * invscale);
        const float w = cubic ? aa_cubic_filter(arg) : triangle_filter(arg);
        t->weight[j] = w;
        total += w;
    }
    for (int64_t j = 0; j < xsize; j++) {
        if (total != 0.0f) t->weight[j] /= total;
    }
}

}  // namespace

namespace {

// floor(slope*o + offset) as the Halide code may evaluate it: rounded after the multiply, or
// fused into one FMA. The bracket must hold either way.
bool bracket_holds(float slope, float offset, int64_t o, int64_t bound, bool is_lower) {
    const float o_f = static_cast<float>(o);
    const float separate = std::floor(static_cast<float>(slope * o_f) + offset);
    const float fused = std::floor(static_cast<float>(static_cast<double>(slope) * o_f + offset));
    return is_lower ? std::max(separate, fused) <= bound : std::min(separate, fused) >= bound;
}

}  // namespace

ResamplePlan make_resample_plan(Resampling kind, const std::vector<AxisSpec> &axes, bool align_corners) {
    ResamplePlan plan;
    const int rank = (int)axes.size();
    const bool cubic_identity = kind == Resampling::Cubic &&
                                std::all_of(axes.begin(), axes.end(), [](const AxisSpec &a) { return a.in_size == a.out_size; });

    // Every output position's taps, axis by axis.
    std::vector<std::vector<Taps>> all(rank);
    int max_count = 1;
    for (int d = 0; d < rank; d++) {
        const AxisSpec &a = axes[d];
        const float scale = area_pixel_scale(a, align_corners);
        int bound = 4;  // taps an output position may use on this axis
        float support = 0;
        if (kind == Resampling::Area) {
            // The widest adaptive window: ceil(in/out) + 1 covers every start/end rounding.
            bound = (int)std::min<int64_t>((a.in_size + a.out_size - 1) / a.out_size + 1, a.in_size);
        } else if (kind == Resampling::AntialiasLinear || kind == Resampling::AntialiasCubic) {
            const int interp_size = kind == Resampling::AntialiasCubic ? 4 : 2;
            support = static_cast<float>(scale >= 1.0 ? (interp_size * 0.5) * scale : interp_size * 0.5);
            bound = (int)std::ceil(support) * 2 + 1;
        }
        all[d].resize(a.out_size);
        plan.axis_taps[d] = 1;
        for (int64_t o = 0; o < a.out_size; o++) {
            Taps &t = all[d][o];
            t.weight.assign(std::max(bound, 4), 0.f);
            switch (kind) {
                case Resampling::Nearest: nearest_taps(a, o, false, &t); break;
                case Resampling::NearestExact: nearest_taps(a, o, true, &t); break;
                case Resampling::Linear: linear_taps(a, scale, o, align_corners, &t); break;
                case Resampling::Cubic: cubic_taps(scale, o, align_corners, cubic_identity, &t); break;
                case Resampling::Area: area_taps(a, o, &t); break;
                case Resampling::AntialiasLinear:
                case Resampling::AntialiasCubic:
                    antialias_taps(a, scale, support, bound, o, kind == Resampling::AntialiasCubic, &t);
                    break;
            }
            plan.axis_taps[d] = std::max(plan.axis_taps[d], t.count);
        }
        max_count = std::max(max_count, plan.axis_taps[d]);
    }

    // The variant: the fixed tap counts run without a per-tap test, so area and antialias
    // windows of up to 4 taps use them, padded with zero weights.
    switch (kind) {
        case Resampling::Nearest:
        case Resampling::NearestExact: plan.variant_taps = 1; break;
        case Resampling::Linear: plan.variant_taps = 2; break;
        case Resampling::Cubic: plan.variant_taps = 4; break;
        default: plan.variant_taps = max_count <= 2 ? 2 : max_count <= 4 ? 4 : 0; break;
    }
    const int taps = plan.variant_taps ? plan.variant_taps : max_count;
    plan.taps = taps;
    int64_t longest = 1;
    for (const AxisSpec &a : axes) longest = std::max(longest, a.out_size);
    plan.positions = longest;
    plan.tap_start.assign(rank * longest, 0);
    plan.tap_count.assign(rank * longest, 0);
    plan.tap_weight.assign((size_t)rank * taps * longest, 0.f);

    for (int d = 0; d < rank; d++) {
        const AxisSpec &a = axes[d];
        const float slope = static_cast<float>(static_cast<double>(a.in_size) / a.out_size);
        // The bracket must contain every tap the kernel reads, count or not (a vector select
        // still loads both sides): taps start .. start + taps - 1, clamped to the input.
        double lo_gap = 1e300, hi_gap = -1e300;
        for (int64_t o = 0; o < a.out_size; o++) {
            const Taps &t = all[d][o];
            lo_gap = std::min(lo_gap, std::clamp<int64_t>(t.start, 0, a.in_size - 1) - (double)slope * o);
            hi_gap = std::max(hi_gap, std::clamp<int64_t>((int64_t)t.start + taps - 1, 0, a.in_size - 1) - (double)slope * o);
            plan.tap_start[d * longest + o] = t.start;
            plan.tap_count[d * longest + o] = t.count;
            for (int k = 0; k < t.count && k < taps; k++) {
                plan.tap_weight[((size_t)d * taps + k) * longest + o] = t.weight[k];
            }
        }
        // A little slack for float rounding, then widen until it provably holds: a loose
        // bracket only costs extra rows per tile, a tight one keeps tiles lean.
        const double slack = 1e-3 + 1e-6 * (a.in_size + taps);
        float lo_offset = (float)(lo_gap - slack), hi_offset = (float)(hi_gap + slack);
        for (int64_t o = 0; o < a.out_size; o++) {
            const Taps &t = all[d][o];
            const int64_t first = std::clamp<int64_t>(t.start, 0, a.in_size - 1);
            const int64_t last = std::clamp<int64_t>((int64_t)t.start + taps - 1, 0, a.in_size - 1);
            while (!bracket_holds(slope, lo_offset, o, first, true)) lo_offset -= 0.5f;
            while (!bracket_holds(slope, hi_offset, o, last, false)) hi_offset += 0.5f;
        }
        plan.slope[d] = slope;
        plan.lo_offset[d] = lo_offset;
        plan.hi_offset[d] = hi_offset;
    }
    return plan;
}

}  // namespace detail
}  // namespace hup
