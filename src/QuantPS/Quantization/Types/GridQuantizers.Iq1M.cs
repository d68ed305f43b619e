using System.Buffers.Binary;
using QuantPS.Kernels;

namespace QuantPS.Quantization.Types;

internal static partial class GridQuantizers
{
    /// <summary>
    /// IQ1_M (56 bytes per 256, no separate d): per 16 values 2 points of the ternary lattice, each
    /// half with its own shift sign, 3-bit scales, the fp16 super-scale spread over the scale bytes.
    /// </summary>
    public static void IQ1_M(ReadOnlySpan<float> row, Span<byte> dst, ReadOnlySpan<float> importance)
    {
        const int blockSize = 16;
        var grid = IQuantGrid.Iq1;
        ReadOnlySpan<byte> masks = [0x00, 0x80, 0x08, 0x88];
        Span<float> scales = stackalloc float[QK / blockSize];
        Span<sbyte> shifts = stackalloc sbyte[QK / blockSize];
        Span<float> weight = stackalloc float[blockSize];
        Span<int> order = stackalloc int[blockSize];
        Span<sbyte> levels = stackalloc sbyte[blockSize];
        Span<ushort> index = stackalloc ushort[2];
        Span<ushort> sc = stackalloc ushort[4];
        var up = ShiftUp;
        var down = ShiftDown;
        for (int ibl = 0; ibl < row.Length / QK; ++ibl)
        {
            var y = dst.Slice(56 * ibl, 56);
            y.Clear();
            var qs = y[..32];
            var qh = y.Slice(32, 16);
            float maxScale = 0;
            var xbl = row.Slice(QK * ibl, QK);
            float sigma2 = LatticeSearch.Sigma2(xbl, 2);
            for (int ib = 0; ib < QK / blockSize; ++ib)
            {
                var xb = xbl.Slice(blockSize * ib, blockSize);
                Weights(xb, importance, QK * ibl + blockSize * ib, sigma2, weight);
                float max = MathF.Abs(xb[0]);
                for (int i = 1; i < blockSize; ++i) max = LatticeSearch.Max(max, MathF.Abs(xb[i]));
                if (max < 1e-7f)
                {
                    scales[ib] = 0;
                    shifts[ib] = 0;
                    continue;
                }

                SortedOrder(xb, order);
                float scale = BestSplit(xb, weight, order, max, out int besti1, out int besti2, out int bestK);
                if (besti1 < 0 || besti2 < 0 || bestK < 0)
                {
                    scales[ib] = 0;
                    shifts[ib] = 0;
                    continue;
                }

                SplitLevels(order, besti1, besti2, levels);
                if (scale < 0)
                {
                    for (int j = 0; j < blockSize; ++j) levels[j] = (sbyte)(2 - levels[j]);
                    scale = -scale;
                    bestK = 3 - bestK; // both halves change shift
                }

                bool allOnGrid = true;
                for (int k = 0; k < 2; ++k)
                {
                    var xx = HalfShift(bestK, k) ? up : down;
                    index[k] = (ushort)SnapTernary(grid, xb.Slice(8 * k, 8), weight.Slice(8 * k, 8), scale, xx, levels.Slice(8 * k, 8), ref allOnGrid);
                }

                if (!allOnGrid)
                {
                    float sumqxF = 0, sumq2F = 0;
                    for (int k = 0; k < 2; ++k)
                    {
                        var xx = HalfShift(bestK, k) ? up : down;
                        var pg = grid.Point(index[k]);
                        for (int j = 0; j < 8; ++j)
                        {
                            float w = weight[8 * k + j];
                            float q = xx[(pg[j] - 1) / 2];
                            sumqxF += w * q * xb[8 * k + j];
                            sumq2F += w * q * q;
                        }
                    }

                    if (sumqxF > 0 && sumq2F > 0) scale = sumqxF / sumq2F;
                }

                qs[2 * ib] = (byte)(index[0] & 255);
                qs[2 * ib + 1] = (byte)(index[1] & 255);
                qh[ib] = (byte)((index[0] >> 8) | ((index[1] >> 8) << 4));
                scales[ib] = scale;
                shifts[ib] = (sbyte)bestK;
                maxScale = LatticeSearch.Max(maxScale, scale);
            }

            if (maxScale == 0)
            {
                continue;
            }

            // The super-scale is refit over the whole super-block with the rounded block scales.
            sc.Clear();
            float d = maxScale / 15;
            float id = 1 / d;
            float sumqx = 0, sumq2 = 0;
            for (int ib = 0; ib < QK / blockSize; ++ib)
            {
                int l = LatticeSearch.ScaleCode(id, scales[ib], 7);
                sc[ib / 4] |= (ushort)(l << (3 * (ib % 4)));
                qh[ib] |= masks[shifts[ib]];
                var xb = xbl.Slice(blockSize * ib, blockSize);
                Weights(xb, importance, QK * ibl + blockSize * ib, sigma2, weight);
                for (int k = 0; k < 2; ++k)
                {
                    var xx = HalfShift(shifts[ib], k) ? up : down;
                    var pg = grid.Point(qs[2 * ib + k] + ((qh[ib] << (8 - 4 * k)) & 0x700));
                    for (int j = 0; j < 8; ++j)
                    {
                        float w = weight[8 * k + j];
                        float q = xx[(pg[j] - 1) / 2] * (2 * l + 1);
                        sumqx += w * q * xb[8 * k + j];
                        sumq2 += w * q * q;
                    }
                }
            }

            if (sumq2 > 0) d = sumqx / sumq2;
            ushort s = FloatConversions.SingleToHalf(d * 1.1125f);
            sc[0] |= (ushort)((s & 0x000f) << 12);
            sc[1] |= (ushort)((s & 0x00f0) << 8);
            sc[2] |= (ushort)((s & 0x0f00) << 4);
            sc[3] |= (ushort)(s & 0xf000);
            for (int i = 0; i < 4; ++i) BinaryPrimitives.WriteUInt16LittleEndian(y[(48 + 2 * i)..], sc[i]);
        }
    }

