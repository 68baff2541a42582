// conv_transpose: PyTorch's argument rules and output size, the split of the output into
// phases, and the weight packing for the AOT kernels (generators/conv_transpose_generator.cpp
// explains the decomposition).
#include <algorithm>
#include <array>
#include <limits>
#include <memory>
#include <numeric>

#include "conv_transpose_knobs.h"  // kConvChannelPad
#include "conv_transpose_variants.h"
#include "device.h"
#include "hup_conv_transpose_listed.h"
#include "phase_grid.h"
#include "relayout.h"
#include "tensor_check.h"

namespace hup {
namespace {

using detail::checked_mul_add;
using detail::kMaxSpatial;
using detail::per_dim;

Status invalid(const std::string &message) { return Status(StatusCode::InvalidArgument, message); }

// The problem, per spatial dim in PyTorch order (d = 0 is the outermost spatial dim).
struct ConvTransposeShape {
    int spatial = 0;
    int64_t batch = 0, in_channels = 0, out_channels = 0, groups = 1;
    std::array<int64_t, kMaxSpatial> in{}, out{}, kernel{}, stride{}, padding{}, dilation{}, output_padding{};
    std::vector<int64_t> output_sizes;
};

// The weight- and option-only part of the checks (what a plan can check before any input).
Status check_weight_options(const std::vector<int64_t> &weight_sizes, const ConvTransposeOptions &options,
                            ConvTransposeShape *shape) {
    const int rank = (int)weight_sizes.size();
    if (rank < 3 || rank > 5) {
        return invalid("weight must have 3 to 5 dims (C_in, C_out/groups, k...), got " + std::to_string(rank) + "-D " +
                       detail::shape_string(weight_sizes));
    }
    for (int64_t s : weight_sizes) {
        if (s <= 0) return invalid("weight sizes must be positive, got " + detail::shape_string(weight_sizes));
    }
    ConvTransposeShape &p = *shape;
    p.spatial = rank - 2;
    p.in_channels = weight_sizes[0];
    p.groups = options.groups;
    if (p.groups <= 0) return invalid("groups must be positive, got " + std::to_string(p.groups));
    if (p.in_channels % p.groups != 0) {
        return invalid("groups (" + std::to_string(p.groups) + ") must divide the input channels (" +
                       std::to_string(p.in_channels) + ")");
    }
    if (__builtin_mul_overflow(weight_sizes[1], p.groups, &p.out_channels)) {
        return invalid("output channels overflow int64");
    }
    Status s = per_dim(options.stride, "stride", p.spatial, 1, &p.stride);
    if (s.ok()) s = per_dim(options.padding, "padding", p.spatial, 0, &p.padding);
    if (s.ok()) s = per_dim(options.dilation, "dilation", p.spatial, 1, &p.dilation);
    if (s.ok()) s = per_dim(options.output_padding, "output_padding", p.spatial, 0, &p.output_padding);
    if (!s.ok()) return s;
    for (int d = 0; d < p.spatial; d++) {
        p.kernel[d] = weight_sizes[2 + d];
        const std::string dim = " (spatial dim " + std::to_string(d) + ")";
        if (p.stride[d] <= 0) return invalid("stride must be positive" + dim);
        if (p.dilation[d] <= 0) return invalid("dilation must be positive" + dim);
        if (p.padding[d] < 0) return invalid("padding must be non-negative" + dim);
        if (p.output_padding[d] < 0) return invalid("output_padding must be non-negative" + dim);
    }
    return Status::Ok();
}

// The input-dependent part: the input's rank and channels, and the output sizes.
Status size_output(const std::vector<int64_t> &input_sizes, const std::vector<int64_t> &weight_sizes,
                   const ConvTransposeOptions &options, ConvTransposeShape *shape) {
    ConvTransposeShape &p = *shape;
    const int rank = (int)input_sizes.size(), spatial = p.spatial;
    if (rank != spatial + 2) {
        return invalid("input must have " + std::to_string(spatial + 2) + " dims (N, C_in, spatial...) to match the weight " +
                       detail::shape_string(weight_sizes) + ", got " + std::to_string(rank) + "-D " +
                       detail::shape_string(input_sizes));
    }
    for (int64_t s : input_sizes) {
        if (s < 0) return invalid("input has a negative size: " + detail::shape_string(input_sizes));
    }
    p.batch = input_sizes[0];
    if (input_sizes[1] != p.in_channels) {
        return Status(StatusCode::ShapeMismatch, "input has " + std::to_string(input_sizes[1]) +
                                                     " channels but the weight " + detail::shape_string(weight_sizes) +
                                                     " expects " + std::to_string(p.in_channels));
    }
    const bool sized = !options.output_size.empty();
    if (sized && (int)options.output_size.size() != spatial && (int)options.output_size.size() != rank) {
        return invalid("output_size must have " + std::to_string(spatial) + " or " + std::to_string(rank) +
                       " values, got " + std::to_string(options.output_size.size()));
    }
    p.output_sizes = {p.batch, p.out_channels};
    for (int d = 0; d < spatial; d++) {
        p.in[d] = input_sizes[2 + d];
        const std::string dim = " (spatial dim " + std::to_string(d) + ")";
        if (p.in[d] <= 0) return invalid("input spatial sizes must be positive, got " + detail::shape_string(input_sizes));
        // (in - 1) * stride - 2 * padding + dilation * (k - 1) + 1, without overflow.
        int64_t spread, reach, min_size;
        if (p.padding[d] > (int64_t(1) << 61) || !checked_mul_add(p.in[d] - 1, p.stride[d], 1, &spread) ||
            !checked_mul_add(p.dilation[d], p.kernel[d] - 1, spread, &reach) ||
            __builtin_sub_overflow(reach, 2 * p.padding[d], &min_size)) {
            return invalid("output size overflows int64" + dim);
        }
        int64_t output_padding = p.output_padding[d];
        if (sized) {
            // nn.ConvTranspose*d.forward(input, output_size): output_padding follows from it.
            const int64_t wanted = options.output_size[options.output_size.size() - spatial + d];
            const int64_t max_size = min_size + p.stride[d] - 1;
            if (wanted < min_size || wanted > max_size) {
                return invalid("output_size " + std::to_string(wanted) + dim + " must lie in [" +
                               std::to_string(min_size) + ", " + std::to_string(max_size) + "]");
            }
            output_padding = wanted - min_size;
        } else if (output_padding >= p.stride[d] && output_padding >= p.dilation[d]) {
            return invalid("output_padding (" + std::to_string(output_padding) +
                           ") must be smaller than stride or dilation" + dim);
        }
        if (__builtin_add_overflow(min_size, output_padding, &p.out[d])) {
            return invalid("output size overflows int64" + dim);
        }
        if (p.out[d] <= 0) {
            return invalid("output size " + std::to_string(p.out[d]) + dim + " is not positive");
        }
        p.output_sizes.push_back(p.out[d]);
    }
    return detail::check_count(p.output_sizes, "output");
}

Status plan_shape(const std::vector<int64_t> &input_sizes, const std::vector<int64_t> &weight_sizes,
                  const ConvTransposeOptions &options, ConvTransposeShape *shape) {
    const int rank = (int)input_sizes.size();
    if (rank < 3 || rank > 5) {
        return invalid("input must have 3 to 5 dims (N, C_in, spatial...), got " + std::to_string(rank) + "-D " +
                       detail::shape_string(input_sizes));
    }
    if ((int)weight_sizes.size() != rank) {
        return invalid("weight must have " + std::to_string(rank) + " dims (C_in, C_out/groups, k...) like the input, got " +
                       detail::shape_string(weight_sizes));
    }
    Status status = check_weight_options(weight_sizes, options, shape);
    if (status.ok()) status = size_output(input_sizes, weight_sizes, options, shape);
    return status;
}

using detail::AxisGrid;
using detail::AxisTaps;
using detail::round_up;

// Null, or a 1-D tensor of C_out values.
Status check_bias(const TensorView *bias, int64_t out_channels) {
    if (!bias) return Status::Ok();
    Status status = detail::check_tensor(*bias, "bias", 1, 1);
    if (status.ok() && bias->sizes[0] != out_channels) {
        return Status(StatusCode::ShapeMismatch, "bias has " + std::to_string(bias->sizes[0]) +
                                                     " elements, expected C_out = " + std::to_string(out_channels));
    }
    return status;
}

// On a GPU: the gather variant (generators/conv_transpose_generator.cpp), on the weights and
// bias as PyTorch lays them out, in one call. `p` has passed every check.
Status conv_transpose_on_gpu(Device device, const TensorView &input, const TensorView &weight, const TensorView &bias,
                             const TensorView &output, const ConvTransposeShape &p) {
    using Kernel = int (*)(void *, halide_buffer_t *, halide_buffer_t *, halide_buffer_t *, int32_t, int32_t, int32_t,
                           int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, halide_buffer_t *);
    Kernel kernel;
    const std::string name = "hup_conv_transpose_r" + std::to_string(p.spatial) + "_gpu";
    Status status = detail::gpu_kernel(name.c_str(), device, &kernel);
    if (!status.ok()) return status;
    detail::HalideView in, w, b, out;  // PyTorch's dims reversed; the weight's read (k..., C_out/g, C_in)
    detail::make_halide_view(input, &in);
    detail::make_halide_view(weight, &w);
    detail::make_halide_view(output, &out);
    b.init(bias.data, 1);
    b.set(0, bias.sizes[0], detail::strides_of(bias)[0]);
    int32_t stride[kMaxSpatial] = {1, 1, 1}, padding[kMaxSpatial] = {0, 0, 0}, dilation[kMaxSpatial] = {1, 1, 1};
    for (int i = 0; i < p.spatial; i++) {  // Halide dim i is PyTorch spatial dim spatial-1-i
        const int d = p.spatial - 1 - i;
        stride[i] = (int32_t)p.stride[d];
        padding[i] = (int32_t)p.padding[d];
        dilation[i] = (int32_t)p.dilation[d];
    }
    detail::DeviceCall call(device);
    status = call.bind(input, &in.buffer, false);
    if (status.ok()) status = call.bind(weight, &w.buffer, false);
    if (status.ok()) status = call.bind(bias, &b.buffer, false);
    if (status.ok()) status = call.bind(output, &out.buffer, true);
    if (!status.ok()) return status;
    return call.run("conv_transpose", [&](void *user_context) {
        return kernel(user_context, &in.buffer, &w.buffer, &b.buffer, stride[0], padding[0], dilation[0], stride[1],
                      padding[1], dilation[1], stride[2], padding[2], dilation[2], (int32_t)p.groups, &out.buffer);
    });
}

// One row of the bordered planar input: `before` zeros, `count` floats read `stride` apart, and
// `after` zeros. Inline loops: rows of a few dozen floats, where calls to libc's memset and
// memcpy (which GCC makes of such loops unless told not to) would cost more than the copy.
__attribute__((optimize("no-tree-loop-distribute-patterns"))) void bordered_row(float *dst, int64_t before,
                                                                                const float *src, int64_t stride,
                                                                                int64_t count, int64_t after) {
    for (int64_t x = 0; x < before; x++) *dst++ = 0.0f;
    if (stride == 1) {
        for (int64_t x = 0; x < count; x++) dst[x] = src[x];
    } else {
        for (int64_t x = 0; x < count; x++) dst[x] = src[x * stride];
    }
    dst += count;
    for (int64_t x = 0; x < after; x++) *dst++ = 0.0f;
}

// A 1-D host tensor over `values`, only ever read (C_out zeros stand in for a missing bias).
TensorView host_vector(const std::vector<float> &values) {
    TensorView t;
    t.data = const_cast<float *>(values.data());
    t.sizes = {(int64_t)values.size()};
    return t;
}

}  // namespace

// The packed weights of every phase, and what run() needs to lay the phases over an output.
struct ConvTransposePlan::Impl {
    ConvTransposeOptions options;
    std::vector<int64_t> weight_sizes;
    ConvTransposeShape shape;  // weight and option fields only
    int64_t cig = 0, cog = 0, pad_channels = 0, pad_groups = 0;
    int64_t pad_in_channels = 0;  // the packed weights' input channels: cig, or padded for input-channel tiles
    bool depthwise = false;
    bool input_channel_tiles = false;  // weights packed input-channel innermost
    std::vector<float> bias;         // C_out values (zeros without a bias), for tap-less phases
    std::vector<float> packed_bias;  // (channel within group [padded], group [padded])
    struct Phase {
        std::array<AxisTaps, kMaxSpatial> axes;
        int64_t tap_count = 0;   // product of the axes' taps; 0: no tap reaches the phase
        size_t weight_offset = 0;
    };
    std::vector<Phase> phases;
    std::vector<float> packed;  // every phase's weights, one after the other
    std::vector<float> weights;  // PyTorch's layout, contiguous: what the GPU variants read

