namespace QuantPS.Inference.Engine;

/// <summary>
/// ggml's tiled flash attention (batches of 64+ queries, F16/F32 cache): keys in tiles of 64, the running max and
/// sum updated per tile, V sum in F32. Each query row's arithmetic is ggml's, row by row; what is shared is the work
/// that does not change the numbers: a block of consecutive queries and every head of a GQA group walk the key tiles
/// together, so each cached key and value is widened to floats once per block instead of once per query and head.
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

    private void TiledBlock(Scratch scratch, int kvHead, int group, int firstQuery, int queries)
    {
        var hd = _config.HeadDimension;
        var width = _config.QueryWidth;
        var scale = _config.AttentionScale;
        var headOffset = kvHead * _cache.HeadBytes;
        var heads = queries * group;
        var scores = scratch.Scores;
        var keyRows = stackalloc float*[TileKeys];
        var valueRows = stackalloc float*[TileKeys];
        new Span<float>(scratch.Accumulators, heads * hd).Clear();
        new Span<float>(scratch.Sums, heads).Clear();
        new Span<float>(scratch.Maxima, heads).Fill(float.NegativeInfinity);

        // Query i sees keys 0..(its position); the block's last query sees the most.
        var firstKeys = _firstPosition + firstQuery + 1;
        var lastKeys = firstKeys + queries - 1;
        for (var tile = 0; tile < lastKeys; tile += TileKeys)
        {
            var tileEnd = Math.Min(tile + TileKeys, lastKeys);
            for (var j = tile; j < tileEnd; j++)
            {
                keyRows[j - tile] = Widen(_cache.Key(_layer, j) + headOffset, scratch.KeyTile + ((j - tile) * hd));
                valueRows[j - tile] = Widen(_cache.Value(_layer, j) + headOffset, scratch.ValueTile + ((j - tile) * hd));
            }

            // Queries before this tile's first key have finished; each later one takes its own part of the tile.
            for (var i = Math.Max(0, tile + 1 - firstKeys); i < queries; i++)
            {
                var end = Math.Min(tile + TileKeys, firstKeys + i);
                var q = _queries + ((long)(firstQuery + i) * width) + ((long)kvHead * group * hd);
                for (var g = 0; g < group; g++)
                {
                    var head = (i * group) + g;
                    TileStep(q + (g * hd), keyRows, valueRows, end - tile, scratch.Accumulators + ((long)head * hd), ref scratch.Maxima[head], ref scratch.Sums[head], scores, hd, scale);
                }
            }
        }

        for (var i = 0; i < queries; i++)
        {
            var o = _output + ((long)(firstQuery + i) * width) + ((long)kvHead * group * hd);
            for (var g = 0; g < group; g++)
            {
                var head = (i * group) + g;
                Finish(scratch.Accumulators + ((long)head * hd), scratch.Sums[head], o + (g * hd), hd);
            }
        }
    }

    // One query head against one tile of keys: scores, the tile's max, rescale of the running sums, then the
    // V-weighted sum (ggml's tiled step, exp sums in double as ggml_vec_soft_max_f32).
    private static void TileStep(float* query, float** keyRows, float** valueRows, int keys, float* acc, ref float max, ref float sum, float* scores, int hd, float scale)
    {
        var tileMax = float.NegativeInfinity;
        for (var j = 0; j < keys; j++)
        {
            var score = AttentionMath.Dot(query, keyRows[j], hd) * scale;
            scores[j] = score;
            tileMax = MathF.Max(tileMax, score);
        }

        var m = max;
        var s = sum;
        var newMax = MathF.Max(m, tileMax);
        if (newMax > m)
        {
            var ms = MathF.Exp(m - newMax);
            AttentionMath.Scale(acc, ms, hd);
            s *= ms;
        }

        m = newMax;
        double tileSum = 0;
        for (var j = 0; j < keys; j++)
        {
            var e = MathF.Exp(scores[j] - m);
            scores[j] = e;
            tileSum += e;
        }

        s += (float)tileSum;
        for (var j = 0; j < keys; j++)
        {
            AttentionMath.MultiplyAdd(acc, valueRows[j], scores[j], hd);
        }

        max = m;
        sum = s;
    }
}
