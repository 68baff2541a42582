// conv_transpose: one output phase of a transposed convolution, as a dense convolution.
//
// A transposed convolution scatters input i to outputs o = i*stride - padding + k*dilation.
// Read the other way round, output o gathers only the taps k with k*dilation = o + padding
// (mod stride), so the outputs split by phase (o + padding) mod stride into stride interleaved
// grids (per dim), and on each grid the operator is an ordinary convolution with a sub-kernel
// of about k/stride taps and no zeros in it. The runtime (runtime/conv_transpose.cpp) works out
// each phase's taps, packs their weights, and calls this pipeline once per phase with the
// output viewed as that phase's grid: grid point q reads input
//     q + in_offset - m * tap_step,   m < taps (the weight buffer's extent),
// and input outside the tensor reads as zero. Groups are a loop dimension: the runtime views
// channels as (channel within group, group).
#include "Halide.h"
#include "spatial_vars.h"

#include "conv_transpose_schedule.h"

namespace hup {

using namespace Halide;

class ConvTranspose : public Generator<ConvTranspose> {
public:
    GeneratorParam<int> spatial_rank{"spatial_rank", 2, 1, 3};
    GeneratorParam<Layout> layout{"layout", Layout::Planar, layout_names()};
    // One input and one output channel per group: vectorised across groups (channels_last) or
    // positions (planar) instead of across output channels.
    GeneratorParam<bool> depthwise{"depthwise", false};
    // What the register tiles vectorise: output channels, or positions (few output channels).
    GeneratorParam<Tiling> tiling{"tiling", Tiling::Channels, tiling_names()};
    // Schedule knobs (schedules/conv_transpose_schedule.h); autotuning overrides them.
    GeneratorParam<int> channel_block{"channel_block", ConvTransposeCpuKnobs{}.channel_block};
    GeneratorParam<int> position_block{"position_block", ConvTransposeCpuKnobs{}.position_block};
    GeneratorParam<int> task_rows{"task_rows", ConvTransposeCpuKnobs{}.task_rows};
    GeneratorParam<int> channel_tiles_per_task{"channel_tiles_per_task", ConvTransposeCpuKnobs{}.channel_tiles_per_task};
    GeneratorParam<int> narrow_channels{"narrow_channels", ConvTransposeCpuKnobs{}.narrow_channels};
    GeneratorParam<int> tile_rows{"tile_rows", ConvTransposeCpuKnobs{}.tile_rows};
    GeneratorParam<int> reduction_block{"reduction_block", ConvTransposeCpuKnobs{}.reduction_block};
    GeneratorParam<int> llvm_slp{"llvm_slp", ConvTransposeCpuKnobs{}.llvm_slp};

    // Halide dims are PyTorch's reversed, with channels split in two:
    //   in      (spatial..., channel within group, group, n)
    //   weight  (output channel within group, input channel within group, tap..., group),
    //           output channels padded with zeros to a multiple of kConvChannelPad
    //   bias    (output channel within group, group), padded alike
    //   out     (grid position..., output channel within group, group, n)
    Input<Buffer<float>> in{"in"};
    Input<Buffer<float>> weight{"weight"};
    Input<Buffer<float, 2>> bias{"bias"};
    Input<int32_t> in_offset_x{"in_offset_x"}, tap_step_x{"tap_step_x"};
    Input<int32_t> in_offset_y{"in_offset_y"}, tap_step_y{"tap_step_y"};
    Input<int32_t> in_offset_z{"in_offset_z"}, tap_step_z{"tap_step_z"};
    Output<Buffer<float>> out{"out"};

