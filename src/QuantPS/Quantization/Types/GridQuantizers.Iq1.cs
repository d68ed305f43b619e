using System.Buffers.Binary;

namespace QuantPS.Quantization.Types;

internal static partial class GridQuantizers
{
    private const float Iq1Delta = 0.125f;

    // The three values a coordinate stands for, shifted by +delta or −delta (ggml's x_p and x_m).
    private static ReadOnlySpan<float> ShiftUp => new[] { -1 + Iq1Delta, Iq1Delta, 1 + Iq1Delta };

    private static ReadOnlySpan<float> ShiftDown => new[] { -1 - Iq1Delta, -Iq1Delta, 1 - Iq1Delta };

    /// <summary>
    /// IQ1_S (50 bytes per 256): per 32 values 4 points of the 2048-point ternary lattice, a 3-bit scale
    /// and one shift sign. Needs importance.
    /// </summary>
    public static void IQ1_S(ReadOnlySpan<float> row, Span<byte> dst, ReadOnlySpan<float> importance)
    {
        const int blockSize = 32;
        var grid = IQuantGrid.Iq1;
        Span<float> scales = stackalloc float[QK / blockSize];
        Span<sbyte> shifts = stackalloc sbyte[QK / blockSize];
        Span<float> weight = stackalloc float[blockSize];
        Span<float> sumx = stackalloc float[blockSize + 1];
        Span<float> sumw = stackalloc float[blockSize + 1];
        Span<int> order = stackalloc int[blockSize];
        Span<sbyte> levels = stackalloc sbyte[blockSize];
        Span<ushort> index = stackalloc ushort[blockSize / 8];
        Span<ushort> qh = stackalloc ushort[QK / blockSize];
        var up = ShiftUp;
        var down = ShiftDown;
        for (int ibl = 0; ibl < row.Length / QK; ++ibl)
        {
            var y = dst.Slice(50 * ibl, 50); // d, qs[32], qh[8] (u16)
            y.Clear();
            qh.Clear();
            float maxScale = 0;
            var xbl = row.Slice(QK * ibl, QK);
            float sigma2 = LatticeSearch.Sigma2(xbl, 2);
            for (int ib = 0; ib < QK / blockSize; ++ib)
            {
                var xb = xbl.Slice(blockSize * ib, blockSize);
                LatticeSearch.ImportanceWeights(xb, importance.Slice(QK * ibl + blockSize * ib, blockSize), sigma2, weight);
                float max = MathF.Abs(xb[0]);
                for (int i = 1; i < blockSize; ++i) max = LatticeSearch.Max(max, MathF.Abs(xb[i]));
                if (max < 1e-12f)
                {
                    scales[ib] = 0;
                    shifts[ib] = 1;
                    continue;
                }

                // Three levels: try every split of the sorted values into (low, middle, high), the
                // best scale of each in closed form from prefix sums, with either shift.
                SortedOrder(xb, order);
                sumx[0] = sumw[0] = 0;
                for (int j = 0; j < blockSize; ++j)
                {
                    int i = order[j];
                    sumx[j + 1] = sumx[j] + weight[i] * xb[i];
                    sumw[j + 1] = sumw[j] + weight[i];
                }

                float bestScore = -float.MaxValue, scale = max;
                int besti1 = -1, besti2 = -1, bestShift = 0;
                for (int i1 = 0; i1 <= blockSize; ++i1)
                {
                    for (int i2 = i1; i2 <= blockSize; ++i2)
                    {
                        float sumqx = (sumx[i1] - sumx[0]) * up[0] + (sumx[i2] - sumx[i1]) * up[1] + (sumx[blockSize] - sumx[i2]) * up[2];
                        float sumq2 = (sumw[i1] - sumw[0]) * up[0] * up[0] + (sumw[i2] - sumw[i1]) * up[1] * up[1] + (sumw[blockSize] - sumw[i2]) * up[2] * up[2];
                        if (sumq2 > 0 && sumqx * sumqx > bestScore * sumq2)
                        {
                            scale = sumqx / sumq2;
                            bestScore = scale * sumqx;
                            besti1 = i1;
                            besti2 = i2;
                            bestShift = 1;
                        }

                        sumqx = (sumx[i1] - sumx[0]) * down[0] + (sumx[i2] - sumx[i1]) * down[1] + (sumx[blockSize] - sumx[i2]) * down[2];
                        sumq2 = (sumw[i1] - sumw[0]) * down[0] * down[0] + (sumw[i2] - sumw[i1]) * down[1] * down[1] + (sumw[blockSize] - sumw[i2]) * down[2] * down[2];
                        if (sumq2 > 0 && sumqx * sumqx > bestScore * sumq2)
                        {
                            scale = sumqx / sumq2;
                            bestScore = scale * sumqx;
                            besti1 = i1;
                            besti2 = i2;
                            bestShift = -1;
                        }
                    }
                }

                if (besti1 < 0 || besti2 < 0 || bestShift == 0)
                {
                    scales[ib] = 0;
                    shifts[ib] = 1;
                    continue;
                }

                SplitLevels(order, besti1, besti2, levels);
                if (scale < 0)
                {
                    for (int j = 0; j < blockSize; ++j) levels[j] = (sbyte)(2 - levels[j]);
                    scale = -scale;
                    bestShift = -bestShift;
                }

                var xx = bestShift == 1 ? up : down;
                bool allOnGrid = true;
                for (int k = 0; k < blockSize / 8; ++k)
                {
                    index[k] = (ushort)SnapTernary(grid, xb.Slice(8 * k, 8), weight.Slice(8 * k, 8), scale, xx, levels.Slice(8 * k, 8), ref allOnGrid);
                }

                if (!allOnGrid)
                {
                    float sumqx = 0, sumq2 = 0;
                    for (int k = 0; k < blockSize / 8; ++k)
                    {
                        var pg = grid.Point(index[k]);
                        for (int j = 0; j < 8; ++j)
                        {
                            float w = weight[8 * k + j];
                            float q = xx[(pg[j] - 1) / 2];
                            sumqx += w * q * xb[8 * k + j];
                            sumq2 += w * q * q;
                        }
                    }

                    if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
                }

                int h = 0;
                for (int k = 0; k < blockSize / 8; ++k)
                {
                    y[2 + (blockSize / 8) * ib + k] = (byte)(index[k] & 255);
                    h |= (index[k] >> 8) << (3 * k);
                }

                qh[ib] = (ushort)h;
                scales[ib] = scale;
                shifts[ib] = (sbyte)bestShift;
                maxScale = LatticeSearch.Max(maxScale, scale);
            }

            if (maxScale != 0)
            {
                float d = maxScale / 15;
                QuantMath.WriteHalf(y, d * 1.125f);
                float id = 1 / d;
                for (int ib = 0; ib < QK / blockSize; ++ib)
                {
                    int l = LatticeSearch.ScaleCode(id, scales[ib], 7);
                    if (shifts[ib] == -1) l |= 8;
                    qh[ib] |= (ushort)(l << 12);
                }
            }

            // ggml keeps the index bits it wrote even when every scale came out zero.
            for (int ib = 0; ib < QK / blockSize; ++ib) BinaryPrimitives.WriteUInt16LittleEndian(y[(34 + 2 * ib)..], qh[ib]);
        }
    }

