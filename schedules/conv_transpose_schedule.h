// CPU schedule for the conv_transpose generator (one output phase), kept apart from its
// algorithm. The recipe is a register-blocked direct convolution, as in Halide's
// apps/conv_layer:
//  1. The output is cut into register tiles: `channel_block` output channels (vectorised) x
//     `position_block` positions (unrolled), or for few output channels `position_block`
//     vectors of positions (x `tile_rows` rows) x 3 channels; depthwise variants tile
//     groups (channels_last) or positions (planar) instead.
//  2. Each tile's sums live in registers: bias first, then the reduction over input channels
//     (innermost: one broadcast and a few fused multiply-adds per channel) and over the taps.
//  3. Parallel tasks are a channel tile x a strip of `task_rows` rows (position tiles in 1-D)
//     x a group, over every image; per image a task first copies the input it reads,
//     zero-padded, so that the inner loops never test bounds (input-channel tiles and 2-D
//     planar position tiles: the runtime borders the whole input with zeros once per call
//     instead).
// Tiles are computed whole (bound_extent): the runtime pads the weights' output channels to a
// multiple of kConvChannelPad, and the zero padding covers positions past the edge, so tail
// tiles read valid memory and only the output store is guarded.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "Halide.h"
#include "gpu_schedule.h"
#include "conv_transpose_knobs.h"
#include "layout.h"
#include "llvm_flags.h"