    void generate() {
        const int rank = spatial_rank;
        std::vector<Var> dims = spatial_vars(rank);
        const Var co("co"), g("g"), n("n");
        dims.push_back(co);
        dims.push_back(g);
        dims.push_back(n);

        // Zero outside the input's spatial extent, and past its last channel and (depthwise)
        // group: the schedule computes whole vectors and tiles of them. Input-channel tiles and
        // 2-D planar position tiles read an input that the runtime has already bordered with
        // zeros (once for all the phases), so they read it as it is.
        Region inside(rank + 3, Range(Expr(), Expr()));
        for (int d = 0; d < rank; d++) inside[d] = Range(0, in.dim(d).extent());
        inside[rank] = Range(0, in.dim(rank).extent());
        if (depthwise) inside[rank + 1] = Range(0, in.dim(rank + 1).extent());
        Func padded = reads_bordered_input(rank, layout, tiling, depthwise) ? Func(in)
                                                                            : BoundaryConditions::constant_exterior(in, 0.0f, inside);

        const Expr in_offset[] = {in_offset_x, in_offset_y, in_offset_z};
        const Expr tap_step[] = {tap_step_x, tap_step_y, tap_step_z};
        Region taps{{0, weight.dim(1).extent()}};  // input channels within the group, then taps
        for (int d = 0; d < rank; d++) taps.push_back({0, weight.dim(2 + d).extent()});
        RDom r(taps, "r");
        const RVar ci = r[0];

        std::vector<Expr> src, w = {co, ci};
        for (int d = 0; d < rank; d++) {
            src.push_back(dims[d] + in_offset[d] - r[1 + d] * tap_step[d]);
            w.push_back(r[1 + d]);
        }
        src.push_back(ci);
        src.push_back(g);
        src.push_back(n);
        w.push_back(g);

        Func conv("conv");
        conv(dims) = bias(co, g);
        conv(dims) += weight(w) * padded(src);
        out(dims) = conv(dims);

        if (auto_schedule) {
            estimate_conv_transpose(*this, rank);
            return;
        }
        ConvTransposeCpuKnobs knobs;
        knobs.channel_block = channel_block;
        knobs.position_block = position_block;
        knobs.task_rows = task_rows;
        knobs.channel_tiles_per_task = channel_tiles_per_task;
        knobs.narrow_channels = narrow_channels;
        knobs.reduction_block = reduction_block;
        knobs.llvm_slp = llvm_slp;
        knobs.tile_rows = tile_rows;
        schedule_conv_transpose_cpu(get_target(), layout, tiling, depthwise, knobs, dims, r, padded, conv, in, weight, out);
    }
};

// Listed positions (2-D, channels_last, one group): the same dense convolution as above, but on
// a list of output pixels that the runtime picks, all of which read only inside the input with
// the given taps. The runtime cuts each phase's grid into boxes by which taps fall inside the
// input (the interior, and a few rows and columns along the borders that miss some), and lists
// each box's positions over every image; so no product with zero padding is computed, and
// boxes of a few rows or columns still fill whole register tiles, since a tile's positions may
// come from different rows and images. (The boxed variants above compute each image's grid
// with every tap, which costs a quarter more products on a DCGAN's 4x4 inputs.)
// Position p reads input pixel in_pixel(p) + tx * tap_pixels_x + ty * tap_pixels_y at tap
// (tx, ty), and writes output pixel out_pixel(p); pixels are flat (n, y, x) indices of the
// channels_last tensors.
class ConvTransposeListed : public Generator<ConvTransposeListed> {
public:
    GeneratorParam<int> channel_block{"channel_block", ConvTransposeCpuKnobs{}.channel_block};
    GeneratorParam<int> position_block{"position_block", ConvTransposeCpuKnobs{}.listed_position_block};
    GeneratorParam<int> position_tiles_per_task{"position_tiles_per_task", ConvTransposeCpuKnobs{}.position_tiles_per_task};

    Input<Buffer<float, 2>> in{"in"};          // (input channel, pixel)
    Input<Buffer<float, 4>> weight{"weight"};  // (output channel [padded], input channel, tap x, tap y)
    Input<Buffer<float, 1>> bias{"bias"};      // (output channel [padded])
    // (position), padded by repeating the last entry to a multiple of position_block.
    Input<Buffer<int32_t, 1>> in_pixel{"in_pixel"};
    Input<Buffer<int32_t, 1>> out_pixel{"out_pixel"};
    Input<int32_t> positions{"positions"};  // how many are listed
    Input<int32_t> tap_pixels_x{"tap_pixels_x"}, tap_pixels_y{"tap_pixels_y"};
    Output<Buffer<float, 2>> out{"out"};  // (output channel, pixel)

