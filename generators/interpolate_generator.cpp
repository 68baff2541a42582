// interpolate: one separable resampler behind every torch.nn.functional.interpolate mode.
//
// Each spatial dimension is resampled in turn, the fastest-varying one (W) first, the order in
// which ATen's CPU kernels nest their sums, so the float arithmetic follows PyTorch's (the
// y_first variants swap W and H where that is much cheaper).
// Output position `o` along a dimension reads taps `tap_start(o) + k`, k < taps, weighted by
// `tap_weight(o, k)`. The mode-specific maths (PyTorch's source-index and weight formulas) lives
// in runtime/resample_plan.cpp, which fills those small tables once per call; here every mode is
// the same few lines:
//   nearest, nearest-exact       taps = 1, no weights (a pure gather, bit-exact)
//   linear/bilinear/trilinear    taps = 2
//   bicubic                      taps = 4
//   area, antialias              taps = 0: the tap count is a run-time extent, and tap_count(o)
//                                says how many of them output `o` uses
//
// 2-D channels_last variants whose schedule inlines both passes sum the taps x taps products
// with combined weights instead (w00*v00 + w01*v01 + ...), the order of ATen's channels_last
// kernels.
//
// Tap indices are clamped to the input, as ATen clamps them. For bounds inference each output
// position also carries a bracket [lo(o), hi(o)] = floor(slope * o + offset): a table lookup
// alone is unbounded, so Halide could not tell which input rows an output tile needs. The
// runtime builds it around the taps and checks it in float (runtime/resample_plan.cpp), so it
// holds by construction. The bracket is promised, not computed (unsafe_promise_clamped), so the
// inner loops pay only for the table load and the clamp (channel-block variants, whose indices
// are scalars per row or column, clamp instead).
#include <algorithm>

#include "Halide.h"
#include "spatial_vars.h"

#include "interpolate_schedule.h"

namespace hup {

using namespace Halide;
using namespace Halide::ConciseCasts;

class Interpolate : public Generator<Interpolate> {
public:
    GeneratorParam<int> spatial_rank{"spatial_rank", 2, 1, 3};
    GeneratorParam<int> taps{"taps", 2, 0, 4};  // 0: a run-time tap count
    GeneratorParam<Layout> layout{"layout", Layout::Planar, layout_names()};
    // 2-D only: resample H before W. Cheaper when H shrinks (fewer rows reach the W pass); the
    // sums then round in the other order than ATen's, within the tests' tolerance.
    GeneratorParam<bool> y_first{"y_first", false};
    // 2-D planar, H pass first, fixed taps only: the W pass runs on blocks of channels as vector
    // lanes instead of gathering along W (schedules/interpolate_schedule.h).
    GeneratorParam<bool> channel_blocks{"channel_blocks", false};
    // 2-D planar, fixed taps: no intermediate at all; each output sums its taps x taps products
    // straight from the input (the W pass inlined into the H pass, ATen's order). Cheaper when
    // both dims shrink far past their taps: a separate pass would resample input lines that no
    // output reads (the runtime's rule is in runtime/interpolate.cpp); and for 2x bilinear
    // upsampling along W into outputs that leave the caches, whose stores then stream
    // unhindered by an intermediate's (upsampled_x_sum).
    GeneratorParam<bool> direct{"direct", false};
    // Schedule knobs (see schedules/interpolate_schedule.h); autotuning overrides them.
    GeneratorParam<int> vector_lanes{"vector_lanes", 0};  // 0: the target's natural width
    GeneratorParam<int> tile_rows{"tile_rows", InterpolateCpuKnobs{}.tile_rows};
    GeneratorParam<int> tile_cols{"tile_cols", InterpolateCpuKnobs{}.tile_cols};
    GeneratorParam<int> inline_taps{"inline_taps", InterpolateCpuKnobs{}.inline_taps};
    GeneratorParam<int> channel_block{"channel_block", InterpolateCpuKnobs{}.channel_block};
    GeneratorParam<int> block_rows{"block_rows", InterpolateCpuKnobs{}.block_rows};
    GeneratorParam<int> tap_lanes{"tap_lanes", InterpolateCpuKnobs{}.tap_lanes};
    GeneratorParam<int> channel_vectors{"channel_vectors", InterpolateCpuKnobs{}.channel_vectors};
    GeneratorParam<int> llvm_slp{"llvm_slp", InterpolateCpuKnobs{}.llvm_slp};
    GeneratorParam<int> gpu_tile_x{"gpu_tile_x", GpuKnobs{}.tile_x};
    GeneratorParam<int> gpu_tile_y{"gpu_tile_y", GpuKnobs{}.tile_y};

