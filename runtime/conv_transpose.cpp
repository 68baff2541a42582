// conv_transpose: PyTorch's argument rules and output size, the split of the output into
// phases, and the weight packing for the AOT kernels (generators/conv_transpose_generator.cpp
// explains the decomposition).
#include <algorithm>
#include <array>
#include <limits>
#include <numeric>
#include <sstream>

#include "conv_transpose_knobs.h"  // kConvChannelPad
#include "conv_transpose_variants.h"
#include "tensor_check.h"

namespace hup {
namespace {

constexpr int kMaxSpatial = 3;

Status invalid(const std::string &message) { return Status(StatusCode::InvalidArgument, message); }

// The problem, per spatial dim in PyTorch order (d = 0 is the outermost spatial dim).
struct ConvTransposeShape {
    int spatial = 0;
    int64_t batch = 0, in_channels = 0, out_channels = 0, groups = 1;
    std::array<int64_t, kMaxSpatial> in{}, out{}, kernel{}, stride{}, padding{}, dilation{}, output_padding{};
    std::vector<int64_t> output_sizes;
};

// One option: empty (PyTorch's default), one value for every dim, or one per dim.
Status per_dim(const std::vector<int64_t> &values, const char *name, int spatial, int64_t fallback,
               std::array<int64_t, kMaxSpatial> *result) {
    if (!values.empty() && values.size() != 1 && (int)values.size() != spatial) {
        return invalid(std::string(name) + " must have 1 or " + std::to_string(spatial) + " values, got " +
                       std::to_string(values.size()));
    }
    for (int d = 0; d < spatial; d++) {
        (*result)[d] = values.empty() ? fallback : values[values.size() == 1 ? 0 : d];
    }
    return Status::Ok();
}

bool checked_mul_add(int64_t a, int64_t b, int64_t c, int64_t *result) {
    int64_t product;
    return !__builtin_mul_overflow(a, b, &product) && !__builtin_add_overflow(product, c, result);
}

Status plan_shape(const std::vector<int64_t> &input_sizes, const std::vector<int64_t> &weight_sizes,
                  const ConvTransposeOptions &options, ConvTransposeShape *shape) {
    const int rank = (int)input_sizes.size();
    if (rank < 3 || rank > 5) {
        return invalid("input must have 3 to 5 dims (N, C_in, spatial...), got " + std::to_string(rank) + "-D " +
                       detail::shape_string(input_sizes));
    }
    const int spatial = rank - 2;
    if ((int)weight_sizes.size() != rank) {
        return invalid("weight must have " + std::to_string(rank) + " dims (C_in, C_out/groups, k...) like the input, got " +
                       detail::shape_string(weight_sizes));
    }
    for (int64_t s : input_sizes) {
        if (s < 0) return invalid("input has a negative size: " + detail::shape_string(input_sizes));
    }
    for (int64_t s : weight_sizes) {
        if (s <= 0) return invalid("weight sizes must be positive, got " + detail::shape_string(weight_sizes));
    }
    ConvTransposeShape &p = *shape;
    p.spatial = spatial;
    p.batch = input_sizes[0];
    p.in_channels = input_sizes[1];
    p.groups = options.groups;
    if (p.groups <= 0) return invalid("groups must be positive, got " + std::to_string(p.groups));
    if (p.in_channels != weight_sizes[0]) {
        return Status(StatusCode::ShapeMismatch, "input has " + std::to_string(p.in_channels) +
                                                     " channels but the weight " + detail::shape_string(weight_sizes) +
                                                     " expects " + std::to_string(weight_sizes[0]));
    }
    if (p.in_channels % p.groups != 0) {
        return invalid("groups (" + std::to_string(p.groups) + ") must divide the input channels (" +
                       std::to_string(p.in_channels) + ")");
    }
    if (__builtin_mul_overflow(weight_sizes[1], p.groups, &p.out_channels)) {
        return invalid("output channels overflow int64");
    }
    Status s = per_dim(options.stride, "stride", spatial, 1, &p.stride);
    if (s.ok()) s = per_dim(options.padding, "padding", spatial, 0, &p.padding);
    if (s.ok()) s = per_dim(options.dilation, "dilation", spatial, 1, &p.dilation);
    if (s.ok()) s = per_dim(options.output_padding, "output_padding", spatial, 0, &p.output_padding);
    if (!s.ok()) return s;
    const bool sized = !options.output_size.empty();
    if (sized && (int)options.output_size.size() != spatial && (int)options.output_size.size() != rank) {
        return invalid("output_size must have " + std::to_string(spatial) + " or " + std::to_string(rank) +
                       " values, got " + std::to_string(options.output_size.size()));
    }
    p.output_sizes = {p.batch, p.out_channels};
    for (int d = 0; d < spatial; d++) {
        p.in[d] = input_sizes[2 + d];
        p.kernel[d] = weight_sizes[2 + d];
        const std::string dim = " (spatial dim " + std::to_string(d) + ")";
        if (p.in[d] <= 0) return invalid("input spatial sizes must be positive, got " + detail::shape_string(input_sizes));
        if (p.stride[d] <= 0) return invalid("stride must be positive" + dim);
        if (p.dilation[d] <= 0) return invalid("dilation must be positive" + dim);
        if (p.padding[d] < 0) return invalid("padding must be non-negative" + dim);
        if (p.output_padding[d] < 0) return invalid("output_padding must be non-negative" + dim);
        // (in - 1) * stride - 2 * padding + dilation * (k - 1) + 1, without overflow.
        int64_t spread, reach, min_size;
        if (p.padding[d] > (int64_t(1) << 61) || !checked_mul_add(p.in[d] - 1, p.stride[d], 1, &spread) ||
            !checked_mul_add(p.dilation[d], p.kernel[d] - 1, spread, &reach) ||
            __builtin_sub_overflow(reach, 2 * p.padding[d], &min_size)) {
            return invalid("output size overflows int64" + dim);
        }
        if (sized) {
            // nn.ConvTranspose*d.forward(input, output_size): output_padding follows from it.
            const int64_t wanted = options.output_size[options.output_size.size() - spatial + d];
            const int64_t max_size = min_size + p.stride[d] - 1;
            if (wanted < min_size || wanted > max_size) {
                return invalid("output_size " + std::to_string(wanted) + dim + " must lie in [" +
                               std::to_string(min_size) + ", " + std::to_string(max_size) + "]");
            }
            p.output_padding[d] = wanted - min_size;
        } else if (p.output_padding[d] >= p.stride[d] && p.output_padding[d] >= p.dilation[d]) {
            return invalid("output_padding (" + std::to_string(p.output_padding[d]) +
                           ") must be smaller than stride or dilation" + dim);
        }
        if (__builtin_add_overflow(min_size, p.output_padding[d], &p.out[d])) {
            return invalid("output size overflows int64" + dim);
        }
        if (p.out[d] <= 0) {
            return invalid("output size " + std::to_string(p.out[d]) + dim + " is not positive");
        }
        p.output_sizes.push_back(p.out[d]);
    }
    int64_t count = 1;
    for (int64_t size : p.output_sizes) {
        if (size != 0 && count > std::numeric_limits<int64_t>::max() / size) {
            return invalid("output sizes " + detail::shape_string(p.output_sizes) + " overflow int64");
        }
        count *= size;
    }
    return Status::Ok();
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// One spatial dim's phase: the outputs o with (o + padding) mod stride == residue form a grid
// o = first + stride * q, q < count, and grid point q reads taps k = first_tap + m * tap_stride
// (m < taps) at input q + in_offset - m * tap_step.
struct AxisPhase {
    int64_t first = 0, count = 0;
    int64_t first_tap = 0, taps = 0, tap_stride = 1;
    int64_t in_offset = 0, tap_step = 1;
};

AxisPhase axis_phase(const ConvTransposeShape &p, int d, int64_t residue) {
    const int64_t s = p.stride[d], dil = p.dilation[d], k = p.kernel[d];
    AxisPhase a;
    // Output o = i*s - padding + k*dil, i.e. o + padding = s*Q + residue with Q = i + (k*dil - residue)/s.
    const int64_t q_lo = floor_div(p.padding[d] - residue + s - 1, s);
    const int64_t q_hi = floor_div(p.out[d] - 1 + p.padding[d] - residue, s);
    a.first = s * q_lo + residue - p.padding[d];
    a.count = std::max<int64_t>(q_hi - q_lo + 1, 0);
    const int64_t g = std::gcd(s, dil);
    a.tap_stride = s / g;
    a.tap_step = dil / g;
    a.first_tap = 0;
    while (a.first_tap < std::min(k, a.tap_stride) && ((residue - a.first_tap * dil) % s + s) % s != 0) a.first_tap++;
    if (a.first_tap >= std::min(k, a.tap_stride)) return a;  // no tap lands on this phase
    a.taps = (k - 1 - a.first_tap) / a.tap_stride + 1;
    a.in_offset = q_lo + (residue - a.first_tap * dil) / s;
    return a;
}

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Writes `value(channel)` to every element of `out` (a strided view, PyTorch order).
void fill_channels(const TensorView &out, const std::vector<int64_t> &strides, const float *bias) {
    const int rank = (int)out.sizes.size();
    std::vector<int64_t> index(rank, 0);
    float *data = static_cast<float *>(out.data);
    if (detail::element_count(out.sizes) == 0) return;
    while (true) {
        int64_t offset = 0;
        for (int i = 0; i < rank; i++) offset += index[i] * strides[i];
        data[offset] = bias ? bias[index[1]] : 0.0f;
        int i = rank - 1;
        for (; i >= 0; i--) {
            if (++index[i] < out.sizes[i]) break;
            index[i] = 0;
        }
        if (i < 0) break;
    }
}

struct Buffer {
    halide_buffer_t buffer{};
    halide_dimension_t dims[8]{};
    void init(void *host, int dimensions) {
        buffer.host = static_cast<uint8_t *>(host);
        buffer.type = halide_type_t(halide_type_float, 32);
        buffer.dimensions = dimensions;
        buffer.dim = dims;
    }
    void set(int d, int64_t extent, int64_t stride) {
        // Size-1 dims are read at index 0 only; Halide's dense-dim checks want stride 1 there.
        dims[d] = halide_dimension_t{0, (int32_t)extent, extent == 1 ? 1 : (int32_t)stride, 0};
    }
};

}  // namespace

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
    Status status = detail::check_tensor(input, "input", 3, 5);
    if (status.ok()) status = detail::check_tensor(weight, "weight", 3, 5);
    if (!status.ok()) return status;
    ConvTransposeShape p;
    status = plan_shape(input.sizes, weight.sizes, options, &p);
    if (status.ok()) status = detail::check_tensor(output, "output", 3, 5);
    if (!status.ok()) return status;
    if (output.sizes != p.output_sizes) {
        return Status(StatusCode::ShapeMismatch, "output has sizes " + detail::shape_string(output.sizes) +
                                                     ", expected " + detail::shape_string(p.output_sizes));
    }
    if (bias) {
        status = detail::check_tensor(*bias, "bias", 1, 1);
        if (!status.ok()) return status;
        if (bias->sizes[0] != p.out_channels) {
            return Status(StatusCode::ShapeMismatch, "bias has " + std::to_string(bias->sizes[0]) +
                                                         " elements, expected C_out = " + std::to_string(p.out_channels));
        }
    }
    for (const auto &[t, name] : {std::pair<const TensorView *, const char *>{&input, "input"}, {&weight, "weight"}, {&output, "output"}}) {
        status = detail::check_halide_addressable(*t, name);
        if (!status.ok()) return status;
    }
    if (detail::element_count(output.sizes) == 0) return Status::Ok();  // N is 0

