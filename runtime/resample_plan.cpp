// The float arithmetic here mirrors ATen 1.13's (UpSample.h, UpSampleKernel.cpp,
// UpSampleBicubic2d.cpp, AdaptivePooling.h) operation for operation, including where ATen
// promotes to double, so that source indices land on the same input element as PyTorch's.
// This file is compiled with -ffp-contract=off: a fused multiply-add would round differently.
#include "resample_plan.h"

#include "tensor_check.h"  // floor_div

#include <algorithm>
#include <cmath>
#include <mutex>
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

// One output position's taps; `weight` points into its axis's storage.
struct Taps {
    int32_t start = 0;
    int32_t count = 0;
    float *weight = nullptr;
};

// All output positions of one axis, flat: `width` weight slots per position.
struct AxisTaps {
    int width = 4;
    std::vector<int32_t> start, count;
    std::vector<float> weight;

    AxisTaps(int64_t positions, int width_) : width(width_), start(positions), count(positions), weight(positions * width_) {}
    int64_t size() const { return (int64_t)start.size(); }
    const float *weights(int64_t o) const { return &weight[o * width]; }
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


// Re-anchors one axis's taps on new first taps, keeping every output's weighted sum: each
// original tap's weight moves to the new tap that reads the same (clamped) input element.
// Fails, leaving the taps alone, when some tap has no such place.
template <typename FirstTap>
bool anchor_taps(AxisTaps *axis, int taps, int64_t in_size, FirstTap first_tap) {
    AxisTaps anchored(axis->size(), std::max(axis->width, taps));
    for (int64_t o = 0; o < axis->size(); o++) {
        const int64_t start = first_tap(o);
        anchored.start[o] = (int32_t)start;
        anchored.count[o] = taps;
        float *w = &anchored.weight[o * anchored.width];
        for (int k = 0; k < axis->count[o]; k++) {
            if (axis->weights(o)[k] == 0.f) continue;  // ATen's zero-weight border taps add nothing
            const int64_t element = std::clamp<int64_t>((int64_t)axis->start[o] + k, 0, in_size - 1);
            int j = 0;
            while (j < taps && std::clamp<int64_t>(start + j, 0, in_size - 1) != element) j++;
            if (j == taps) return false;
            w[j] += axis->weights(o)[k];
        }
    }
    *axis = std::move(anchored);
    return true;
}

// Exact 2x upsampling and downsampling put the first tap at floor((o + c)/2) or 2*o + c.
void find_x_step(AxisTaps *axis, int taps, int64_t in_size, ResamplePlan *plan) {
    if (axis->size() < 4) return;
    const int64_t mid = axis->size() / 2;
    const int64_t s = axis->start[mid];
    const struct { int num, den; int64_t offset; } candidates[] = {
        {1, 2, 2 * s - mid}, {1, 2, 2 * s - mid + 1}, {2, 1, s - 2 * mid}};
    for (const auto &c : candidates) {
        if (anchor_taps(axis, taps, in_size, [&](int64_t o) { return floor_div(c.num * o + c.offset, c.den); })) {
            plan->x_step_num = c.num;
            plan->x_step_den = c.den;
            plan->x_offset = (int32_t)c.offset;
            return;
        }
    }
}

// Whether, with an x step of period `den`, every position's weights can be those of the
// middle period's position of the same phase: true where they already are, or where all of a
// position's taps clamp to one input element and its weights sum alike (ATen's border
// positions, such as 2x upsampling's first output, 1 * in[0] + 0 * in[1]: the taps of the
// anchored window -1 and 0 both read in[0]). Rewrites those border weights when it is.
bool make_x_weights_periodic(AxisTaps *axis, int taps, int den, int64_t in_size) {
    const int64_t size = axis->size(), mid = size / 2 / den * den;
    if (size < 2 * den) return false;
    auto sum = [&](int64_t o) {
        float total = 0.f;
        for (int k = 0; k < taps; k++) total += axis->weights(o)[k];
        return total;
    };
    for (int64_t o = 0; o < size; o++) {
        const int64_t model = mid + o % den;
        if (std::equal(axis->weights(o), axis->weights(o) + taps, axis->weights(model))) continue;
        const int64_t element = std::clamp<int64_t>(axis->start[o], 0, in_size - 1);
        for (int k = 1; k < taps; k++) {
            if (std::clamp<int64_t>((int64_t)axis->start[o] + k, 0, in_size - 1) != element) return false;
        }
        if (sum(o) != sum(model)) return false;
    }
    for (int64_t o = 0; o < size; o++) {
        std::copy(axis->weights(mid + o % den), axis->weights(mid + o % den) + taps, &axis->weight[o * axis->width]);
    }
    return true;
}

}  // namespace