    // Shift choice k (0: +,+  1: +,−  2: −,+  3: −,−) for half h: true = shifted up.
    private static bool HalfShift(int k, int h) => h == 0 ? k < 2 : k % 2 == 0;

    // IQ1_M's exhaustive split search over the sorted order, for the four shift choices at once.
    // ggml sums every split from scratch in sorted order (levels 0, then 1, then 2); the running sums
    // below add the same terms in the same order, so the floats agree, at about half the work.
    private static float BestSplit(ReadOnlySpan<float> xb, ReadOnlySpan<float> weight, ReadOnlySpan<int> order, float max,
        out int besti1, out int besti2, out int bestK)
    {
        int n = order.Length;
        var up = ShiftUp;
        var down = ShiftDown;

        // Per sorted position, level and shift: the terms weight·v·x and weight·v·v.
        Span<float> termX = stackalloc float[n * 6];
        Span<float> termQ = stackalloc float[n * 6];
        Span<bool> firstHalf = stackalloc bool[n];
        for (int j = 0; j < n; ++j)
        {
            int i = order[j];
            firstHalf[j] = i < n / 2;
            for (int level = 0; level < 3; ++level)
            {
                termX[6 * j + 2 * level] = weight[i] * up[level] * xb[i];
                termQ[6 * j + 2 * level] = weight[i] * up[level] * up[level];
                termX[6 * j + 2 * level + 1] = weight[i] * down[level] * xb[i];
                termQ[6 * j + 2 * level + 1] = weight[i] * down[level] * down[level];
            }
        }

        Span<float> lowX = stackalloc float[4], lowQ = stackalloc float[4];
        Span<float> midX = stackalloc float[4], midQ = stackalloc float[4];
        Span<float> sumqx = stackalloc float[4], sumq2 = stackalloc float[4];
        lowX.Clear();
        lowQ.Clear();
        float bestScore = -float.MaxValue, scale = max;
        besti1 = besti2 = bestK = -1;
        for (int i1 = 0; i1 <= n; ++i1)
        {
            if (i1 > 0) AddTerms(termX, termQ, firstHalf, i1 - 1, 0, lowX, lowQ);
            lowX.CopyTo(midX);
            lowQ.CopyTo(midQ);
            for (int i2 = i1; i2 <= n; ++i2)
            {
                if (i2 > i1) AddTerms(termX, termQ, firstHalf, i2 - 1, 1, midX, midQ);
                midX.CopyTo(sumqx);
                midQ.CopyTo(sumq2);
                for (int j = i2; j < n; ++j) AddTerms(termX, termQ, firstHalf, j, 2, sumqx, sumq2);
                for (int k = 0; k < 4; ++k)
                {
                    if (sumq2[k] > 0 && sumqx[k] * sumqx[k] > bestScore * sumq2[k])
                    {
                        scale = sumqx[k] / sumq2[k];
                        bestScore = scale * sumqx[k];
                        besti1 = i1;
                        besti2 = i2;
                        bestK = k;
                    }
                }
            }
        }

        return scale;
    }

    // Adds sorted position j at a level to the four shift choices' sums.
    private static void AddTerms(ReadOnlySpan<float> termX, ReadOnlySpan<float> termQ, ReadOnlySpan<bool> firstHalf, int j, int level,
        Span<float> sumqx, Span<float> sumq2)
    {
        int at = 6 * j + 2 * level;
        for (int k = 0; k < 4; ++k)
        {
            int shift = HalfShift(k, firstHalf[j] ? 0 : 1) ? 0 : 1;
            sumqx[k] += termX[at + shift];
            sumq2[k] += termQ[at + shift];
        }
    }
}