    // Halide dims are PyTorch's reversed: spatial (W, H, D), then channel, then batch.
    Input<Buffer<float>> in{"in"};
    Input<Buffer<int32_t, 2>> tap_start{"tap_start"};  // (output position, spatial dim)
    Input<Buffer<int32_t, 2>> tap_count{"tap_count"};  // (output position, spatial dim); taps = 0 only
    Input<Buffer<float, 3>> tap_weight{"tap_weight"};  // (output position, tap, spatial dim)
    // The bracket, per spatial dim: lo(o) = floor(slope*o + lo_offset), hi(o) likewise.
    Input<float> slope_x{"slope_x"}, lo_offset_x{"lo_offset_x"}, hi_offset_x{"hi_offset_x"};
    Input<float> slope_y{"slope_y"}, lo_offset_y{"lo_offset_y"}, hi_offset_y{"hi_offset_y"};
    Input<float> slope_z{"slope_z"}, lo_offset_z{"lo_offset_z"}, hi_offset_z{"hi_offset_z"};
    // Output rows (slices in 3-D) per tile; 0 takes the compiled tile_rows. The runtime asks
    // for 1 when the outputs skip input rows (strong downsampling), so that a tile resamples
    // only the rows its outputs read.
    Input<int32_t> rows_per_tile{"rows_per_tile"};
    // When x's first taps follow floor((x_step_num * o + x_offset) / x_step_den), as they do
    // for exact 2x up- and downsampling, the runtime says so (x_step_den > 0) and the x pass
    // of a fixed-tap variant reads the input through that formula instead of the table: the
    // schedule specialises on the step, and Halide turns the strided or halved index into
    // dense loads and shuffles.
    Input<int32_t> x_step_num{"x_step_num"}, x_step_den{"x_step_den"}, x_offset{"x_offset"};
    // Non-zero when every x window lies inside the input (the runtime slides border windows
    // inwards, with zero weights). Run-time tap counts then have a tap-major weight table and
    // run along the taps with dense loads instead of gathering across outputs; channel-block
    // variants clamp only each window's start.
    Input<int32_t> x_taps_in_range{"x_taps_in_range"};
    Output<Buffer<float>> out{"out"};