namespace hup {

// What the register tile vectorises (a GeneratorParam: the loop structure differs).
enum class Tiling { Channels, Positions, InputChannels };

// Whether a variant reads an input that the runtime has bordered with zeros, once per call, as
// far as every phase's taps and whole tiles reach (runtime/conv_transpose.cpp, bordered_input):
// input-channel tiles (channels_last, channels padded) and 2-D planar position tiles. The
// others copy what each task reads, zero-padded, per phase.
inline bool reads_bordered_input(int rank, Layout layout, Tiling tiling, bool depthwise) {
    return tiling == Tiling::InputChannels ||
           (tiling == Tiling::Positions && layout == Layout::Planar && rank == 2 && !depthwise);
}

inline std::map<std::string, Tiling> tiling_names() {
    return {{"channels", Tiling::Channels}, {"positions", Tiling::Positions}, {"input_channels", Tiling::InputChannels}};
}

// Few output channels (an RGB output layer) on channel-dense input: the register tile
// vectorises the input channels, the sum's own dense dim, so neither the input nor the
// output is transposed. Per tap and vector of input channels: one input load per position,
// one weight load per output channel, and `position_block` x `narrow_channels` products into
// as many vector sums, whose lanes are added once, after the whole sum.
//  1. Tiles: `position_block` positions (x) x `narrow_channels` output channels, both
//     unrolled; tasks are strips of rows x groups, over every image.
//  2. rfactor splits the sum over input channels into `lanes` partial sums (one per lane),
//     computed per tile; the tile then adds each sum's lanes to the bias.
// The runtime packs these weights input-channel innermost, with the input channels padded to
// a multiple of the vector width (zeros), so the vectors need no tail. It hands over the input
// channels_last with the same channel padding and a border of zeros wide enough for every
// phase's taps and whole tiles (of positions dividing kInputChannelTileMaxPositions), made
// once per call: per phase and task, a zero-padded copy would cost as much again as the
// bordered one (4 phases).
inline void schedule_conv_transpose_input_channels(const Halide::Target &target, const ConvTransposeCpuKnobs &knobs,
                                                   const std::vector<Halide::Var> &dims, const Halide::RDom &r,
                                                   Halide::Func conv,
                                                   Halide::GeneratorInput<Halide::Buffer<float>> &in,
                                                   Halide::GeneratorInput<Halide::Buffer<float>> &weight,
                                                   Halide::GeneratorOutput<Halide::Buffer<float>> &out) {
    using namespace Halide;
    const int rank = (int)dims.size() - 3;
    const Var x = dims[0], co = dims[rank], g = dims[rank + 1], n = dims[rank + 2];
    // At most 8 lanes: each tile ends in position_block x narrow_channels sums across the
    // lanes, which 16-float vectors make twice as long for half as many products per sum.
    const int lanes = std::min(8, target.natural_vector_size<float>());
    const int positions = knobs.position_block > 0 ? knobs.position_block : 4;
    _halide_user_assert(kInputChannelTileMaxPositions % positions == 0)
        << "the runtime borders the input for tiles of positions that divide kInputChannelTileMaxPositions";
    const int channels = knobs.narrow_channels;
    in.dim(0).set_stride(Expr());
    in.dim(rank).set_stride(1);
    out.dim(0).set_stride(Expr());
    weight.dim(0).set_stride(Expr());
    weight.dim(1).set_stride(1);
    weight.dim(1).set_extent(weight.dim(1).extent() / lanes * lanes);  // padded by the runtime

    Func output = out;
    Var pos_o("pos_o"), pos_i("pos_i"), co_o("co_o"), co_i("co_i"), strip("strip"), row("row"), task("task"),
        lane("lane");
    const Var rows_of = rank == 1 ? pos_o : dims[rank - 1];
    output.split(x, pos_o, pos_i, positions, TailStrategy::GuardWithIf)
        .split(co, co_o, co_i, channels, TailStrategy::GuardWithIf);
    std::vector<VarOrRVar> loops = {co_i, pos_i, pos_o};
    for (int d = 1; d < rank; d++) loops.push_back(dims[d]);
    loops.push_back(co_o);
    loops.push_back(n);
    loops.push_back(g);
    output.reorder(loops);
    output.split(rows_of, strip, row, knobs.rows(rank, false), TailStrategy::GuardWithIf);
    std::vector<VarOrRVar> task_loops;  // a task's loops from its rows out, innermost first
    for (int d = 1; d + 1 < rank; d++) task_loops.push_back(dims[d]);
    task_loops.push_back(row);
    task_loops.push_back(co_o);
    task_loops.push_back(n);
    task_loops.push_back(strip);
    output.reorder(task_loops).fuse(strip, g, task).parallel(task).unroll(co_i).unroll(pos_i);

    RVar ci = r[0], ci_o("ci_o"), ci_i("ci_i");
    conv.update().split(ci, ci_o, ci_i, lanes, TailStrategy::GuardWithIf);
    Func partial = conv.update().rfactor(ci_i, lane);  // one sum per lane
    conv.compute_at(output, pos_o).bound_extent(x, positions).bound_extent(co, channels);
    conv.reorder(co, x).unroll(co).unroll(x);
    conv.update().reorder(ci_i, co, x).atomic().vectorize(ci_i).unroll(co).unroll(x);
    partial.compute_at(output, pos_o)
        .bound_extent(x, positions)
        .bound_extent(co, channels)
        .bound_extent(lane, lanes)
        .reorder_storage(lane, x, co)
        .reorder(lane, x, co)
        .vectorize(lane)
        .unroll(x)
        .unroll(co);
    std::vector<VarOrRVar> sum_loops = {lane, co, x, ci_o};  // per position: its input vector, then each channel
    for (int i = 1; i < r.dimensions(); i++) sum_loops.push_back(r[i]);
    partial.update().reorder(sum_loops).vectorize(lane).unroll(x).unroll(co);
}

inline void schedule_conv_transpose_cpu(const Halide::Target &target, Layout layout, Tiling tiling, bool depthwise,
                                        const ConvTransposeCpuKnobs &knobs, const std::vector<Halide::Var> &dims,
                                        const Halide::RDom &r, Halide::Func padded, Halide::Func conv,
                                        Halide::GeneratorInput<Halide::Buffer<float>> &in,
                                        Halide::GeneratorInput<Halide::Buffer<float>> &weight,
                                        Halide::GeneratorOutput<Halide::Buffer<float>> &out) {
    using namespace Halide;
    if (tiling == Tiling::InputChannels) {
        _halide_user_assert(!depthwise) << "input_channels tiles are for dense convolutions";
        schedule_conv_transpose_input_channels(target, knobs, dims, r, conv, in, weight, out);
        return;
    }
    const int rank = (int)dims.size() - 3;
    const Var x = dims[0], co = dims[rank], g = dims[rank + 1], n = dims[rank + 2];
    const bool channels_last = layout == Layout::ChannelsLast;
    const int lanes = target.natural_vector_size<float>();
    use_slp_vectorizer(knobs.llvm_slp != 0);
    const int registers = target.has_feature(Target::AVX512) ? 32 : 16;

    // The runtime hands over views with whatever strides the phase and the caller's tensors
    // have; the dense dims are specialised below where it pays.
    in.dim(0).set_stride(Expr());
    out.dim(0).set_stride(Expr());
    if (depthwise) {  // packed with groups innermost: a tile's weights are dense group vectors
        weight.dim(0).set_stride(Expr());
        weight.dim(rank + 2).set_stride(1);
    }

    // The register tile. `vec` is the vectorised dim, `blocked` the unrolled one.
    //  - Channel vectors (the default): output channels vectorised, positions unrolled. Each
    //    output sums C_in x taps products, so even a planar output's scattered channel stores
    //    cost little, and small grids (a DCGAN's first layers) fill the tile.
    //  - Position vectors: positions vectorised, output channels unrolled with broadcast
    //    weights; for few output channels, and for planar depthwise (groups in other variants).
    const bool position_vectors = depthwise ? !channels_last : tiling == Tiling::Positions;
    const bool channel_vectors = !position_vectors;
    const Var vec = channel_vectors ? (depthwise ? g : co) : x;
    const Var blocked = channel_vectors ? x : co;
    int vec_tile, blocked_tile;
    if (channel_vectors) {
        // At most as many vectors as leave registers for two positions (a knob tuned for
        // AVX-512's 16-float vectors applies to the narrower targets' objects too).
        vec_tile = std::clamp(knobs.channel_block / lanes, 1, std::min(kConvChannelPad / lanes, (registers - 4) / 2)) * lanes;
        // The defaults: AVX2 2 vectors x 6 positions (12 accumulators); AVX-512 1 vector x 8
        // positions, enough accumulators for the FMAs' latency, and rows of 8, 16, 32 and 64
        // (a generator's layers) fill them, where tiles of 12 would compute up to half
        // padding. The Zen 5's tuning (schedules/tuned/) gives AVX-512 2 vectors x 8.
        blocked_tile = knobs.position_block > 0 ? knobs.position_block
                                                : std::min(lanes >= 16 ? 8 : 12, (registers - 4) / (vec_tile / lanes));
    } else {
        // Few output channels: `narrow_channels` of them (3: RGB) x 4 vectors of positions.
        vec_tile = (knobs.position_block > 0 ? knobs.position_block : depthwise ? 3 : 4) * lanes;
        blocked_tile = depthwise ? 1 : knobs.narrow_channels;
    }
    // Position tiles may span rows too (2-D and 3-D): each tap's weights then feed every row's
    // vectors, and the tile has enough sums to hide the FMAs' latency with fewer vectors per
    // row (a 32-wide grid fills 2 of AVX-512's vectors, not 4).
    const int position_rows = position_vectors && !depthwise && rank > 1 ? knobs.rows_per_tile(true, lanes) : 1;
    if (position_rows > 1 && knobs.position_block <= 0) vec_tile = std::max(1, 8 / position_rows) * lanes;
    const bool bordered = reads_bordered_input(rank, layout, tiling, depthwise);
    if (bordered) {
        if (knobs.position_block <= 0) vec_tile = std::min(vec_tile, kPositionTileMaxPositions);
        _halide_user_assert(kPositionTileMaxPositions % vec_tile == 0 && kPositionTileMaxRows % position_rows == 0)
            << "the runtime borders the input for tiles that divide kPositionTileMaxPositions x kPositionTileMaxRows";
        in.dim(0).set_stride(1);          // the bordered copy is x-dense ...
        weight.dim(0).set_stride(Expr());  // ... and the weights may be packed for input-channel tiles
    }

    Var vec_o("vec_o"), vec_i("vec_i"), blk_o("blk_o"), blk_i("blk_i"), strip("strip"), row("row"), task("task");
    Var rows_o("rows_o"), rows_i("rows_i");
    Func output = out;
    output.split(vec, vec_o, vec_i, vec_tile, TailStrategy::GuardWithIf);
    if (blocked_tile > 1) output.split(blocked, blk_o, blk_i, blocked_tile, TailStrategy::GuardWithIf);
    // The loop dims outside the tile: a tile of rows leaves its outer loop for dims[1].
    std::vector<Var> outer_dims = dims;
    if (position_rows > 1) {
        output.split(dims[1], rows_o, rows_i, position_rows, TailStrategy::GuardWithIf);
        outer_dims[1] = rows_o;
    }
    const Var pos_o = channel_vectors ? blk_o : vec_o;   // the tile loop over positions
    const Var chan_o = channel_vectors ? vec_o : blk_o;  // ... and over channels (or groups)
    const bool channel_tiles = channel_vectors || blocked_tile > 1;
    const bool reduction_blocks = channel_vectors && !depthwise && knobs.reduction_block > 0;

    // Loops, innermost first: the tile, positions, the other spatial dims, channel tiles, the
    // batch, then tasks: a few channel tiles x a strip of rows (of position tiles in 1-D) x a
    // group. A task copies each image's input once for all its channel tiles (the copy is
    // what limits how many channel tiles a task takes: more of them means fewer copies, but
    // fewer tasks and more weights to keep in L2), and runs every image of the batch.
    std::vector<Var> batch_dims;  // fused into tasks after the strips
    if (depthwise) {
        batch_dims = channels_last ? std::vector<Var>{co} : std::vector<Var>{co, g};
    } else {
        batch_dims = {g};
    }
    std::vector<VarOrRVar> loops = {vec_i};
    if (blocked_tile > 1) loops.push_back(blk_i);
    if (position_rows > 1) loops.push_back(rows_i);
    if (rank > 1) loops.push_back(pos_o);
    for (int d = 1; d < rank; d++) loops.push_back(outer_dims[d]);
    if (rank == 1) loops.push_back(pos_o);
    if (channel_tiles) loops.push_back(chan_o);
    loops.push_back(n);
    for (const Var &v : batch_dims) loops.push_back(v);
    output.reorder(loops);

    const Var rows_of = rank == 1 ? pos_o : outer_dims[rank - 1];
    Var chan_task("chan_task"), chan_i("chan_i");
    // (2-D: the task's rows count in tiles of position_rows.)
    const int task_rows = std::max(1, knobs.rows(rank, channel_vectors) / (rank == 2 ? position_rows : 1));
    output.split(rows_of, strip, row, task_rows, TailStrategy::GuardWithIf);
    if (channel_tiles) {
        output.split(chan_o, chan_task, chan_i, knobs.channel_tiles_per_task, TailStrategy::GuardWithIf);
        std::vector<VarOrRVar> strip_loops;  // a task's loops from its rows out, innermost first
        for (int d = 1; d + 1 < rank; d++) strip_loops.push_back(outer_dims[d]);
        strip_loops.push_back(row);
        if (reduction_blocks) {  // every image within a channel tile: see the register tile
            strip_loops.push_back(n);
            strip_loops.push_back(chan_i);
        } else {
            strip_loops.push_back(chan_i);
            strip_loops.push_back(n);
        }
        strip_loops.push_back(chan_task);
        strip_loops.push_back(strip);
        output.reorder(strip_loops);
    } else {
        output.reorder(row, n, strip);
    }
    Var fused = strip;
    if (channel_tiles) {
        output.fuse(chan_task, strip, task);
        fused = task;
    }
    for (const Var &v : batch_dims) {
        output.fuse(fused, v, task);
        fused = task;
    }
    output.parallel(fused).vectorize(vec_i);
    if (blocked_tile > 1) output.unroll(blk_i);
    const Var tile_loop = rank == 1 ? row : pos_o;

    // The register tile: whole, vectorised along `vec`, unrolled along the other tile dim.
    if (reduction_blocks) {
        // Channel tiles sum over blocks of `reduction_block` input channels (per tap) at a
        // time, for every position of the task's strip and images, so that the block's
        // weights stay in L1 while they are reused; the tiles' sums wait in memory (L2)
        // between blocks. Without this, C_in x taps weights per channel tile (128 KB for a
        // DCGAN's 512 x 4 x 4) would stream from L2 or beyond for every few positions.
        const RVar ci = r[0];
        RVar ci_block("ci_block"), ci_in("ci_in");
        Var block("block"), pos_block("pos_block"), pos_in("pos_in"), row_block("row_block"), row_in("row_in");
        conv.update().split(ci, ci_block, ci_in, knobs.reduction_block, TailStrategy::GuardWithIf);
        Func partial = conv.update().rfactor(ci_block, block);  // one block's sums
        conv.compute_at(output, chan_i).bound_extent(vec, vec_tile);
        conv.reorder_storage(vec, blocked).vectorize(vec, lanes).unroll(vec);
        // With 16-float vectors, a tile of few positions may span `tile_rows` rows (a
        // 4 x 2 box of one vector of channels: 8 accumulators rather than 4).
        const int tile_rows = rank == 2 && lanes >= 16 ? knobs.rows_per_tile(false, lanes) : 1;
        std::vector<VarOrRVar> loops = {vec, pos_in};
        if (tile_rows > 1) loops.push_back(row_in);
        loops.push_back(pos_block);
        if (tile_rows > 1) loops.push_back(row_block);
        for (int d = tile_rows > 1 ? 2 : 1; d < rank; d++) loops.push_back(dims[d]);
        loops.push_back(n);
        loops.push_back(ci_block);
        Stage blocks = conv.update();
        blocks.split(blocked, pos_block, pos_in, blocked_tile, TailStrategy::RoundUp);
        if (tile_rows > 1) blocks.split(dims[1], row_block, row_in, tile_rows, TailStrategy::RoundUp).unroll(row_in);
        blocks.reorder(loops).vectorize(vec, lanes).unroll(vec).unroll(pos_in);
        // The register tile, for one block.
        partial.compute_at(conv, pos_block).bound_extent(vec, vec_tile).bound_extent(blocked, blocked_tile);
        std::vector<VarOrRVar> tile_vars = {vec, blocked};
        if (tile_rows > 1) {
            partial.bound_extent(dims[1], tile_rows).unroll(dims[1]);
            tile_vars.push_back(dims[1]);
        }
        partial.reorder_storage(vec, blocked).reorder(tile_vars).vectorize(vec, lanes).unroll(vec).unroll(blocked);
        std::vector<VarOrRVar> tile_loops = tile_vars;
        tile_loops.push_back(ci_in);
        for (int i = 1; i < r.dimensions(); i++) tile_loops.push_back(r[i]);
        partial.update().reorder(tile_loops).vectorize(vec, lanes).unroll(vec).unroll(blocked);
        if (tile_rows > 1) partial.update().unroll(dims[1]);
    } else {
        conv.compute_at(output, tile_loop).bound_extent(vec, vec_tile);
        if (blocked_tile > 1) conv.bound_extent(blocked, blocked_tile);
        if (position_rows > 1) conv.bound_extent(dims[1], position_rows).unroll(dims[1]);
        conv.reorder_storage(vec, blocked).reorder(vec, blocked).vectorize(vec, lanes).unroll(vec);
        if (blocked_tile > 1) conv.unroll(blocked);
        // Channel vectors sum input channels innermost (broadcasts from consecutive addresses);
        // position vectors sum the taps innermost, whose vectors overlap in a few cache lines of
        // one input channel, rather than stepping through channel planes.
        std::vector<VarOrRVar> update_loops = {vec, blocked};
        for (int i = 1; i < r.dimensions(); i++) {
            if (channel_vectors && i == 1) update_loops.push_back(r[0]);
            update_loops.push_back(r[i]);
        }
        if (!channel_vectors) update_loops.push_back(r[0]);
        if (channel_vectors || blocked_tile == 1) {
            conv.update().reorder(update_loops).vectorize(vec, lanes).unroll(vec);
            if (blocked_tile > 1) conv.update().unroll(blocked);
        } else {
            // One input vector at a time against every channel's broadcast weight: live registers
            // are the sums, the channels' weights and one input vector (16 for 4 x 3 on AVX2),
            // where all the vectors at once would spill.
            Var chunk("chunk"), lane("lane");
            update_loops[0] = lane;
            update_loops.insert(update_loops.begin() + 2, chunk);
            if (position_rows > 1) update_loops.insert(update_loops.begin() + 3, dims[1]);
            conv.update().split(vec, chunk, lane, lanes).reorder(update_loops).vectorize(lane).unroll(blocked).unroll(chunk);
            if (position_rows > 1) {
                conv.update().unroll(dims[1]);
                // 2 x 2 taps (kernel 4, stride 2: a generator's layers): the taps unrolled too,
                // where loops of two would cost as much as their products; the rows' vectors
                // then share their loads (row q at tap 1 reads what row q-1 reads at tap 0).
                Expr two_by_two = weight.dim(2).extent() == 2;
                for (int d = 1; d < rank; d++) two_by_two = two_by_two && weight.dim(2 + d).extent() == 2;
                Stage taps = conv.update().specialize(two_by_two);
                for (int i = 1; i < r.dimensions(); i++) taps.unroll(r[i]);
            }
        }
    }

    // Each image's input for the task, zero-padded: channel-innermost for channel vectors (the
    // tile broadcasts one position's channels in turn, so they stream from consecutive
    // addresses; a planar input is transposed on the way), x-innermost for position vectors.
    if (bordered) return;
    const std::vector<Var> args = padded.args();
    padded.compute_at(output, reduction_blocks ? fused : n);
    if (channel_vectors) {
        const Var dense = depthwise ? args[rank + 1] : args[rank];
        std::vector<Var> storage = {dense};
        for (const Var &v : args) {
            if (!v.same_as(dense)) storage.push_back(v);
        }
        padded.reorder_storage(storage).reorder(std::vector<VarOrRVar>(storage.begin(), storage.end()));
        padded.vectorize(dense, lanes, TailStrategy::RoundUp);
        padded.specialize(in.dim(depthwise ? rank + 1 : rank).stride() == 1);
    } else {
        padded.vectorize(args[0], lanes, TailStrategy::RoundUp);
        padded.specialize(in.dim(0).stride() == 1);
    }
    if (channels_last && channel_vectors) output.specialize(out.dim(depthwise ? rank + 1 : rank).stride() == 1);
}


// Listed positions: the register tile is `channel_block` output channels (vectorised) x
// `listed_position_block` listed positions (unrolled); tasks are `position_tiles_per_task`
// position tiles x every channel tile. Whole tiles are computed: the runtime pads the weights'
// channels and the lists (whose padding repeats a real position); only the stores are guarded.
inline void schedule_conv_transpose_listed(const Halide::Target &target, const ConvTransposeCpuKnobs &knobs,
                                           const Halide::Var &co, const Halide::Var &p, const Halide::RDom &listed,
                                           Halide::Func taps_in, Halide::Func conv, Halide::Func output) {
    using namespace Halide;
    const int lanes = target.natural_vector_size<float>();
    // A block tuned for AVX-512 (32 registers) stays at 16 channels on the narrower targets,
    // whose 16 registers the default's tiles already fill.
    const bool wide = target.has_feature(Target::AVX512);
    const int block = wide ? knobs.channel_block : std::min(knobs.channel_block, 16);
    const int channels = std::clamp(block / lanes, 1, kConvChannelPad / lanes) * lanes;
    const int positions = knobs.listed_position_block;
    Stage scatter = output.update();
    RVar pos = listed.x, tile("tile"), pos_i("pos_i"), task("task"), tile_i("tile_i");
    Var co_o("co_o"), co_i("co_i");
    scatter.split(co, co_o, co_i, channels, TailStrategy::GuardWithIf)
        .split(pos, tile, pos_i, positions, TailStrategy::GuardWithIf)
        .split(tile, task, tile_i, knobs.position_tiles_per_task, TailStrategy::GuardWithIf)
        .reorder(co_i, pos_i, co_o, tile_i, task)
        .vectorize(co_i, lanes)
        .unroll(pos_i)
        .allow_race_conditions()  // distinct pixels: the runtime never lists one twice
        .parallel(task);
    // Per position tile, for all its channel tiles: the positions' inputs at every tap, copied
    // position-innermost, so that the tile's broadcasts are one address apiece plus a constant
    // (a list's scattered pixels would cost an address per position and input channel).
    const std::vector<Var> args = taps_in.args();  // p, ci, tx, ty
    taps_in.compute_at(output, tile_i)
        .bound_extent(p, positions)
        .reorder_storage(args)
        .reorder(args[1], p, args[2], args[3])
        .vectorize(args[1], positions, TailStrategy::GuardWithIf)  // a square block: one interleaving shuffle
        .unroll(p);
    conv.compute_at(output, co_o).bound_extent(co, channels).bound_extent(p, positions);
    conv.reorder(co, p).vectorize(co, lanes).unroll(co).unroll(p);
    const std::vector<RVar> taps = conv.rvars(0);
    conv.update().reorder(co, p, taps[0], taps[1], taps[2])
        .vectorize(co, lanes)
        .unroll(co)
        .unroll(p);
}

// GPU (the gather form): a thread per output element sums its taps and channels in a register.
inline void schedule_conv_transpose_gpu(const GpuKnobs &knobs, const std::vector<Halide::Var> &dims, Halide::Func conv,
                                        Halide::GeneratorInput<Halide::Buffer<float>> &in,
                                        Halide::GeneratorInput<Halide::Buffer<float>> &weight,
                                        Halide::GeneratorInput<Halide::Buffer<float, 1>> &bias,
                                        Halide::GeneratorOutput<Halide::Buffer<float>> &out) {
    any_strides(in, weight, bias, out);
    Halide::Func output = out;
    conv.compute_at(output, gpu_tile_all(output, dims, knobs));
}


// For Halide's autoschedulers (hup-tune's candidates): a phase of 1x64x128x128 -> 32, k4 s2
// (2x2 taps per phase, a 128x128 grid), the benchmark's typical layer.
template <class Generator>
void estimate_conv_transpose(Generator &g, int rank) {
    using Halide::Region;
    Region in_box, weight_box{{0, 32}, {0, 64}}, out_box;
    for (int d = 0; d < rank; d++) {
        in_box.push_back({0, 128});
        weight_box.push_back({0, 2});
        out_box.push_back({0, 128});
    }
    in_box.insert(in_box.end(), {{0, 64}, {0, 1}, {0, 1}});
    weight_box.push_back({0, 1});
    out_box.insert(out_box.end(), {{0, 32}, {0, 1}, {0, 1}});
    g.in.set_estimates(in_box);
    g.weight.set_estimates(weight_box);
    g.bias.set_estimates({{0, 32}, {0, 1}});
    g.out.set_estimates(out_box);
    for (auto *offset : {&g.in_offset_x, &g.in_offset_y, &g.in_offset_z}) offset->set_estimate(0);
    for (auto *step : {&g.tap_step_x, &g.tap_step_y, &g.tap_step_z}) step->set_estimate(1);
}

}  // namespace hup
