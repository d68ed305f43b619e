using QuantPS.Kernels.Generated;

namespace QuantPS.Inference.Engine;

/// <summary>
/// ggml's tiled flash attention (batches of 64+ queries, F16/F32 cache): keys in tiles of 64, the running max and
/// sum updated per tile, V sum in F32. A block of consecutive queries and every head of a GQA group walk the key tiles
/// together: each cached key and value is widened once per block, and the products run four queries at a time as
/// small matrix products in F32's generated OuterTile (Q times the keys as columns, then the weights times the values;
/// each score and each V sum one fused multiply-add chain, the V sum in key order as ggml's vec_mad).
/// </summary>
internal sealed unsafe partial class Attention
{
    // Queries that walk the key tiles together (ggml's GGML_FA_TILE_Q is 64 too).
    private const int TiledBlockQueries = 64;

    // Work item i is (query block i / KV heads, KV head i % KV heads); chunk c takes every c-th item, so the long
    // (late) blocks are spread over the threads as evenly as the short ones.
    private void RunTiledChunk(int chunk, Scratch scratch, int group)
    {
        var kvHeads = _config.KvHeadCount;
        var blocks = (_count + TiledBlockQueries - 1) / TiledBlockQueries;
        for (var item = chunk; item < blocks * kvHeads; item += _chunks)
        {
            var block = item / kvHeads;
            var kvHead = item - (block * kvHeads);
            var first = block * TiledBlockQueries;
            TiledBlock(scratch, kvHead, group, first, Math.Min(TiledBlockQueries, _count - first));
        }
    }

    private static int PaddedHeadDimension(int headDim) => (headDim + TileKeys - 1) / TileKeys * TileKeys;

    private void TiledBlock(Scratch scratch, int kvHead, int group, int firstQuery, int queries)
    {
        var hd = _config.HeadDimension;
        var padded = PaddedHeadDimension(hd);
        var width = _config.QueryWidth;
        var headOffset = kvHead * _cache.HeadBytes;
        var heads = queries * group;
        new Span<float>(scratch.Accumulators, heads * padded).Clear();
        new Span<float>(scratch.Sums, heads).Clear();
        new Span<float>(scratch.Maxima, heads).Fill(float.NegativeInfinity);

        // Query i sees keys 0..(its position) (or its window of them); the block's last query sees the most, and
        // tiles before the first query's first key are skipped (ggml skips tiles that are masked for every query).
        var firstKeys = _firstPosition + firstQuery + 1;
        var lastKeys = firstKeys + queries - 1;
        for (var tile = FirstKey(firstKeys - 1) / TileKeys * TileKeys; tile < lastKeys; tile += TileKeys)
        {
            LoadTile(scratch, headOffset, tile, Math.Min(tile + TileKeys, lastKeys) - tile, hd, padded);

            // Queries before this tile's first key have finished; the others go four at a time.
            for (var i = Math.Max(0, tile + 1 - firstKeys) & ~3; i < queries; i += 4)
            {
                for (var g = 0; g < group; g++)
                {
                    var q = _queries + ((long)(firstQuery + i) * width) + ((long)((kvHead * group) + g) * hd);
                    var stride = (long)width;
                    if (i + 4 > queries)
                    {
                        // The block's short last quad: copy its rows so no row past the batch is read.
                        new Span<float>(scratch.QueryQuad, 4 * hd).Clear();
                        for (var r = 0; r < queries - i; r++)
                        {
                            Buffer.MemoryCopy(q + (r * stride), scratch.QueryQuad + (r * hd), hd * sizeof(float), hd * sizeof(float));
                        }

                        q = scratch.QueryQuad;
                        stride = hd;
                    }

                    QuadStep(scratch, q, stride, firstKeys + i, Math.Min(4, queries - i), tile, (i * group) + g, group, hd, padded);
                }
            }
        }

        for (var i = 0; i < queries; i++)
        {
            var o = _output + ((long)(firstQuery + i) * width) + ((long)kvHead * group * hd);
            for (var g = 0; g < group; g++)
            {
                var head = (i * group) + g;
                Finish(scratch.Accumulators + ((long)head * padded), scratch.Sums[head], o + (g * hd), hd);
            }
        }
    }