    const int rank = (int)input.sizes.size(), spatial = p.spatial;
    const int64_t groups = p.groups, cig = p.in_channels / groups, cog = p.out_channels / groups;
    const bool depthwise = cig == 1 && cog == 1 && groups > 1;
    const bool channels_last = p.in_channels > 1 && p.out_channels > 1 && detail::unit_stride(input, 1) &&
                               detail::unit_stride(output, 1);
    const detail::ConvTransposeKernel kernel = detail::find_conv_transpose_kernel(spatial, channels_last, depthwise);
    if (!kernel) return Status(StatusCode::Unsupported, "no conv_transpose kernel for this rank and layout");

    const std::vector<int64_t> in_strides = detail::strides_of(input), out_strides = detail::strides_of(output),
                               w_strides = detail::strides_of(weight);
    const float *w = static_cast<const float *>(weight.data);
    std::vector<float> bias_values(p.out_channels, 0.0f);
    if (bias) {
        const std::vector<int64_t> b_strides = detail::strides_of(*bias);
        for (int64_t c = 0; c < p.out_channels; c++) bias_values[c] = static_cast<const float *>(bias->data)[c * b_strides[0]];
    }

    // Bias, padded: (channel within group [padded], group) or, depthwise, (1, group [padded]).
    const int64_t pad_channels = depthwise ? 1 : round_up(cog, kConvChannelPad);
    const int64_t pad_groups = depthwise ? round_up(groups, kConvChannelPad) : groups;
    std::vector<float> packed_bias(pad_channels * pad_groups, 0.0f);
    for (int64_t g = 0; g < groups; g++) {
        for (int64_t c = 0; c < cog; c++) packed_bias[g * pad_channels + c] = bias_values[g * cog + c];
    }
    Buffer bias_buf;
    bias_buf.init(packed_bias.data(), 2);
    bias_buf.set(0, pad_channels, 1);
    bias_buf.set(1, pad_groups, pad_channels);

