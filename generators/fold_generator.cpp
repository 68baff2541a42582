// unfold (im2col) and fold (col2im).
//
// The runtime (runtime/fold.cpp) views the column tensor (N, C*kh*kw, L) as 6-D:
// (block x, block y, kernel column kj, kernel row ki, c, n), L being the block grid.
//
// unfold copies: block (bx, by) at kernel tap (kj, ki) reads the image at
//     (bx*stride - padding + kj*dilation, by*...),  zero outside.
// fold is unfold's adjoint: output pixel o sums the taps that land on it. As in
// conv_transpose, the outputs split into phases by (o + padding) mod stride; on a phase's
// grid q each dim sums `taps` kernel taps first_tap + m*tap_stride from block q + in_offset -
// m*tap_step (the runtime works these out, runtime/phase_grid.h). The taps are summed in
// ATen's order (kernel row, then column, increasing), so the sums round as col2im's do.
#include "Halide.h"

#include "fold_schedule.h"

namespace hup {

using namespace Halide;

class Unfold : public Generator<Unfold> {
public:
    // For outputs larger than the caches: aligned, with non-temporal stores (schedules/streaming.h).
    GeneratorParam<bool> stream_out{"stream_out", false};
    GeneratorParam<int> gpu_tile_x{"gpu_tile_x", GpuKnobs{}.tile_x};
    GeneratorParam<int> gpu_tile_y{"gpu_tile_y", GpuKnobs{}.tile_y};
    Input<Buffer<float, 4>> in{"in"};  // (x, y, c, n)
    Input<int32_t> stride_x{"stride_x"}, padding_x{"padding_x"}, dilation_x{"dilation_x"};
    Input<int32_t> stride_y{"stride_y"}, padding_y{"padding_y"}, dilation_y{"dilation_y"};
    Output<Buffer<float, 6>> out{"out"};  // (bx, by, kj, ki, c, n)

    void generate() {
        const Var bx("bx"), by("by"), kj("kj"), ki("ki"), c("c"), n("n");
        const bool gpu = get_target().has_gpu_feature();
        Func padded("padded");
        RDom row(0, in.dim(0).extent(), "row");
        if (gpu) {
            padded = BoundaryConditions::constant_exterior(
                in, 0.0f, {{0, in.dim(0).extent()}, {0, in.dim(1).extent()}, {Expr(), Expr()}, {Expr(), Expr()}});
        } else {
            // On the CPU the padded rows are built in a buffer of the pipeline's own: zeros,
            // then the image row over them. Every block row then reads plain (or every-other)
            // vectors from it, instead of gathering lane by lane where it meets the padding.
            const Var x("x"), y("y");
            padded(x, y, c, n) = 0.0f;
            padded(row, y, c, n) = select(y >= 0 && y < in.dim(1).extent(),
                                          in(row, clamp(y, 0, in.dim(1).extent() - 1), c, n), 0.0f);
        }
        out(bx, by, kj, ki, c, n) =
            padded(bx * stride_x - padding_x + kj * dilation_x, by * stride_y - padding_y + ki * dilation_y, c, n);
        if (gpu) {
            schedule_unfold_gpu(GpuKnobs{gpu_tile_x, gpu_tile_y}, {bx, by, kj, ki, c, n}, in, out);
        } else {
            schedule_unfold_cpu(get_target(), {bx, by, kj, ki, c, n}, stride_x, padded, row, in, out, stream_out);
        }
    }
};

class Fold : public Generator<Fold> {
public:
    Input<Buffer<float, 6>> cols{"cols"};  // (bx, by, kj, ki, c, n)
    Input<int32_t> taps_x{"taps_x"}, first_tap_x{"first_tap_x"}, tap_stride_x{"tap_stride_x"};
    Input<int32_t> in_offset_x{"in_offset_x"}, tap_step_x{"tap_step_x"};
    Input<int32_t> taps_y{"taps_y"}, first_tap_y{"first_tap_y"}, tap_stride_y{"tap_stride_y"};
    Input<int32_t> in_offset_y{"in_offset_y"}, tap_step_y{"tap_step_y"};
    Output<Buffer<float, 4>> out{"out"};  // one phase's grid: (qx, qy, c, n)

    void generate() {
        const Var qx("qx"), qy("qy"), c("c"), n("n");
        Func padded = BoundaryConditions::constant_exterior(
            cols, 0.0f,
            {{0, cols.dim(0).extent()}, {0, cols.dim(1).extent()}, {Expr(), Expr()}, {Expr(), Expr()},
             {Expr(), Expr()}, {Expr(), Expr()}});
        RDom m(0, taps_x, 0, taps_y, "m");  // kernel column innermost: ATen's order
        Func sum("sum");
        sum(qx, qy, c, n) = 0.0f;
        sum(qx, qy, c, n) += padded(qx + in_offset_x - m.x * tap_step_x, qy + in_offset_y - m.y * tap_step_y,
                                    first_tap_x + m.x * tap_stride_x, first_tap_y + m.y * tap_stride_y, c, n);
        out(qx, qy, c, n) = sum(qx, qy, c, n);
        schedule_fold_cpu(get_target(), {qx, qy, c, n}, m, sum, cols, out);
    }
};

// The GPU form of fold: each output pixel gathers the blocks that cover it, in one kernel
// (no phases). Block b covers pixel x with kernel column kj when b*stride - padding +
// kj*dilation = x. The taps are summed in the same order as fold's (kernel row, then column),
// from zero, and taps that miss add +0: the sums equal col2im's bit for bit.
class FoldGather : public Generator<FoldGather> {
public:
    GeneratorParam<int> gpu_tile_x{"gpu_tile_x", GpuKnobs{}.tile_x};
    GeneratorParam<int> gpu_tile_y{"gpu_tile_y", GpuKnobs{}.tile_y};

    Input<Buffer<float, 6>> cols{"cols"};  // (bx, by, kj, ki, c, n)
    Input<int32_t> stride_x{"stride_x"}, padding_x{"padding_x"}, dilation_x{"dilation_x"};
    Input<int32_t> stride_y{"stride_y"}, padding_y{"padding_y"}, dilation_y{"dilation_y"};
    Output<Buffer<float, 4>> out{"out"};  // (x, y, c, n)

    void generate() {
        const Var x("x"), y("y"), c("c"), n("n");
        RDom k(0, cols.dim(2).extent(), 0, cols.dim(3).extent(), "k");  // kernel column innermost
        const Expr reach_x = x + padding_x - k.x * dilation_x, reach_y = y + padding_y - k.y * dilation_y;
        const Expr block_x = reach_x / stride_x, block_y = reach_y / stride_y;
        const Expr hit = reach_x % stride_x == 0 && reach_y % stride_y == 0 && block_x >= 0 &&
                         block_x < cols.dim(0).extent() && block_y >= 0 && block_y < cols.dim(1).extent();
        Func sum("sum");
        sum(x, y, c, n) = 0.0f;
        sum(x, y, c, n) += select(hit, cols(clamp(block_x, 0, cols.dim(0).extent() - 1),
                                            clamp(block_y, 0, cols.dim(1).extent() - 1), k.x, k.y, c, n), 0.0f);
        out(x, y, c, n) = sum(x, y, c, n);
        schedule_fold_gpu(GpuKnobs{gpu_tile_x, gpu_tile_y}, {x, y, c, n}, sum, cols, out);
    }
};

}  // namespace hup

HALIDE_REGISTER_GENERATOR(hup::Unfold, unfold)
HALIDE_REGISTER_GENERATOR(hup::Fold, fold)
HALIDE_REGISTER_GENERATOR(hup::FoldGather, fold_gather)