    // Order of the block's values ascending; equal values keep their original order. ggml sorts with
    // glibc qsort, a stable merge sort for arrays this small, so a stable sort gives its order.
    private static void SortedOrder(ReadOnlySpan<float> xb, Span<int> order)
    {
        for (int j = 0; j < xb.Length; ++j)
        {
            int at = j;
            float v = xb[j];
            while (at > 0 && v < xb[order[at - 1]])
            {
                order[at] = order[at - 1];
                at--;
            }

            order[at] = j;
        }
    }

    // Levels 0, 1, 2 for the sorted positions below i1, in [i1, i2) and from i2 on.
    private static void SplitLevels(ReadOnlySpan<int> order, int i1, int i2, Span<sbyte> levels)
    {
        for (int j = 0; j < i1; ++j) levels[order[j]] = 0;
        for (int j = i1; j < i2; ++j) levels[order[j]] = 1;
        for (int j = i2; j < order.Length; ++j) levels[order[j]] = 2;
    }

    // The lattice index of a group of 8 ternary levels; off the lattice the neighbour with the least
    // weighted distance at this scale and shift (ggml's iq1_find_best_neighbour2), levels rewritten.
    private static int SnapTernary(IQuantGrid grid, ReadOnlySpan<float> xb, ReadOnlySpan<float> weight, float scale,
        ReadOnlySpan<float> xx, Span<sbyte> levels, ref bool allOnGrid)
    {
        int u = 0;
        for (int j = 0; j < 8; ++j) u |= levels[j] << (2 * j);
        int index = grid.IndexOf(u);
        if (index >= 0) return index;

        allOnGrid = false;
        float best = float.MaxValue;
        foreach (ushort candidate in grid.NeighboursOf(u))
        {
            float d2 = TernaryDistance(grid.Point(candidate), xb, weight, scale, xx);
            if (d2 < best)
            {
                best = d2;
                index = candidate;
            }
        }

        if (index < 0)
        {
            // Every distance was NaN or infinite. ggml then scans the whole lattice with a loop that reads
            // past the group (xval[i] for the i-th point), so its result depends on memory outside the
            // block; refuse instead of guessing.
            throw new QuantizationException(QuantizationErrorIds.GridSearchFailed,
                "No lattice point fits a group of values; the input probably holds NaN or infinite values.");
        }

        grid.LevelsOf(index, levels);
        return index;
    }

    private static float TernaryDistance(ReadOnlySpan<sbyte> pg, ReadOnlySpan<float> xval, ReadOnlySpan<float> weight, float scale,
        ReadOnlySpan<float> xx)
    {
        float d2 = 0;
        for (int j = 0; j < 8; ++j)
        {
            float w = weight[j];
            float q = xx[(pg[j] - 1) / 2];
            float diff = scale * q - xval[j];
            d2 += w * diff * diff;
        }

        return d2;
    }
}