    void generate() {
        Var co("co"), p("p"), pixel("pixel"), ci("ci"), tx("tx"), ty("ty");
        // The input each position reads at each tap (the runtime lists only positions whose
        // taps all read inside the input).
        Func taps_in("taps_in");
        taps_in(p, ci, tx, ty) =
            in(ci, unsafe_promise_clamped(in_pixel(p) + tx * tap_pixels_x + ty * tap_pixels_y, 0, in.dim(1).extent() - 1));
        RDom r({{0, weight.dim(1).extent()}, {0, weight.dim(2).extent()}, {0, weight.dim(3).extent()}}, "r");
        Func conv("conv");
        conv(co, p) = bias(co);
        conv(co, p) += weight(co, r[0], r[1], r[2]) * taps_in(p, r[0], r[1], r[2]);
        // Only the listed pixels are written (each once: the runtime's lists never repeat one).
        RDom listed(0, positions, "listed");
        out(co, pixel) = undef<float>();
        out(co, unsafe_promise_clamped(out_pixel(listed), 0, out.dim(1).extent() - 1)) = conv(co, listed);
        ConvTransposeCpuKnobs knobs;
        knobs.channel_block = channel_block;
        knobs.listed_position_block = position_block;
        knobs.position_tiles_per_task = position_tiles_per_task;
        schedule_conv_transpose_listed(get_target(), knobs, co, p, listed, taps_in, conv, out);
    }
};

// The GPU form: each output element gathers its own taps, reading PyTorch's weight layout as
// it is (no packing, no phases: one kernel per call). Output o along a dim takes tap k where
// o + padding - k*dilation is a multiple of stride s, from input (o + padding - k*dilation)/s;
// the other taps add nothing. Groups come from the output channel.
class ConvTransposeGather : public Generator<ConvTransposeGather> {
public:
    GeneratorParam<int> spatial_rank{"spatial_rank", 2, 1, 3};
    GeneratorParam<int> gpu_tile_x{"gpu_tile_x", GpuKnobs{}.tile_x};
    GeneratorParam<int> gpu_tile_y{"gpu_tile_y", GpuKnobs{}.tile_y};

    // in (spatial..., C_in, n); weight (tap..., C_out / groups, C_in); bias (C_out); out
    // (spatial..., C_out, n): PyTorch's dims reversed.
    Input<Buffer<float>> in{"in"};
    Input<Buffer<float>> weight{"weight"};
    Input<Buffer<float, 1>> bias{"bias"};
    Input<int32_t> stride_x{"stride_x"}, padding_x{"padding_x"}, dilation_x{"dilation_x"};
    Input<int32_t> stride_y{"stride_y"}, padding_y{"padding_y"}, dilation_y{"dilation_y"};
    Input<int32_t> stride_z{"stride_z"}, padding_z{"padding_z"}, dilation_z{"dilation_z"};
    Input<int32_t> groups{"groups"};
    Output<Buffer<float>> out{"out"};

    void generate() {
        const int rank = spatial_rank;
        std::vector<Var> dims = spatial_vars(rank);
        const Var co("co"), n("n");
        dims.push_back(co);
        dims.push_back(n);
        const Expr stride[] = {stride_x, stride_y, stride_z}, padding[] = {padding_x, padding_y, padding_z};
        const Expr dilation[] = {dilation_x, dilation_y, dilation_z};

        const Expr out_per_group = weight.dim(rank).extent();
        const Expr in_per_group = weight.dim(rank + 1).extent() / groups;
        Region taps;  // taps (x fastest), then input channels of the group
        for (int d = 0; d < rank; d++) taps.push_back({0, weight.dim(d).extent()});
        taps.push_back({0, in_per_group});
        RDom r(taps, "r");
        const Expr ci = co / out_per_group * in_per_group + r[rank];

        std::vector<Expr> src, w;
        Expr hit = Internal::const_true();
        for (int d = 0; d < rank; d++) {
            const Expr reach = dims[d] + padding[d] - r[d] * dilation[d];
            const Expr source = reach / stride[d];
            hit = hit && reach % stride[d] == 0 && source >= 0 && source < in.dim(d).extent();
            src.push_back(clamp(source, 0, in.dim(d).extent() - 1));
            w.push_back(r[d]);
        }
        src.push_back(ci);
        src.push_back(n);
        w.push_back(co % out_per_group);
        w.push_back(ci);

        Func conv("conv");
        conv(dims) = bias(co);
        conv(dims) += select(hit, weight(w) * in(src), 0.0f);
        out(dims) = conv(dims);
        schedule_conv_transpose_gpu(GpuKnobs{gpu_tile_x, gpu_tile_y}, dims, conv, in, weight, bias, out);
    }
};

}  // namespace hup

HALIDE_REGISTER_GENERATOR(hup::ConvTranspose, conv_transpose)
HALIDE_REGISTER_GENERATOR(hup::ConvTransposeGather, conv_transpose_gather)
HALIDE_REGISTER_GENERATOR(hup::ConvTransposeListed, conv_transpose_listed)