    // Input: (spatial reversed..., channel within group, group, n).
    Buffer in_buf;
    in_buf.init(input.data, spatial + 3);
    for (int i = 0; i < spatial; i++) in_buf.set(i, input.sizes[rank - 1 - i], in_strides[rank - 1 - i]);
    in_buf.set(spatial, cig, in_strides[1]);
    in_buf.set(spatial + 1, groups, cig * in_strides[1]);
    in_buf.set(spatial + 2, p.batch, in_strides[0]);

    // Every phase: one residue per stride step in each dim.
    std::array<int64_t, kMaxSpatial> residue{};
    std::vector<float> packed;
    while (true) {
        std::array<AxisPhase, kMaxSpatial> axes;
        bool empty = false, no_taps = false;
        int64_t tap_count = 1;
        for (int d = 0; d < spatial; d++) {
            axes[d] = axis_phase(p, d, residue[d]);
            empty |= axes[d].count == 0;
            no_taps |= axes[d].taps == 0;
            tap_count *= std::max<int64_t>(axes[d].taps, 1);
        }
        if (!empty) {
            // The phase's outputs: a strided view of the output.
            TensorView grid = output;
            grid.strides = out_strides;
            int64_t offset = 0;
            for (int d = 0; d < spatial; d++) {
                offset += axes[d].first * out_strides[2 + d];
                grid.sizes[2 + d] = axes[d].count;
                grid.strides[2 + d] = p.stride[d] * out_strides[2 + d];
            }
            grid.data = static_cast<float *>(output.data) + offset;
            if (no_taps) {
                fill_channels(grid, grid.strides, bias_values.data());  // no tap reaches these outputs
            } else {
                // Weights: (channel within group, input channel within group, taps reversed..., group),
                // dense with output channels innermost, or groups innermost for depthwise.
                packed.assign(pad_channels * cig * tap_count * pad_groups, 0.0f);
                std::array<int64_t, kMaxSpatial> m{};
                for (int64_t t = 0; t < tap_count; t++) {
                    int64_t rest = t, w_tap = 0;
                    for (int d = spatial - 1; d >= 0; d--) {  // t runs over taps with the last spatial dim fastest
                        m[d] = rest % axes[d].taps;
                        rest /= axes[d].taps;
                        w_tap += (axes[d].first_tap + m[d] * axes[d].tap_stride) * w_strides[2 + d];
                    }
                    for (int64_t g = 0; g < groups; g++) {
                        for (int64_t ci = 0; ci < cig; ci++) {
                            const float *src = w + (g * cig + ci) * w_strides[0] + w_tap;
                            float *dst = depthwise ? &packed[t * pad_groups + g]
                                                   : &packed[((g * tap_count + t) * cig + ci) * pad_channels];
                            for (int64_t co = 0; co < cog; co++) dst[co] = src[co * w_strides[1]];
                        }
                    }
                }
                Buffer w_buf;
                w_buf.init(packed.data(), spatial + 3);
                if (depthwise) {
                    w_buf.set(0, 1, 1);
                    w_buf.set(1, 1, 1);
                    int64_t stride = pad_groups;
                    for (int i = 0; i < spatial; i++) {  // Halide dim 2 + i is PyTorch spatial dim spatial-1-i
                        const int d = spatial - 1 - i;
                        w_buf.set(2 + i, axes[d].taps, stride);
                        stride *= axes[d].taps;
                    }
                    w_buf.set(spatial + 2, pad_groups, 1);
                } else {
                    w_buf.set(0, pad_channels, 1);
                    w_buf.set(1, cig, pad_channels);
                    int64_t stride = pad_channels * cig;
                    for (int i = 0; i < spatial; i++) {
                        const int d = spatial - 1 - i;
                        w_buf.set(2 + i, axes[d].taps, stride);
                        stride *= axes[d].taps;
                    }
                    w_buf.set(spatial + 2, groups, stride);
                }
                Buffer out_buf;
                out_buf.init(grid.data, spatial + 3);
                for (int i = 0; i < spatial; i++) out_buf.set(i, grid.sizes[rank - 1 - i], grid.strides[rank - 1 - i]);
                out_buf.set(spatial, cog, out_strides[1]);
                out_buf.set(spatial + 1, groups, cog * out_strides[1]);
                out_buf.set(spatial + 2, p.batch, out_strides[0]);
                int32_t in_offset[kMaxSpatial] = {0, 0, 0}, tap_step[kMaxSpatial] = {1, 1, 1};
                for (int i = 0; i < spatial; i++) {
                    in_offset[i] = (int32_t)axes[spatial - 1 - i].in_offset;
                    tap_step[i] = (int32_t)axes[spatial - 1 - i].tap_step;
                }
                status = detail::run_pipeline("conv_transpose", [&](void *user_context) {
                    return kernel(user_context, &in_buf.buffer, &w_buf.buffer, &bias_buf.buffer, in_offset[0], tap_step[0],
                                  in_offset[1], tap_step[1], in_offset[2], tap_step[2], &out_buf.buffer);
                });
                if (!status.ok()) return status;
            }
        }
        int d = spatial - 1;
        for (; d >= 0; d--) {
            if (++residue[d] < p.stride[d]) break;
            residue[d] = 0;
        }
        if (d < 0) break;
    }
    return Status::Ok();
}

}  // namespace hup