    void generate() {
        const int rank = spatial_rank;
        std::vector<Var> dims = spatial_vars(rank);
        dims.emplace_back("c");
        dims.emplace_back("n");

        if (taps == 0) tap_weight.dim(0).set_stride(Expr());  // position- or tap-major, see x_taps_in_range
        Func source = in;
        std::vector<int> pass_dims;
        for (int d = 0; d < rank; d++) pass_dims.push_back(d);
        if (y_first && rank == 2) std::swap(pass_dims[0], pass_dims[1]);
        std::vector<Func> passes;
        const bool inline_xy = layout == Layout::ChannelsLast && rank == 2 && taps >= 2 && (int)taps <= (int)inline_taps;
        if (taps > 0 && rank == 2 && !channel_blocks) define_row_taps(dims[1]);
        if (inline_xy) {
            // 2-D channels_last with both passes inlined (the schedule's inline_taps): ATen's
            // channels_last order, taps x taps products with the row's and column's weights
            // multiplied first, w00*v00 + w01*v01 + ..., one multiply-add per product instead
            // of taps per product plus taps per row.
            Func resampled("resample_xy");
            Expr sum;
            for (int ky = 0; ky < taps; ky++) {
                for (int kx = 0; kx < taps; kx++) {
                    std::vector<Expr> at(dims.begin(), dims.end());
                    at[0] = tap_coordinate(0, kx, dims);
                    at[1] = tap_coordinate(1, ky, dims);
                    const Expr product = (tap_row_weight(dims[1], ky) * tap_weight(dims[0], kx, 0)) * in(at);
                    sum = sum.defined() ? sum + product : product;
                }
            }
            resampled(dims) = sum;
            passes.push_back(resampled);
        } else {
            for (int d : pass_dims) {
                source = resample_along(source, d, dims);
                passes.push_back(source);
            }
        }
        out(dims) = passes.back()(dims);

        if (auto_schedule) {
            estimate_interpolate(*this, rank, taps);
            return;
        }
        if (get_target().has_gpu_feature()) {
            schedule_interpolate_gpu(GpuKnobs{gpu_tile_x, gpu_tile_y}, dims, passes, in, out);
            return;
        }
        InterpolateCpuKnobs knobs;
        knobs.vector_lanes = vector_lanes;
        knobs.tile_rows = tile_rows;
        knobs.tile_cols = tile_cols;
        knobs.inline_taps = inline_taps;
        knobs.channel_block = channel_block;
        knobs.block_rows = block_rows;
        knobs.tap_lanes = tap_lanes;
        knobs.channel_vectors = channel_vectors;
        knobs.llvm_slp = llvm_slp;
        use_slp_vectorizer(knobs.llvm_slp != 0);
        const int default_rows = channel_blocks ? knobs.block_rows : knobs.rows(rank, layout == Layout::ChannelsLast);
        const Expr tile_rows_now = select(rows_per_tile > 0, rows_per_tile, default_rows);
        if (channel_blocks) {
            _halide_user_assert(rank == 2 && y_first && layout == Layout::Planar && taps > 0)
                << "channel_blocks needs a planar 2-D variant with fixed taps and the H pass first";
            schedule_interpolate_channel_blocks(knobs, tile_rows_now, x_taps_in_range, dims, passes, out);
            return;
        }
        // The table case first; then the steps the runtime detects (runtime/resample_plan.cpp).
        const Expr upsampling = direct ? direct_upsampling_2x() : x_upsampling_2x();
        const std::vector<Expr> x_steps = {x_step_den == 0, upsampling, x_step_num == 2 && x_step_den == 1};
        InterpolateCases cases;
        cases.x_steps = x_steps;
        cases.x_upsampling_2x = upsampling;
        cases.row_taps = row_taps;
        cases.x_taps_dense = x_taps_in_range != 0 && tap_weight.dim(1).stride() == 1;
        cases.weights_by_position = x_taps_in_range == 0 && tap_weight.dim(0).stride() == 1;
        const int x_pass = (int)(std::find(pass_dims.begin(), pass_dims.end(), 0) - pass_dims.begin());
        _halide_user_assert(!direct || (rank == 2 && layout == Layout::Planar && taps > 0 && !y_first))
            << "direct needs a planar 2-D variant with fixed taps, W pass first";
        schedule_interpolate_cpu(get_target(), layout, taps, knobs, tile_rows_now, cases, dims, passes, x_pass, direct,
                                 in, out);
    }

private:
    // The input coordinate along spatial dim `d` of output position dims[d]'s tap `k`.
    Expr tap_coordinate(int d, const Expr &k, const std::vector<Var> &dims) {
        const Var &o = dims[d];
        const Expr slope[] = {slope_x, slope_y, slope_z};
        const Expr lo_offset[] = {lo_offset_x, lo_offset_y, lo_offset_z};
        const Expr hi_offset[] = {hi_offset_x, hi_offset_y, hi_offset_z};
        const Expr last = in.dim(d).extent() - 1;
        const Expr lo = clamp(i32(floor(slope[d] * o + lo_offset[d])), 0, last);
        const Expr hi = clamp(i32(floor(slope[d] * o + hi_offset[d])), 0, last);
        if (d == 1 && row_taps.defined()) return unsafe_promise_clamped(row_taps(o)[(int)*as_const_int(k)], lo, hi);
        Expr first = tap_start(o, d);
        if (d == 0 && taps > 0 && !channel_blocks) {
            first = select(x_step_den > 0, (x_step_num * o + x_offset) / max(x_step_den, 1), first);
        }
        if (channel_blocks) {
            // Channel blocks: a scalar index per row or output column, and no promise,
            // which would keep Halide 14 from merging the schedule's strided stores. Rows
            // are clamped to the bracket outright (equal to clamping to the input, since
            // the bracket holds every tap); columns need none, as tiles span whole rows.
            // Columns whose windows the runtime placed inside the input clamp only the start.
            const Expr column = select(x_taps_in_range != 0, clamp(first, 0, last + 1 - taps) + k, clamp(first + k, 0, last));
            return d > 0 ? clamp(first + k, lo, hi) : column;
        }
        return unsafe_promise_clamped(select(windows_in_range(d), first + k, clamp(first + k, 0, last)), lo, hi);
    }