    // One tile of the cache as the two B operands: keys as columns (hd x 64) and values as rows padded with zeros
    // (64 x padded; rows past the tile's end are zero, so their zero weights cannot meet a stale NaN).
    private void LoadTile(Scratch scratch, long headOffset, int tile, int count, int hd, int padded)
    {
        new Span<float>(scratch.ValueTile, TileKeys * padded).Clear();
        for (var j = 0; j < count; j++)
        {
            var key = Widen(_cache.Key(_layer, tile + j) + headOffset, scratch.KeyTile);
            for (var d = 0; d < hd; d++)
            {
                scratch.KeysTransposed[(d * TileKeys) + j] = key[d];
            }

            var value = Widen(_cache.Value(_layer, tile + j) + headOffset, scratch.ValueTile + (j * padded));
            if (value != scratch.ValueTile + (j * padded))
            {
                Buffer.MemoryCopy(value, scratch.ValueTile + (j * padded), hd * sizeof(float), hd * sizeof(float));
            }
        }
    }

    // Four consecutive queries of one head against one tile: scores (Q times the key columns), each row's online
    // softmax step (ggml's tiled step: the tile's max, the running sums rescaled, ggml_vec_soft_max_f32), then the running
    // V sums += weights times the value rows. A query that has no keys in this tile (or is past the block) gets zero
    // weights and keeps its state.
    private void QuadStep(Scratch scratch, float* q, long queryStride, int keysOfFirst, int rows, int tile, int head, int group, int hd, int padded)
    {
        var p = scratch.Probabilities;
        var columns = F32Kernels.OuterTileColumns;
        new Span<float>(p, 4 * TileKeys).Clear();
        for (var c = 0; c < TileKeys; c += columns)
        {
            F32Kernels.OuterTile(hd, q, queryStride, scratch.KeysTransposed + c, TileKeys, p + c, TileKeys);
        }

        var stateStride = (long)group * padded;
        for (var r = 0; r < 4; r++)
        {
            var row = p + (r * TileKeys);
            // This row's keys in the tile: from its window's start (0 without one) to its own position.
            var keys = r < rows ? Math.Min(TileKeys, keysOfFirst + r - tile) : 0;
            var start = r < rows ? Math.Max(0, FirstKey(keysOfFirst + r - 1) - tile) : 0;
            if (keys <= start)
            {
                new Span<float>(row, TileKeys).Clear();
                continue;
            }

            var tileMax = ScoreRow(row, start, keys);
            var state = head + (r * group);
            var m = scratch.Maxima[state];
            var s = scratch.Sums[state];
            var newMax = MathF.Max(m, tileMax);
            if (newMax > m)
            {
                var ms = MathF.Exp(m - newMax);
                AttentionMath.Scale(scratch.Accumulators + ((long)state * padded), ms, hd);
                s *= ms;
            }

            // The whole tile as ggml's softmax step takes it: masked keys are -inf and come out as zero weights.
            var tileSum = ActivationKernels.SoftMax(row, row, TileKeys, newMax);
            scratch.Maxima[state] = newMax;
            scratch.Sums[state] = (float)(s + tileSum);
        }

        var acc = scratch.Accumulators + ((long)head * padded);
        for (var c = 0; c < padded; c += columns)
        {
            F32Kernels.OuterTile(TileKeys, p, TileKeys, scratch.ValueTile + c, padded, acc + c, stateStride);
        }
    }

    // A row of raw Q·K products as the softmax sees them: scaled (and soft-capped) over [start, keys), -inf outside
    // as ggml's mask makes them. Returns the max of the scores in range.
    private float ScoreRow(float* row, int start, int keys)
    {
        new Span<float>(row, start).Fill(float.NegativeInfinity);
        new Span<float>(row + keys, TileKeys - keys).Fill(float.NegativeInfinity);
        if (_softCap > 0f)
        {
            for (var j = start; j < keys; j++)
            {
                row[j] = Score(row[j]);
            }
        }
        else
        {
            AttentionMath.Scale(row + start, _scoreScale, keys - start); // Score without a cap: the same products
        }

        return AttentionMath.Max(row + start, keys - start);
    }
}