    // Listed positions (generators/conv_transpose_generator.cpp): each phase's grid per dim and
    // its runs of grid points with the same in-range taps (worked out once per call), whether
    // listing pays, and the run.
    struct PhaseRuns {
        std::array<detail::AxisGrid, kMaxSpatial> grid;
        std::array<std::vector<detail::TapRun>, kMaxSpatial> runs;
    };
    std::vector<PhaseRuns> phase_runs(const ConvTransposeShape &p) const;
    bool listed_pays(const ConvTransposeShape &p, const std::vector<PhaseRuns> &runs) const;
    Status run_listed(const ConvTransposeShape &p, const std::vector<PhaseRuns> &runs, const TensorView &input,
                      const TensorView &output) const;
    // Input-channel and 2-D planar position tiles' input, bordered with zeros (below).
    Status bordered_input(const ConvTransposeShape &p, const TensorView &input, bool planar,
                          std::unique_ptr<detail::ScratchBuffer> *storage, detail::HalideView *view) const;
};

std::vector<ConvTransposePlan::Impl::PhaseRuns> ConvTransposePlan::Impl::phase_runs(const ConvTransposeShape &p) const {
    std::vector<PhaseRuns> all(phases.size());
    for (size_t i = 0; i < phases.size(); i++) {
        for (int d = 0; d < p.spatial; d++) {
            all[i].grid[d] = detail::axis_grid(p.stride[d], p.padding[d], p.out[d], phases[i].axes[d]);
            all[i].runs[d] = detail::tap_runs(all[i].grid[d], phases[i].axes[d], p.in[d]);
        }
    }
    return all;
}

// Whether the listed-position kernel pays: the products the boxed kernels compute (every tap
// of every grid point, padding included) against the in-range ones, summed over the phases.
// Small grids (a DCGAN's 4x4 and 8x8 inputs) lose a quarter or an eighth of their products to
// the padding; large ones next to none, and there the boxed kernels' row tiles win.
bool ConvTransposePlan::Impl::listed_pays(const ConvTransposeShape &p, const std::vector<PhaseRuns> &runs) const {
    // The in-range share under which listing pays: measured, DCGAN layers with batch 16, NHWC,
    // medians of 5 interleaved rounds: 4x4 inputs (share 0.77) 6.2 -> 5.4 ms, 8x8 (0.88)
    // 5.5 -> 5.1; 16x16 (0.94) loses (min 5.3 boxed, 6.2 listed).
    constexpr double kListedBelow = 0.9;
    double boxed = 0, inside = 0;
    for (size_t i = 0; i < phases.size(); i++) {
        double phase_boxed = 1, phase_inside = 1;
        for (int d = 0; d < p.spatial; d++) {
            phase_boxed *= (double)runs[i].grid[d].count * phases[i].axes[d].taps;
            double taps = 0;
            for (const detail::TapRun &run : runs[i].runs[d]) {
                taps += (double)run.count * std::max<int64_t>(run.m_hi - run.m_lo + 1, 0);
            }
            phase_inside *= taps;
        }
        boxed += phase_boxed;
        inside += phase_inside;
    }
    return inside < kListedBelow * boxed;
}

// One call per phase and box of runs (detail::TapRun) with the same in-range taps, listing the
// box's positions over every image. channels_last, contiguous, 2-D, one group.
Status ConvTransposePlan::Impl::run_listed(const ConvTransposeShape &p, const std::vector<PhaseRuns> &all_runs,
                                           const TensorView &input, const TensorView &output) const {
    const int64_t in_h = p.in[0], in_w = p.in[1], out_h = p.out[0], out_w = p.out[1];
    detail::HalideView in_buf, out_buf, bias_buf;
    in_buf.init(input.data, 2);
    in_buf.set(0, cig, 1);
    in_buf.set(1, p.batch * in_h * in_w, cig);
    out_buf.init(output.data, 2);
    out_buf.set(0, cog, 1);
    out_buf.set(1, p.batch * out_h * out_w, cog);
    bias_buf.init(packed_bias.data(), 1);
    bias_buf.set(0, pad_channels, 1);
    const int64_t block = ConvTransposeCpuKnobs{}.listed_position_block;  // the compiled tile
    std::vector<int32_t> in_pixel, out_pixel;
    for (size_t i = 0; i < phases.size(); i++) {
        const Phase &phase = phases[i];
        const auto &grid = all_runs[i].grid;
        const auto &runs = all_runs[i].runs;
        const int64_t tx_stride = pad_channels * cig, ty_stride = tx_stride * phase.axes[1].taps;
        for (const detail::TapRun &ry : runs[0]) {
            for (const detail::TapRun &rx : runs[1]) {
                const bool tapless = ry.m_lo > ry.m_hi || rx.m_lo > rx.m_hi;
                // The box's input pixel at its first in-range tap, per grid point.
                const int64_t iy0 = grid[0].in_offset - ry.m_lo * phase.axes[0].tap_step;
                const int64_t ix0 = grid[1].in_offset - rx.m_lo * phase.axes[1].tap_step;
                in_pixel.clear();
                out_pixel.clear();
                for (int64_t n = 0; n < p.batch; n++) {
                    for (int64_t qy = ry.q0; qy < ry.q0 + ry.count; qy++) {
                        for (int64_t qx = rx.q0; qx < rx.q0 + rx.count; qx++) {
                            const int64_t oy = grid[0].first + p.stride[0] * qy, ox = grid[1].first + p.stride[1] * qx;
                            out_pixel.push_back((int32_t)((n * out_h + oy) * out_w + ox));
                            in_pixel.push_back((int32_t)((n * in_h + qy + iy0) * in_w + qx + ix0));
                        }
                    }
                }
                if (tapless) {  // only the bias reaches these outputs
                    for (int32_t pixel : out_pixel) std::copy(bias.begin(), bias.end(), static_cast<float *>(output.data) + pixel * cog);
                    continue;
                }
                const int32_t positions = (int32_t)out_pixel.size();
                while ((int64_t)out_pixel.size() % block != 0) {  // whole tiles: repeat the last
                    out_pixel.push_back(out_pixel.back());
                    in_pixel.push_back(in_pixel.back());
                }
                detail::HalideView w_buf, in_list, out_list;
                w_buf.init(packed.data() + phase.weight_offset + ry.m_lo * ty_stride + rx.m_lo * tx_stride, 4);
                w_buf.set(0, pad_channels, 1);
                w_buf.set(1, cig, pad_channels);
                w_buf.set(2, rx.m_hi - rx.m_lo + 1, tx_stride);
                w_buf.set(3, ry.m_hi - ry.m_lo + 1, ty_stride);
                in_list.init(in_pixel.data(), 1, halide_type_t(halide_type_int, 32));
                in_list.set(0, (int64_t)in_pixel.size(), 1);
                out_list.init(out_pixel.data(), 1, halide_type_t(halide_type_int, 32));
                out_list.set(0, (int64_t)out_pixel.size(), 1);
                const int32_t tap_pixels_x = (int32_t)-phase.axes[1].tap_step;
                const int32_t tap_pixels_y = (int32_t)(-phase.axes[0].tap_step * in_w);
                const Status status = detail::run_pipeline("conv_transpose", [&](void *user_context) {
                    return hup_conv_transpose_listed(user_context, &in_buf.buffer, &w_buf.buffer, &bias_buf.buffer,
                                                     &in_list.buffer, &out_list.buffer, positions, tap_pixels_x,
                                                     tap_pixels_y, &out_buf.buffer);
                });
                if (!status.ok()) return status;
            }
        }
    }
    return Status::Ok();
}

ConvTransposePlan::ConvTransposePlan() = default;
ConvTransposePlan::~ConvTransposePlan() { delete impl_; }
ConvTransposePlan::ConvTransposePlan(ConvTransposePlan &&other) noexcept : impl_(other.impl_) { other.impl_ = nullptr; }
ConvTransposePlan &ConvTransposePlan::operator=(ConvTransposePlan &&other) noexcept {
    std::swap(impl_, other.impl_);
    return *this;
}

Status ConvTransposePlan::prepare(const TensorView &weight, const TensorView *bias, const ConvTransposeOptions &options) {
    Status status = detail::check_tensor(weight, "weight", 3, 5);
    if (!status.ok()) return status;
    auto plan = std::make_unique<Impl>();
    ConvTransposeShape &p = plan->shape;
    status = check_weight_options(weight.sizes, options, &p);
    if (status.ok()) status = check_bias(bias, p.out_channels);
    if (status.ok()) status = detail::check_halide_addressable(weight, "weight");
    if (!status.ok()) return status;
    if (weight.device != Device::Host || (bias && bias->device != Device::Host)) {
        return Status(StatusCode::Unsupported, "ConvTransposePlan::prepare takes host weights and bias (the plan keeps "
                                               "its own copy, which GPU calls upload)");
    }
    plan->weights.resize(detail::element_count(weight.sizes));
    TensorView weights_copy;
    weights_copy.data = plan->weights.data();
    weights_copy.sizes = weight.sizes;
    detail::strided_copy(weight, weights_copy);
    plan->options = options;
    plan->weight_sizes = weight.sizes;
    const int spatial = p.spatial;
    const int64_t groups = p.groups, cig = p.in_channels / groups, cog = p.out_channels / groups;
    plan->cig = cig;
    plan->cog = cog;
    plan->depthwise = cig == 1 && cog == 1 && groups > 1;
    plan->pad_channels = plan->depthwise ? 1 : round_up(cog, kConvChannelPad);
    plan->pad_groups = plan->depthwise ? round_up(groups, kConvChannelPad) : groups;
    // Few output channels (fewer than a vector) in 2-D, on enough input channels that padding
    // them to whole vectors costs at most a quarter more: tiles of input-channel vectors for
    // channels_last runs (planar ones read the same packing with position tiles).
    plan->input_channel_tiles = spatial == 2 && !plan->depthwise && cog < 8 &&
                                round_up(cig, kConvInputChannelPad) * 4 <= cig * 5;
    plan->pad_in_channels = plan->input_channel_tiles ? round_up(cig, kConvInputChannelPad) : cig;

    plan->bias.assign(p.out_channels, 0.0f);
    if (bias) {
        const std::vector<int64_t> b_strides = detail::strides_of(*bias);
        for (int64_t c = 0; c < p.out_channels; c++) plan->bias[c] = static_cast<const float *>(bias->data)[c * b_strides[0]];
    }
    plan->packed_bias.assign(plan->pad_channels * plan->pad_groups, 0.0f);
    for (int64_t g = 0; g < groups; g++) {
        for (int64_t c = 0; c < cog; c++) plan->packed_bias[g * plan->pad_channels + c] = plan->bias[g * cog + c];
    }

    // Phases: one residue per stride step in each dim; each with its own slice of `packed`.
    // Which phase and tap each kernel position feeds, per dim: the kernel is read once.
    std::vector<std::vector<AxisTaps>> residues(spatial);
    std::array<std::vector<std::pair<int64_t, int64_t>>, kMaxSpatial> slot;  // k -> (residue, m)
    for (int d = 0; d < spatial; d++) {
        slot[d].assign(p.kernel[d], {-1, 0});
        for (int64_t r = 0; r < p.stride[d]; r++) {
            residues[d].push_back(detail::axis_taps(p.stride[d], p.dilation[d], p.kernel[d], r));
            const AxisTaps &a = residues[d].back();
            for (int64_t m = 0; m < a.taps; m++) slot[d][a.first_tap + m * a.tap_stride] = {r, m};
        }
    }
    size_t total = 0;
    std::array<int64_t, kMaxSpatial> residue{};
    while (true) {
        Impl::Phase phase;
        phase.tap_count = 1;
        for (int d = 0; d < spatial; d++) {
            phase.axes[d] = residues[d][residue[d]];
            phase.tap_count *= phase.axes[d].taps;
        }
        phase.weight_offset = total;
        total += phase.tap_count * plan->pad_in_channels * plan->pad_channels * plan->pad_groups;
        plan->phases.push_back(phase);
        int d = spatial - 1;
        for (; d >= 0; d--) {
            if (++residue[d] < p.stride[d]) break;
            residue[d] = 0;
        }
        if (d < 0) break;
    }
    plan->packed.assign(total, 0.0f);

    // Packed layout, per phase: (channel within group [padded], input channel within group,
    // taps (last spatial dim fastest), group), with the two channel dims swapped for
    // input-channel tiles (input channels padded too), or for depthwise (group [padded], taps).
    const int64_t co_stride = plan->input_channel_tiles ? plan->pad_in_channels : 1;
    const int64_t ci_stride = plan->input_channel_tiles ? 1 : plan->pad_channels;
    const std::vector<int64_t> w_strides = detail::strides_of(weight);
    const float *w = static_cast<const float *>(weight.data);
    int64_t kernel_count = 1;
    for (int d = 0; d < spatial; d++) kernel_count *= p.kernel[d];
    for (int64_t k = 0; k < kernel_count; k++) {
        int64_t rest = k, phase_index = 0, tap = 0, w_offset = 0;
        for (int d = spatial - 1, phase_stride = 1, tap_stride = 1; d >= 0; d--) {
            const int64_t kd = rest % p.kernel[d];
            rest /= p.kernel[d];
            w_offset += kd * w_strides[2 + d];
            phase_index += slot[d][kd].first * phase_stride;
            tap += slot[d][kd].second * tap_stride;
            phase_stride *= p.stride[d];
            tap_stride *= residues[d][slot[d][kd].first].taps;
        }
        const Impl::Phase &phase = plan->phases[phase_index];
        float *dst_phase = plan->packed.data() + phase.weight_offset;
        for (int64_t g = 0; g < groups; g++) {
            for (int64_t ci = 0; ci < cig; ci++) {
                const float *src = w + (g * cig + ci) * w_strides[0] + w_offset;
                if (plan->depthwise) {
                    dst_phase[tap * plan->pad_groups + g] = src[0];
                    continue;
                }
                float *dst = dst_phase + (g * phase.tap_count + tap) * plan->pad_in_channels * plan->pad_channels +
                             ci * ci_stride;
                for (int64_t co = 0; co < cog; co++) dst[co * co_stride] = src[co * w_strides[1]];
            }
        }
    }
    delete impl_;
    impl_ = plan.release();
    return Status::Ok();
}

// Input-channel tiles and 2-D planar position tiles read the input from a copy made once per
// call: each image (and group) bordered with zeros as far as any phase's taps reach outside it
// (and to the end of a phase's last whole tile), so that the kernels read it with no bounds to
// test and no copy of their own (schedules/conv_transpose_schedule.h); per phase, their copies
// cost as much again as this one. Input-channel tiles read it channels_last, channels padded
// with zeros to pad_in_channels; position tiles planar. `view` is its Halide buffer,
// (x, y, channel, group, n), with the border at negative coordinates.
Status ConvTransposePlan::Impl::bordered_input(const ConvTransposeShape &p, const TensorView &input, bool planar,
                                               std::unique_ptr<detail::ScratchBuffer> *storage,
                                               detail::HalideView *view) const {
    constexpr int spatial = 2;  // y, x
    const int64_t groups = p.groups, channels = planar ? cig : pad_in_channels;
    // Tiles per dim (the largest a kernel may take; smaller ones divide them).
    const int64_t tile[spatial] = {planar ? kPositionTileMaxRows : 1,
                                   planar ? kPositionTileMaxPositions : kInputChannelTileMaxPositions};
    int64_t lo[spatial] = {0, 0}, hi[spatial] = {0, 0}, size[spatial];
    for (const Phase &phase : phases) {
        if (phase.tap_count == 0) continue;
        for (int d = 0; d < spatial; d++) {
            const detail::AxisGrid grid = detail::axis_grid(p.stride[d], p.padding[d], p.out[d], phase.axes[d]);
            if (grid.count == 0) continue;
            // Grid point q reads q + in_offset - m * tap_step for taps m; tiles run whole.
            const int64_t last = round_up(grid.count, tile[d]) - 1;
            const int64_t farthest_tap = -(phase.axes[d].taps - 1) * phase.axes[d].tap_step;
            lo[d] = std::max(lo[d], -(grid.in_offset + std::min<int64_t>(0, farthest_tap)));
            hi[d] = std::max(hi[d], last + grid.in_offset + std::max<int64_t>(0, farthest_tap) - (p.in[d] - 1));
        }
    }
    for (int d = 0; d < spatial; d++) size[d] = lo[d] + p.in[d] + hi[d];
    // Strides of the copy, dense: (n, group, y, x, channel) or planar (n, group, channel, y, x).
    const int64_t pixels = size[0] * size[1], plane = channels * pixels;
    const int64_t x_stride = planar ? 1 : channels, y_stride = size[1] * x_stride, c_stride = planar ? pixels : 1;
    TensorView copy;
    copy.sizes = {p.batch, groups, size[0], size[1], channels};
    Status status = detail::check_halide_addressable(copy, "the input once bordered,");
    if (!status.ok()) return status;
    *storage = std::make_unique<detail::ScratchBuffer>(p.batch * groups * plane);
    float *base = (*storage)->data();
    view->init(base, spatial + 3);
    view->set(0, size[1], x_stride);
    view->set(1, size[0], y_stride);
    view->set(2, channels, c_stride);
    view->set(3, groups, plane);
    view->set(4, p.batch, groups * plane);
    view->dims[0].min = (int32_t)-lo[1];
    view->dims[1].min = (int32_t)-lo[0];

    const std::vector<int64_t> in_strides = detail::strides_of(input);
    const float *in = static_cast<const float *>(input.data);
    if (planar) {  // each channel plane written once, in order: a task per 16 planes
        constexpr int64_t kPlanesPerTask = 16;
        const int64_t planes = p.batch * p.in_channels;
        return detail::parallel_tasks((planes + kPlanesPerTask - 1) / kPlanesPerTask, [&](int64_t task) {
            for (int64_t index = task * kPlanesPerTask; index < std::min(planes, (task + 1) * kPlanesPerTask); index++) {
                const int64_t n = index / p.in_channels, c = index % p.in_channels;
                float *line = base + index * pixels;
                const float *from = in + n * in_strides[0] + c * in_strides[1];
                line = std::fill_n(line, lo[0] * y_stride, 0.0f);
                for (int64_t y = 0; y < p.in[0]; y++, line += y_stride) {
                    bordered_row(line, lo[1], from + y * in_strides[2], in_strides[3], p.in[1], hi[1]);
                }
                std::fill_n(line, hi[0] * y_stride, 0.0f);
            }
            return Status::Ok();
        });
    }
    // Zeros where the input does not land: whole border rows, the border columns of the
    // others, and the padding channels of each pixel (a task per image and group).
    const int64_t cig = this->cig, row = y_stride;
    status = detail::parallel_tasks(p.batch * groups, [&](int64_t image) {
        float *first = base + image * plane;
        std::fill(first, first + lo[0] * row, 0.0f);
        std::fill(first + (lo[0] + p.in[0]) * row, first + plane, 0.0f);
        for (int64_t y = lo[0]; y < lo[0] + p.in[0]; y++) {
            float *line = first + y * row;
            std::fill(line, line + lo[1] * channels, 0.0f);
            std::fill(line + (lo[1] + p.in[1]) * channels, line + row, 0.0f);
            if (cig == channels) continue;
            for (int64_t x = lo[1]; x < lo[1] + p.in[1]; x++) std::fill(line + x * channels + cig, line + (x + 1) * channels, 0.0f);
        }
        return Status::Ok();
    });
    // Then the input inside.
    if (status.ok() && detail::unit_stride(input, 1)) {  // C-dense already: each pixel's channels copied as they are
        return detail::parallel_tasks(p.batch * p.in[0], [&](int64_t image_row) {
            const int64_t n = image_row / p.in[0], y = image_row % p.in[0];
            for (int64_t g = 0; g < groups; g++) {
                float *line = base + (n * groups + g) * plane + (lo[0] + y) * y_stride + lo[1] * channels;
                const float *from = in + n * in_strides[0] + g * cig + y * in_strides[2];
                for (int64_t x = 0; x < p.in[1]; x++) std::copy_n(from + x * in_strides[3], cig, line + x * channels);
            }
            return Status::Ok();
        });
    }
    // Otherwise one transposing copy per group.
    for (int64_t g = 0; g < groups && status.ok(); g++) {
        TensorView from = input, to;
        from.data = static_cast<float *>(input.data) + g * cig * in_strides[1];
        from.sizes[1] = cig;
        from.strides = in_strides;
        to.data = base + g * plane + lo[0] * y_stride + lo[1] * x_stride;
        to.sizes = from.sizes;
        to.strides = {groups * plane, c_stride, y_stride, x_stride};
        status = detail::relayout(from, to);
    }
    return status;
}

Status ConvTransposePlan::run(const TensorView &input, const TensorView &output) const {
    if (!impl_) return Status(StatusCode::InvalidArgument, "the plan is not prepared");
    const Impl &plan = *impl_;
    Status status = detail::check_tensor(input, "input", 3, 5);
    if (!status.ok()) return status;
    ConvTransposeShape p = plan.shape;
    status = size_output(input.sizes, plan.weight_sizes, plan.options, &p);
    Device device = Device::Host;
    if (status.ok()) status = detail::check_call({{&input, "input"}, {&output, "output", &p.output_sizes, 3, 5}}, &device);
    if (!status.ok()) return status;
    if (detail::element_count(output.sizes) == 0) return Status::Ok();  // N is 0
    if (device != Device::Host) {
        TensorView weight = host_vector(plan.weights);
        weight.sizes = plan.weight_sizes;
        return conv_transpose_on_gpu(device, input, weight, host_vector(plan.bias), output, p);
    }

    const int rank = (int)input.sizes.size(), spatial = p.spatial;
    const int64_t groups = p.groups, cig = plan.cig, cog = plan.cog;
    // channels_last when both tensors have dense channels (and there is more than one).
    const bool channels_last = p.out_channels > 1 && detail::unit_stride(input, 1) && detail::unit_stride(output, 1);
    // Register tiles of output-channel vectors, unless there are too few channels to fill one
    // vector. (Narrow tiles of 3 channels read at most round_up(7, 3) = 9 padded channels.)
    const bool position_tiles = cog < 8;
    if (!channels_last && !position_tiles && !plan.depthwise) {
        // Planar tensors run through the channels_last kernel: its output stores are dense
        // channel vectors, where a planar phase (every stride-th position of C planes whose
        // stride is often a power of two) would scatter them across conflicting cache sets.
        // Costs a transposing copy of the output (and of the input, unless it is already C-dense).
        // (Computing the output in bands of rows, each into a 256 KB channels_last scratch that
        // its thread then transposed into the output, so that the scratch never left the
        // cache, measured no faster: 1x64x128x128 -> 32 k4 s2 p1 3.24-3.52 against 3.31-3.49
        // ms, 1x32x16x32x32 -> 16 k2 s2 0.95-1.15 against 0.97-1.11, 7 interleaved rounds.
        // The transposes cost nearly as much from the cache as from memory (each block's 16
        // stores go to 16 planes, lines that miss L1), and a hand-written AVX-512 transpose was
        // no faster than the relayout kernel. With non-temporal stores it moved the 8 MB output
        // alone in 0.45 ms against 0.92 on one thread, but as this copy-out (AVX-512, planes
        // of 16-float lines) it measured no faster in the call: 3.50-3.58 against 3.44-3.63
        // ms, and the 3-D k2 s2 layer slower, 1.35-1.45 against 1.06-1.34 (4 interleaved
        // rounds): a repeated call finds its output still in the VM's large L3, where plain
        // stores land, likely.)
        std::unique_ptr<float[]> in_storage, out_storage;
        TensorView in_cl = input;
        if (!detail::unit_stride(input, 1)) {
            in_cl = detail::channels_last_tensor(input.sizes, &in_storage);
            status = detail::relayout(input, in_cl);
            if (!status.ok()) return status;
        }
        const TensorView out_cl = detail::channels_last_tensor(output.sizes, &out_storage);
        status = run(in_cl, out_cl);
        return status.ok() ? detail::relayout(out_cl, output) : status;
    }
    // 2-D channels_last (dense: pixels are flat indices), one group, channel tiles, on grids
    // small enough that the border taps are a large share: listed positions.
    if (spatial == 2 && channels_last && detail::dense_channels_last(input) && detail::dense_channels_last(output) &&
        groups == 1 && !plan.depthwise && !plan.input_channel_tiles && !position_tiles) {
        const std::vector<Impl::PhaseRuns> runs = plan.phase_runs(p);
        if (plan.listed_pays(p, runs)) {
            detail::note_variant([] { return std::string("hup_conv_transpose_listed"); });
            return plan.run_listed(p, runs, input, output);
        }
    }
    using detail::ConvTransposeTiles;
    // Few output channels, planar, 2-D: position tiles over a bordered planar copy of the input,
    // where input-channel tiles would transpose it (they read it channels_last); the kernel
    // reads the weights by their strides, whichever way the plan packed them.
    const bool planar_positions = spatial == 2 && !channels_last && position_tiles && !plan.depthwise;
    ConvTransposeTiles tiles = plan.depthwise                                   ? ConvTransposeTiles::Depthwise
                               : plan.input_channel_tiles && !planar_positions ? ConvTransposeTiles::InputChannels
                               : position_tiles                                 ? ConvTransposeTiles::Positions
                                                                                : ConvTransposeTiles::Channels;
    const bool input_channel_tiles = tiles == ConvTransposeTiles::InputChannels;
    if (tiles == ConvTransposeTiles::Channels && spatial == 2) {
        // Rows of 4 or 8 (a DCGAN's first layers) can fill tiles of 4 positions better than
        // the default ones. The cost of each tiling: the positions and channels its whole
        // tiles compute, x 1.2 for tiles with too few accumulators to hide the FMAs' latency.
        // The tiles (schedules/conv_transpose_schedule.h), with AVX2's 8-float vectors:
        // 16 channels x 6 positions, short 24 x 4 and short16 16 x 4 (8 accumulators); with
        // AVX-512's 16-float ones: 16 x 8, and both short tiles 16 x 4 x 2 rows.
        const bool wide = detail::wide_vectors();
        const int64_t row = (p.out[1] + p.stride[1] - 1) / p.stride[1];
        const int64_t channels_cost = round_up(row, wide ? 8 : 6) * round_up(cog, 16) * 10;
        const int64_t short_cost = round_up(row, 4) * round_up(cog, wide ? 16 : 24) * 10;
        const int64_t short16_cost = round_up(row, 4) * round_up(cog, 16) * (wide ? 10 : 12);
        if (std::min(short_cost, short16_cost) < channels_cost) {
            tiles = short_cost <= short16_cost ? ConvTransposeTiles::Short : ConvTransposeTiles::Short16;
        }
    }
    const bool kernel_channels_last = channels_last || input_channel_tiles;  // the variant built for it
    const detail::ConvTransposeKernel kernel = detail::find_conv_transpose_kernel(spatial, kernel_channels_last, tiles);
    if (!kernel) return Status(StatusCode::Unsupported, "no conv_transpose kernel for this rank and layout");
    static const char *const tile_names[] = {"channels", "short", "short16", "positions", "input_channels", "depthwise"};  // ConvTransposeTiles order
    detail::note_variant([&] {
        return "hup_conv_transpose_r" + std::to_string(spatial) + (kernel_channels_last ? "_channels_last_" : "_planar_") +
               tile_names[static_cast<int>(tiles)];
    });

    const std::vector<int64_t> in_strides = detail::strides_of(input), out_strides = detail::strides_of(output);
    detail::HalideView bias_buf;
    bias_buf.init(plan.packed_bias.data(), 2);
    bias_buf.set(0, plan.pad_channels, 1);
    bias_buf.set(1, plan.pad_groups, plan.pad_channels);

    // Input: (spatial reversed..., channel within group, group, n).
    detail::HalideView in_buf;
    std::unique_ptr<detail::ScratchBuffer> bordered;
    if (input_channel_tiles || planar_positions) {
        status = plan.bordered_input(p, input, planar_positions, &bordered, &in_buf);
        if (!status.ok()) return status;
    } else {
        in_buf.init(input.data, spatial + 3);
        for (int i = 0; i < spatial; i++) in_buf.set(i, input.sizes[rank - 1 - i], in_strides[rank - 1 - i]);
        in_buf.set(spatial, cig, in_strides[1]);
        in_buf.set(spatial + 1, groups, cig * in_strides[1]);
        in_buf.set(spatial + 2, p.batch, in_strides[0]);
    }

    for (const Impl::Phase &phase : plan.phases) {
        std::array<AxisGrid, kMaxSpatial> grid;
        TensorView view = output;  // the phase's outputs: a strided view of the output
        view.strides = out_strides;
        int64_t offset = 0;
        bool empty = false;
        for (int d = 0; d < spatial; d++) {
            grid[d] = detail::axis_grid(p.stride[d], p.padding[d], p.out[d], phase.axes[d]);
            empty |= grid[d].count == 0;
            offset += grid[d].first * out_strides[2 + d];
            view.sizes[2 + d] = grid[d].count;
            view.strides[2 + d] = p.stride[d] * out_strides[2 + d];
        }
        if (empty) continue;
        view.data = static_cast<float *>(output.data) + offset;
        if (phase.tap_count == 0) {  // no tap reaches these outputs: bias only
            detail::fill_channels(view, plan.bias.data());
            continue;
        }
        detail::HalideView w_buf, out_buf;
        w_buf.init(plan.packed.data() + phase.weight_offset, spatial + 3);
        int64_t stride = plan.depthwise ? plan.pad_groups : plan.pad_channels * plan.pad_in_channels;
        w_buf.set(0, plan.pad_channels, plan.input_channel_tiles ? plan.pad_in_channels : 1);
        // (Only input-channel tiles sum the padding input channels: the others' inputs lack them.)
        w_buf.set(1, input_channel_tiles ? plan.pad_in_channels : cig, plan.input_channel_tiles ? 1 : plan.pad_channels);
        for (int i = 0; i < spatial; i++) {  // Halide tap dim i is PyTorch spatial dim spatial-1-i
            w_buf.set(2 + i, phase.axes[spatial - 1 - i].taps, stride);
            stride *= phase.axes[spatial - 1 - i].taps;
        }
        w_buf.set(spatial + 2, plan.pad_groups, plan.depthwise ? 1 : stride);
        out_buf.init(view.data, spatial + 3);
        for (int i = 0; i < spatial; i++) out_buf.set(i, view.sizes[rank - 1 - i], view.strides[rank - 1 - i]);
        out_buf.set(spatial, cog, out_strides[1]);
        out_buf.set(spatial + 1, groups, cog * out_strides[1]);
        out_buf.set(spatial + 2, p.batch, out_strides[0]);
        int32_t in_offset[kMaxSpatial] = {0, 0, 0}, tap_step[kMaxSpatial] = {1, 1, 1};
        for (int i = 0; i < spatial; i++) {
            in_offset[i] = (int32_t)grid[spatial - 1 - i].in_offset;
            tap_step[i] = (int32_t)phase.axes[spatial - 1 - i].tap_step;
        }
        status = detail::run_pipeline("conv_transpose", [&](void *user_context) {
            return kernel(user_context, &in_buf.buffer, &w_buf.buffer, &bias_buf.buffer, in_offset[0], tap_step[0],
                          in_offset[1], tap_step[1], in_offset[2], tap_step[2], &out_buf.buffer);
        });
        if (!status.ok()) return status;
    }
    return Status::Ok();
}

Status conv_transpose_output_sizes(const std::vector<int64_t> &input_sizes, const std::vector<int64_t> &weight_sizes,
                                   const ConvTransposeOptions &options, std::vector<int64_t> *output_sizes) {
    if (!output_sizes) return invalid("output_sizes is null");
    ConvTransposeShape shape;
    Status status = plan_shape(input_sizes, weight_sizes, options, &shape);
    if (status.ok()) *output_sizes = shape.output_sizes;
    return status;
}

Status conv_transpose(const TensorView &input, const TensorView &weight, const TensorView *bias,
                      const TensorView &output, const ConvTransposeOptions &options) {
    // Every check before any packing, so that bad input costs nothing and writes nothing.
    Status status = detail::check_tensor(input, "input", 3, 5);
    if (status.ok()) status = detail::check_tensor(weight, "weight", 3, 5);
    if (!status.ok()) return status;
    ConvTransposeShape shape;
    status = plan_shape(input.sizes, weight.sizes, options, &shape);
    if (!status.ok()) return status;
    Device device = Device::Host;
    status = detail::call_device({&input, &weight, bias, &output}, &device);
    if (status.ok() && device != Device::Host) {  // the GPU variant reads the weights as they are: no plan
        status = check_bias(bias, shape.out_channels);
        if (status.ok()) {
            status = detail::check_call({{&input, "input"}, {&weight, "weight"}, {&output, "output", &shape.output_sizes, 3, 5}},
                                        &device);
        }
        if (!status.ok() || detail::element_count(output.sizes) == 0) return status;
        std::vector<float> zeros(bias ? 0 : shape.out_channels, 0.0f);
        return conv_transpose_on_gpu(device, input, weight, bias ? *bias : host_vector(zeros), output, shape);
    }
    if (!status.ok()) return status;
    ConvTransposePlan plan;
    status = plan.prepare(weight, bias, options);
    if (status.ok()) status = plan.run(input, output);
    return status;
}

}  // namespace hup