    // Output row y's taps, their input rows and then their weights: a Func, so that a schedule
    // can work them out once per row rather than once per vector (see tap_coordinate and
    // tap_row_weight, which read it once it is defined).
    Func row_taps{"row_taps"};
    void define_row_taps(const Var &y) {
        std::vector<Expr> values;
        for (int k = 0; k < taps; k++) values.push_back(clamp(tap_start(y, 1) + k, 0, in.dim(1).extent() - 1));
        for (int k = 0; k < taps; k++) values.push_back(tap_weight(y, k, 1));
        row_taps(y) = Tuple(values);
    }
    Expr tap_row_weight(const Expr &y, int k) { return row_taps.defined() ? row_taps(y)[taps + k] : tap_weight(y, k, 1); }

    // Whether dim d's windows all lie inside the input: x windows that the runtime placed
    // there (run-time taps) need no clamp and, with zero weights past their count, no test.
    Expr windows_in_range(int d) const {
        return d == 0 && taps == 0 ? x_taps_in_range != 0 : Internal::const_false();
    }

    // The x step of exact 2x upsampling: first taps at floor((o + x_offset) / 2).
    Expr x_upsampling_2x() const { return x_step_num == 1 && x_step_den == 2; }
    // The direct variant's 2x step, with bilinear's offset fixed (align_corners false), so
    // that its row's first vector is known to be the only one whose first taps leave the
    // input: Halide peels that one vector off each row, not a loop of them.
    Expr direct_upsampling_2x() const { return x_upsampling_2x() && x_offset == -1; }

    // The direct variant's x pass for 2x upsampling (direct_upsampling_2x, taps 2), at output
    // column o of row `at`: the taps at floor((o - 1) / 2) + k, weighted by the table's first
    // period (the runtime takes this variant with the step only when x's weights repeat with
    // period 2 from position 0).
    // Written per phase of o, o = 2j + phase: the schedule fixes the output's first column at
    // 0, so that every vector starts on phase 0, and Halide computes each phase on dense
    // vectors of j, with one scalar weight per tap, and interleaves the two only when it
    // stores: no intermediate at all. Only two taps can leave the input: phase 0's first at
    // j = 0 and phase 1's second at j = W - 1. Just those two are clamped, and likely() lets
    // Halide peel the row's first and last vectors off the loop, so that only those loads of
    // those two vectors gather (a clamp on every tap would make all eight of them gather, on
    // every output row). The schedule specialises on rows longer than a vector, where the
    // first vector needs only the first clamp and the last only the second.
    Expr upsampled_x_sum(const Var &o, std::vector<Expr> at) {
        const Expr last = in.dim(0).extent() - 1;
        auto phase_sum = [&](int phase) {
            const Expr first = o / 2 + phase - 1;  // floor((o - 1) / 2)
            Expr sum;
            for (int k = 0; k < taps; k++) {
                Expr column = first + k;
                if (phase == 0 && k == 0) column = max(likely(column), 0);
                if (phase == 1 && k == taps - 1) column = min(likely(column), last);
                at[0] = column;
                const Expr product = tap_weight(phase, k, 0) * in(at);
                sum = sum.defined() ? sum + product : product;
            }
            return sum;
        };
        return select(o % 2 == 0, phase_sum(0), phase_sum(1));
    }

    // One separable pass: `src` resampled along spatial dim `d`.
    Func resample_along(Func src, int d, const std::vector<Var> &dims) {
        const Var &o = dims[d];
        const Expr in_range = windows_in_range(d);
        auto tap_value = [&](const Expr &k) {
            std::vector<Expr> at(dims.begin(), dims.end());
            at[d] = tap_coordinate(d, k, dims);
            return src(at);
        };

        Func dst("resample_" + std::string("xyz").substr(d, 1));
        if (taps == 1) {
            dst(dims) = tap_value(0);
        } else if (taps > 1) {
            // Left to right, as ATen sums: w0*v0 + w1*v1 + ...
            auto weight = [&](int k) { return d == 1 ? tap_row_weight(o, k) : tap_weight(o, k, d); };
            Expr sum = weight(0) * tap_value(0);
            for (int k = 1; k < taps; k++) {
                sum = sum + weight(k) * tap_value(k);
            }
            if (d == 0 && direct) {
                sum = select(direct_upsampling_2x(), upsampled_x_sum(o, {dims.begin(), dims.end()}), sum);
            }
            dst(dims) = sum;
        } else {
            RDom k(0, tap_weight.dim(1).extent(), "k");
            // In-range windows carry zero weights past their count, so need no test.
            dst(dims) = 0.0f;
            dst(dims) += select(in_range || k < tap_count(o, d), tap_weight(o, k, d) * tap_value(k), 0.0f);
        }
        return dst;
    }
};

}  // namespace hup

HALIDE_REGISTER_GENERATOR(hup::Interpolate, interpolate)