ResamplePlan make_resample_plan(Resampling kind, const std::vector<AxisSpec> &axes, bool align_corners) {
    ResamplePlan plan;
    const int rank = (int)axes.size();
    const bool cubic_identity = kind == Resampling::Cubic &&
                                std::all_of(axes.begin(), axes.end(), [](const AxisSpec &a) { return a.in_size == a.out_size; });

    // Every output position's taps, axis by axis.
    std::vector<AxisTaps> all;
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
        all.emplace_back(a.out_size, std::max(bound, 4));
        plan.axis_taps[d] = 1;
        for (int64_t o = 0; o < a.out_size; o++) {
            Taps t;
            t.weight = &all[d].weight[o * all[d].width];
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
            all[d].start[o] = t.start;
            all[d].count[o] = t.count;
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
    if (plan.variant_taps > 0) find_x_step(&all[0], taps, axes[0].in_size, &plan);
    if (plan.x_step_den > 0) {
        plan.x_weights_periodic = make_x_weights_periodic(&all[0], taps, plan.x_step_den, axes[0].in_size);
    }
    // Slide x's border windows inside the input (unless an affine step anchors them), so that
    // kernels may read x taps without a clamp: run-time taps load each window densely (with
    // the weights stored tap-major), channel-block variants clamp only each window's start.
    if ((plan.variant_taps == 0 || plan.x_step_den == 0) && taps <= axes[0].in_size) {
        const int64_t last_start = axes[0].in_size - taps;
        plan.x_taps_in_range = anchor_taps(&all[0], taps, axes[0].in_size, [&](int64_t o) {
            return std::clamp<int64_t>(all[0].start[o], 0, last_start);
        });
    }
    int64_t longest = 1;
    for (const AxisSpec &a : axes) longest = std::max(longest, a.out_size);
    plan.positions = longest;
    plan.tap_start.assign(rank * longest, 0);
    plan.tap_count.assign(rank * longest, 0);
    plan.tap_weight.assign((size_t)rank * taps * longest, 0.f);
    const bool tap_major = plan.variant_taps == 0 && plan.x_taps_in_range;
    plan.weight_position_stride = tap_major ? taps : 1;
    plan.weight_tap_stride = tap_major ? 1 : (int)longest;

    for (int d = 0; d < rank; d++) {
        const AxisSpec &a = axes[d];
        const float slope = static_cast<float>(static_cast<double>(a.in_size) / a.out_size);
        // The bracket must contain every tap the kernel reads, count or not (a vector select
        // still loads both sides): taps start .. start + taps - 1, clamped to the input.
        double lo_gap = 1e300, hi_gap = -1e300;
        const AxisTaps &axis = all[d];
        for (int64_t o = 0; o < a.out_size; o++) {
            lo_gap = std::min(lo_gap, std::clamp<int64_t>(axis.start[o], 0, a.in_size - 1) - (double)slope * o);
            hi_gap = std::max(hi_gap, std::clamp<int64_t>((int64_t)axis.start[o] + taps - 1, 0, a.in_size - 1) - (double)slope * o);
            plan.tap_start[d * longest + o] = axis.start[o];
            plan.tap_count[d * longest + o] = axis.count[o];
            for (int k = 0; k < axis.count[o] && k < taps; k++) {
                plan.tap_weight[(size_t)d * taps * longest + o * plan.weight_position_stride + k * plan.weight_tap_stride] =
                    axis.weights(o)[k];
            }
        }
        // floor() leaves room: any lo offset below lo_gap + 1 and any hi offset from hi_gap up
        // contain the taps in exact arithmetic. Start at the tight end of that room, then step
        // out until it provably holds in float too: a loose bracket costs rows per tile.
        float lo_offset = (float)(lo_gap + 1 - 1e-3), hi_offset = (float)(hi_gap + 1e-3);
        for (int64_t o = 0; o < a.out_size; o++) {
            const int64_t first = std::clamp<int64_t>(axis.start[o], 0, a.in_size - 1);
            const int64_t last = std::clamp<int64_t>((int64_t)axis.start[o] + taps - 1, 0, a.in_size - 1);
            while (!bracket_holds(slope, lo_offset, o, first, true)) lo_offset -= 1.0f / 64;
            while (!bracket_holds(slope, hi_offset, o, last, false)) hi_offset += 1.0f / 64;
        }
        plan.slope[d] = slope;
        plan.lo_offset[d] = lo_offset;
        plan.hi_offset[d] = hi_offset;
    }
    return plan;
}

std::shared_ptr<const ResamplePlan> cached_resample_plan(Resampling kind, const std::vector<AxisSpec> &axes,
                                                         bool align_corners) {
    // Callers usually repeat the same few shapes; building the tables is O(output extent)
    // with allocations, so recent plans are kept. Small and shared by all threads.
    struct Entry {
        Resampling kind;
        bool align_corners;
        std::vector<AxisSpec> axes;
        std::shared_ptr<const ResamplePlan> plan;
    };
    static std::mutex mutex;
    static std::vector<Entry> entries;
    static size_t next_slot = 0;
    constexpr size_t kCapacity = 16;
    auto same_axes = [&](const std::vector<AxisSpec> &other) {
        if (other.size() != axes.size()) return false;
        for (size_t i = 0; i < axes.size(); i++) {
            if (other[i].in_size != axes[i].in_size || other[i].out_size != axes[i].out_size ||
                other[i].scale != axes[i].scale) {
                return false;
            }
        }
        return true;
    };
    {
        std::lock_guard<std::mutex> lock(mutex);
        for (const Entry &e : entries) {
            if (e.kind == kind && e.align_corners == align_corners && same_axes(e.axes)) return e.plan;
        }
    }
    auto plan = std::make_shared<const ResamplePlan>(make_resample_plan(kind, axes, align_corners));
    std::lock_guard<std::mutex> lock(mutex);
    Entry entry{kind, align_corners, axes, plan};
    if (entries.size() < kCapacity) {
        entries.push_back(std::move(entry));
    } else {
        entries[next_slot] = std::move(entry);
        next_slot = (next_slot + 1) % kCapacity;
    }
    return plan;
}

}  // namespace detail
}  // namespace hup
