// hup::interpolate: PyTorch's argument rules and output sizes, then one call of the matching
// AOT variant (taps x spatial rank x layout).
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>

#include "device.h"
#include "hup/hup.h"
#include "interpolate_knobs.h"  // InterpolateCpuKnobs::channel_block
#include "interpolate_variants.h"
#include "resample_plan.h"
#include "tensor_check.h"

namespace hup {

namespace {

using detail::AxisSpec;
using detail::Resampling;

// Floats of output that a streaming task computes in the cache before copying them out.
constexpr int64_t kStreamChunkFloats = int64_t(64) << 10;

Status invalid(const std::string &message) { return Status(StatusCode::InvalidArgument, message); }

// The rank a mode needs (0: any of 3, 4, 5), as torch.nn.functional.interpolate dispatches.
int required_rank(InterpolateMode mode) {
    switch (mode) {
        case InterpolateMode::Linear: return 3;
        case InterpolateMode::Bilinear:
        case InterpolateMode::Bicubic: return 4;
        case InterpolateMode::Trilinear: return 5;
        default: return 0;
    }
}

// Everything interpolate decides before touching data.
struct InterpolatePlan {
    std::vector<int64_t> output_sizes;
    std::vector<std::optional<double>> kernel_scales;  // per spatial dim, PyTorch order
    bool align_corners = false;
    Resampling resampling = Resampling::Nearest;
};

Status plan_interpolate(const std::vector<int64_t> &input_sizes, const InterpolateOptions &o, InterpolatePlan *plan) {
    const int rank = (int)input_sizes.size();
    if (rank < 3 || rank > 5) {
        return invalid(std::string("interpolate supports 3-D, 4-D and 5-D input (N, C, spatial...), got ") +
                       std::to_string(rank) + "-D " + detail::shape_string(input_sizes));
    }
    const int spatial = rank - 2;
    const int needed = required_rank(o.mode);
    if (needed && needed != rank) {
        return invalid(std::string("mode '") + interpolate_mode_name(o.mode) + "' needs " + std::to_string(needed) +
                       "-D input, got " + std::to_string(rank) + "-D " + detail::shape_string(input_sizes));
    }
    for (int64_t s : input_sizes) {
        if (s < 0) return invalid("input has a negative size: " + detail::shape_string(input_sizes));
    }
    for (int d = 2; d < rank; d++) {
        if (input_sizes[d] == 0) {
            return invalid("input spatial sizes must be greater than 0, got " + detail::shape_string(input_sizes));
        }
    }
    const bool interpolating = o.mode == InterpolateMode::Linear || o.mode == InterpolateMode::Bilinear ||
                               o.mode == InterpolateMode::Bicubic || o.mode == InterpolateMode::Trilinear;
    if (o.align_corners.has_value() && !interpolating) {
        return invalid(std::string("align_corners can only be set with the interpolating modes "
                                   "(linear, bilinear, bicubic, trilinear), not '") + interpolate_mode_name(o.mode) + "'");
    }
    if (o.antialias && !((o.mode == InterpolateMode::Bilinear || o.mode == InterpolateMode::Bicubic) && rank == 4)) {
        return invalid("antialias is only supported for bilinear and bicubic modes on 4-D input");
    }
    const bool has_size = !o.size.empty(), has_scale = !o.scale_factor.empty();
    if (has_size && has_scale) return invalid("only one of size or scale_factor should be given");
    if (!has_size && !has_scale) return invalid("either size or scale_factor should be given");
    if (has_size && o.recompute_scale_factor.value_or(false)) {
        return invalid("recompute_scale_factor is not meaningful with an explicit size");
    }

    plan->output_sizes.assign(input_sizes.begin(), input_sizes.begin() + 2);
    plan->kernel_scales.assign(spatial, std::nullopt);
    if (has_size) {
        if (o.size.size() != 1 && (int)o.size.size() != spatial) {
            return invalid("size has " + std::to_string(o.size.size()) + " values; input has " +
                           std::to_string(spatial) + " spatial dims");
        }
        for (int d = 0; d < spatial; d++) {
            const int64_t s = o.size.size() == 1 ? o.size[0] : o.size[d];
            if (s <= 0) return invalid("output sizes must be greater than 0, got " + detail::shape_string(o.size));
            plan->output_sizes.push_back(s);
        }
    } else {
        if (o.scale_factor.size() != 1 && (int)o.scale_factor.size() != spatial) {
            return invalid("scale_factor has " + std::to_string(o.scale_factor.size()) + " values; input has " +
                           std::to_string(spatial) + " spatial dims");
        }
        // area always recomputes: it is adaptive pooling to the floor'ed size.
        const bool recompute = o.recompute_scale_factor.value_or(false) || o.mode == InterpolateMode::Area;
        for (int d = 0; d < spatial; d++) {
            const double scale = o.scale_factor.size() == 1 ? o.scale_factor[0] : o.scale_factor[d];
            if (!(scale > 0) || !std::isfinite(scale)) {
                std::ostringstream m;
                m << "scale_factor must be positive and finite, got " << scale;
                return invalid(m.str());
            }
            const double size = std::floor(static_cast<double>(input_sizes[d + 2]) * scale);
            if (size < 1) {
                std::ostringstream m;
                m << "scale_factor " << scale << " gives an empty output for input size " << input_sizes[d + 2];
                return invalid(m.str());
            }
            if (size >= 9.2e18) return invalid("scale_factor gives an output size that overflows int64");
            plan->output_sizes.push_back(static_cast<int64_t>(size));
            if (!recompute) plan->kernel_scales[d] = scale;
        }
    }
    plan->align_corners = o.align_corners.value_or(false);
    switch (o.mode) {
        case InterpolateMode::Nearest: plan->resampling = Resampling::Nearest; break;
        case InterpolateMode::NearestExact: plan->resampling = Resampling::NearestExact; break;
        case InterpolateMode::Linear:
        case InterpolateMode::Bilinear:
        case InterpolateMode::Trilinear:
            plan->resampling = o.antialias ? Resampling::AntialiasLinear : Resampling::Linear;
            break;
        case InterpolateMode::Bicubic:
            plan->resampling = o.antialias ? Resampling::AntialiasCubic : Resampling::Cubic;
            break;
        case InterpolateMode::Area: plan->resampling = Resampling::Area; break;
    }
    return Status::Ok();
}

TensorView contiguous_like(const TensorView &t, std::vector<float> *storage) {
    storage->resize((size_t)detail::element_count(t.sizes));
    TensorView dense;
    dense.data = storage->data();
    dense.sizes = t.sizes;
    return dense;
}

// One GPU variant per tap count and rank serves every layout: no relayout, no copies.
Status interpolate_on_gpu(Device device, const TensorView &input, const TensorView &output,
                          const detail::ResamplePlan &tables, int spatial) {
    detail::InterpolateKernel kernel;
    const std::string name =
        "hup_interpolate_t" + std::to_string(tables.variant_taps) + "_r" + std::to_string(spatial) + "_gpu";
    Status status = detail::gpu_kernel(name.c_str(), device, &kernel);
    if (!status.ok()) return status;
    detail::DeviceCall call(device);
    detail::HalideView in_view, out_view;
    detail::make_halide_view(input, &in_view);
    detail::make_halide_view(output, &out_view);
    status = call.bind(input, &in_view.buffer, false);
    if (status.ok()) status = call.bind(output, &out_view.buffer, true);
    if (!status.ok()) return status;
    return call.run("interpolate", [&](void *user_context) {
        return detail::run_interpolate_kernel(kernel, user_context, &in_view.buffer, tables, spatial, 0,
                                              &out_view.buffer, true);
    });
}

// One streaming choice per kernel: light kernels (nearest) and heavier ones (bicubic) gain
// differently from computing while another thread streams out.
detail::StreamingChoice &streaming_choice(detail::InterpolateKernel kernel) {
    static std::mutex mutex;
    static std::map<detail::InterpolateKernel, detail::StreamingChoice> choices;
    std::lock_guard<std::mutex> lock(mutex);
    return choices[kernel];
}

}  // namespace

const char *interpolate_mode_name(InterpolateMode mode) {
    switch (mode) {
        case InterpolateMode::Nearest: return "nearest";
        case InterpolateMode::NearestExact: return "nearest-exact";
        case InterpolateMode::Linear: return "linear";
        case InterpolateMode::Bilinear: return "bilinear";
        case InterpolateMode::Bicubic: return "bicubic";
        case InterpolateMode::Trilinear: return "trilinear";
        case InterpolateMode::Area: return "area";
    }
    return "unknown";
}

Status interpolate_output_sizes(const std::vector<int64_t> &input_sizes, const InterpolateOptions &options,
                                std::vector<int64_t> *output_sizes) {
    if (!output_sizes) return invalid("output_sizes is null");
    InterpolatePlan plan;
    Status status = plan_interpolate(input_sizes, options, &plan);
    if (status.ok()) *output_sizes = plan.output_sizes;
    return status;
}

namespace detail {

int run_interpolate_kernel(InterpolateKernel kernel, const void *user_context, halide_buffer_t *in,
                           const ResamplePlan &plan, int spatial_rank, int32_t rows_per_tile, halide_buffer_t *out,
                           bool gpu) {
    // Tables: (position, axis) and (position, tap, axis); the weights' strides are the plan's.
    const int32_t positions = (int32_t)plan.positions;
    halide_dimension_t start_dims[2] = {{0, positions, 1, 0}, {0, spatial_rank, positions, 0}};
    halide_dimension_t weight_dims[3] = {{0, positions, plan.weight_position_stride, 0},
                                         {0, plan.taps, plan.weight_tap_stride, 0},
                                         {0, spatial_rank, positions * plan.taps, 0}};
    halide_buffer_t start_buf{}, count_buf{}, weight_buf{};
    start_buf.host = (uint8_t *)plan.tap_start.data();
    start_buf.type = halide_type_t(halide_type_int, 32);
    start_buf.dimensions = 2;
    start_buf.dim = start_dims;
    count_buf = start_buf;
    count_buf.host = (uint8_t *)plan.tap_count.data();
    weight_buf.host = (uint8_t *)plan.tap_weight.data();
    weight_buf.type = halide_type_t(halide_type_float, 32);
    weight_buf.dimensions = 3;
    weight_buf.dim = weight_dims;
    halide_buffer_t *tables[] = {&start_buf, &count_buf, &weight_buf};
    if (gpu) {
        for (halide_buffer_t *table : tables) table->flags = halide_buffer_flag_host_dirty;  // copied in by the pipeline
    }
    const int result = kernel(user_context, in, &start_buf, &count_buf, &weight_buf,
                              plan.slope[0], plan.lo_offset[0], plan.hi_offset[0],
                              plan.slope[1], plan.lo_offset[1], plan.hi_offset[1],
                              plan.slope[2], plan.lo_offset[2], plan.hi_offset[2], rows_per_tile,
                              plan.x_step_num, plan.x_step_den, plan.x_offset, plan.x_taps_in_range, out);
    if (gpu) {
        for (halide_buffer_t *table : tables) halide_device_free(const_cast<void *>(user_context), table);
    }
    return result;
}

}  // namespace detail

Status interpolate(const TensorView &input, const TensorView &output, const InterpolateOptions &options) {
    Status status = detail::check_tensor(input, "input", 3, 5);
    if (!status.ok()) return status;
    InterpolatePlan plan;
    status = plan_interpolate(input.sizes, options, &plan);
    if (!status.ok()) return status;
    Device device;
    status = detail::check_call({{&input, "input"}, {&output, "output", &plan.output_sizes, 3, 5}}, &device);
    if (!status.ok()) return status;
    if (detail::element_count(output.sizes) == 0) return Status::Ok();  // N or C is 0

    const int rank = (int)input.sizes.size();
    const int spatial = rank - 2;
    std::vector<AxisSpec> axes(spatial);  // Halide order: PyTorch's last dim first
    for (int i = 0; i < spatial; i++) {
        const int d = rank - 1 - i;
        axes[i] = AxisSpec{input.sizes[d], output.sizes[d], plan.kernel_scales[d - 2]};
    }
    const std::shared_ptr<const detail::ResamplePlan> cached =
        detail::cached_resample_plan(plan.resampling, axes, plan.align_corners);
    const detail::ResamplePlan &tables = *cached;

    if (device != Device::Host) return interpolate_on_gpu(device, input, output, tables, spatial);

    // Layout: W-dense tensors take the planar variant, C-dense ones the channels_last one;
    // anything else is repacked to contiguous around the planar variant.
    const int taps = tables.variant_taps;
    const bool planar = detail::unit_stride(input, rank - 1) && detail::unit_stride(output, rank - 1);
    const bool channels_last = !planar && rank >= 4 && detail::unit_stride(input, 1) && detail::unit_stride(output, 1);
    // Planar 2-D linear or cubic without an affine x step, on 8 or more channels and columns:
    // the W pass on blocks of 8 channels as vector lanes (H first, whichever way H scales),
    // which beats gathering along W. Otherwise,
    // planar 2-D with shrinking H and fixed taps: the H pass first, so the W pass (the one
    // that gathers) runs on the output's rows only.
    const int64_t block = InterpolateCpuKnobs{}.channel_block;  // the compiled block (one definition)
    const bool channel_blocks = !channels_last && spatial == 2 && (taps == 2 || taps == 4) && tables.x_step_den == 0 &&
                                input.sizes[1] >= block && axes[0].out_size >= block;
    // Planar 2-D on fewer channels, with both H and W shrinking by more than their taps
    // (outputs skip input rows and columns), far enough that the outputs' taps cover under a
    // quarter of the input: the direct variant where one is built, since either pass first
    // would resample lines that no output reads. Otherwise a first pass wastes less than the
    // direct variant's scattered loads cost against its dense ones (1x3x1080x1920 -> 224x224:
    // 0.14 ms direct, 0.17 in two passes; 800x800 -> 300x300: 0.22 against 0.17); so does the
    // channel blocks' H pass (1x16x1080x1920 -> 224x224: 2.7 ms direct, 1.7 in blocks).
    // Planar 2-D 2x bilinear upsampling along W (taps at floor((o - 1) / 2) and the next, the
    // weights repeating with period 2) into an output that leaves the caches: the direct
    // variant, which then needs no intermediate (see the generator), so that the output's
    // stores are its only ones and keep streaming (8x32x256x256 x2: 9.5-10.1 ms against
    // 12.7-14.1 in two passes, with a copy of the same bytes at 6.0-6.7). In the cache its
    // row ends, which gather, cost more than the two passes save (1x64x128x128 x2: 0.73-0.79
    // ms against 0.47).
    const int64_t output_bytes = detail::element_count(output.sizes) * (int64_t)sizeof(float);
    const bool upsampling_x2 = output_bytes >= detail::streaming_bytes && taps == 2 && tables.x_step_num == 1 &&
                               tables.x_step_den == 2 && tables.x_offset == -1 && tables.x_weights_periodic &&
                               axes[0].out_size == 2 * axes[0].in_size;
    const bool shrinks_past_taps = tables.x_step_den == 0 && !channel_blocks &&
                                   tables.axis_taps[0] * axes[0].out_size < axes[0].in_size &&
                                   tables.axis_taps[1] * axes[1].out_size < axes[1].in_size &&
                                   4 * (tables.axis_taps[0] * axes[0].out_size) * (tables.axis_taps[1] * axes[1].out_size) <
                                       axes[0].in_size * axes[1].in_size;
    const bool direct = !channels_last && spatial == 2 && taps > 0 && (upsampling_x2 || shrinks_past_taps) &&
                        detail::find_interpolate_kernel(taps, spatial, false, false, false, true);
    const bool y_first =
        !direct && (channel_blocks || (!channels_last && spatial == 2 && taps > 0 && axes[1].out_size < axes[1].in_size));
    const detail::InterpolateKernel kernel =
        detail::find_interpolate_kernel(taps, spatial, channels_last, y_first, channel_blocks, direct);
    // One output row per tile when the outputs skip input rows (the outermost axis shrinks by
    // more than its tap count): a taller tile would resample the rows in between that no
    // output reads. Otherwise the compiled default, which reuses rows across a tile. (With the
    // H pass first, or none, tiles only ever read the rows their outputs need.)
    const AxisSpec &outer = axes[spatial - 1];
    const int32_t rows_per_tile =
        !y_first && !direct && tables.axis_taps[spatial - 1] * outer.out_size < outer.in_size ? 1 : 0;
    if (!kernel) {
        return Status(StatusCode::Unsupported, "no interpolate kernel for this mode, rank and layout");
    }
    detail::note_variant([&] {
        return "hup_interpolate_t" + std::to_string(taps) + "_r" + std::to_string(spatial) +
               (channels_last ? "_channels_last" : "_planar") + (y_first ? "_y_first" : "") +
               (channel_blocks ? "_channel_blocks" : "") + (direct ? "_direct" : "");
    });
    std::vector<float> input_storage, output_storage;
    TensorView in = input, out = output;
    if (!planar && !channels_last) {
        if (!detail::unit_stride(input, rank - 1)) {
            in = contiguous_like(input, &input_storage);
            detail::strided_copy(input, in);
        }
        if (!detail::unit_stride(output, rank - 1)) out = contiguous_like(output, &output_storage);
    }

    detail::HalideView in_view, out_view;
    detail::make_halide_view(in, &in_view);
    detail::make_halide_view(out, &out_view);
    auto run = [&](halide_buffer_t *out_buffer, int32_t rows) {
        return detail::run_pipeline("interpolate", [&](void *user_context) {
            return detail::run_interpolate_kernel(kernel, user_context, &in_view.buffer, tables, spatial, rows,
                                                  out_buffer);
        });
    };
    // Outputs that leave the caches may be computed a cache-sized chunk at a time and streamed
    // out (not the channel-block variants, whose blocks of channels must stay whole, nor the
    // direct ones, which write in place and need the output's first column at 0), when
    // that measures faster here (detail::StreamingChoice, one per kernel). A chunk is one
    // tile: the chunks are the parallel tasks already, and fewer tiles resample fewer rows
    // twice at their edges.
    // A chunk reads the input box that the taps' brackets give for its output box.
    auto chunk_input = [&](const halide_buffer_t &chunk, std::vector<detail::ByteSpan> *reads) {
        int64_t lo[5], hi[5];
        for (int d = 0; d < chunk.dimensions; d++) {
            lo[d] = chunk.dim[d].min;
            hi[d] = chunk.dim[d].min + chunk.dim[d].extent - 1;
            if (d < spatial) {
                lo[d] = (int64_t)std::floor((double)tables.slope[d] * lo[d] + tables.lo_offset[d]);
                hi[d] = (int64_t)std::floor((double)tables.slope[d] * hi[d] + tables.hi_offset[d]);
            }
        }
        reads->push_back(detail::box_span(in_view.buffer, lo, hi));
    };
    auto write = [&](bool streamed) {
        if (!streamed) return run(&out_view.buffer, rows_per_tile);
        return detail::run_streamed(
            out_view, kStreamChunkFloats,
            [&](halide_buffer_t *chunk) { return run(chunk, rows_per_tile ? rows_per_tile : chunk->dim[spatial - 1].extent); },
            chunk_input, detail::StreamCopies::HalfTheThreads);
    };
    if (!channel_blocks && !direct && out.data == output.data && output_bytes >= detail::streaming_bytes) {
        status = streaming_choice(kernel).run(output_bytes, write);
    } else {
        status = write(false);
    }
    if (status.ok() && out.data != output.data) detail::strided_copy(out, output);
    return status;
}

}  // namespace hup
