using System.Buffers.Binary;

namespace QuantPS.Quantization.Types;

internal static partial class GridQuantizers
{
    private static readonly LatticeSearch.Shape Iq3XxsShape = new(15, 0.2f, StartOnGrid: true, RefineAlways: false, RefineAllGroups: false);
    private static readonly LatticeSearch.Shape Iq3SShape = new(9, 0.2f, StartOnGrid: false, RefineAlways: false, RefineAllGroups: true);

    /// <summary>IQ3_XXS (98 bytes per 256): per 32 values 8 points of the 256-point 4-d lattice, 4×7 sign bits, a 4-bit scale.</summary>
    public static void IQ3_XXS(ReadOnlySpan<float> row, Span<byte> dst, ReadOnlySpan<float> importance)
    {
        var grid = IQuantGrid.Iq3Xxs;
        Span<float> scales = stackalloc float[QK / 32];
        Span<float> weight = stackalloc float[32];
        Span<float> waux = stackalloc float[32];
        Span<float> xval = stackalloc float[32];
        Span<sbyte> levels = stackalloc sbyte[32];
        Span<byte> signs = stackalloc byte[4];
        Span<uint> scalesAndSigns = stackalloc uint[QK / 32];
        for (int ibl = 0; ibl < row.Length / QK; ++ibl)
        {
            var y = dst.Slice(98 * ibl, 98);
            y.Clear();
            var indices = y.Slice(2, QK / 4);
            scalesAndSigns.Clear();
            float maxScale = 0;
            var xbl = row.Slice(QK * ibl, QK);
            float sigma2 = LatticeSearch.Sigma2(xbl, 2);
            for (int ib = 0; ib < QK / 32; ++ib)
            {
                var xb = xbl.Slice(32 * ib, 32);
                Weights(xb, importance, QK * ibl + 32 * ib, sigma2, weight);
                LatticeSearch.SquareRoots(weight, waux);
                LatticeSearch.SplitSigns(xb, weight, xval, signs, evenParity: true);
                float max = xval[0];
                for (int i = 1; i < 32; ++i) max = LatticeSearch.Max(max, xval[i]);
                levels.Clear();
                if (max < 1e-8f)
                {
                    scales[ib] = 0;
                    continue;
                }

                float scale = LatticeSearch.Search(grid, Iq3XxsShape, xval, weight, waux, max, max / 15, levels);
                if (scale < 0)
                {
                    scale = -scale;
                    for (int k = 0; k < 4; ++k) signs[k] = (byte)(~signs[k] & 127);
                }

                for (int k = 0; k < 8; ++k) indices[8 * ib + k] = (byte)LatticeSearch.PointIndex(grid, levels.Slice(4 * k, 4));
                scalesAndSigns[ib] = signs[0] | ((uint)signs[1] << 7) | ((uint)signs[2] << 14) | ((uint)signs[3] << 21);
                scales[ib] = scale;
                maxScale = LatticeSearch.Max(maxScale, scale);
            }

            if (maxScale == 0)
            {
                indices.Clear(); // ggml zeroes every quant byte then
                continue;
            }

            float d = maxScale / 31;
            QuantMath.WriteHalf(y, d * 1.0125f);
            float id = 1 / d;
            for (int ib = 0; ib < QK / 32; ++ib)
            {
                scalesAndSigns[ib] |= (uint)LatticeSearch.ScaleCode(id, scales[ib], 15) << 28;
                BinaryPrimitives.WriteUInt32LittleEndian(y[(2 + QK / 4 + 4 * ib)..], scalesAndSigns[ib]);
            }
        }
    }

    /// <summary>
    /// IQ3_S (110 bytes per 256): per 32 values 8 points of the 512-point 4-d lattice (9-bit indices),
    /// 32 sign bits, 4-bit scales in pairs.
    /// </summary>
    public static void IQ3_S(ReadOnlySpan<float> row, Span<byte> dst, ReadOnlySpan<float> importance)
    {
        var grid = IQuantGrid.Iq3S;
        Span<float> scales = stackalloc float[QK / 32];
        Span<float> weight = stackalloc float[32];
        Span<float> waux = stackalloc float[32];
        Span<float> xval = stackalloc float[32];
        Span<sbyte> levels = stackalloc sbyte[32];
        Span<byte> signs = stackalloc byte[4];
        for (int ibl = 0; ibl < row.Length / QK; ++ibl)
        {
            var y = dst.Slice(110 * ibl, 110); // d, qs[64], qh[8], signs[32], scales[4]
            y.Clear();
            var qh = y.Slice(66, 8);

            // ggml advances its index and sign cursors only past blocks that are not all zero, so a zero
            // block shifts the later blocks' indices and signs forward; the bytes must reproduce that.
            int qsAt = 2, signsAt = 74;
            float maxScale = 0;
            var xbl = row.Slice(QK * ibl, QK);
            float sigma2 = LatticeSearch.Sigma2(xbl, 2);
            for (int ib = 0; ib < QK / 32; ++ib)
            {
                var xb = xbl.Slice(32 * ib, 32);
                Weights(xb, importance, QK * ibl + 32 * ib, sigma2, weight);
                LatticeSearch.SquareRoots(weight, waux);
                LatticeSearch.SplitSigns(xb, weight, xval, signs, evenParity: false);
                float max = xval[0];
                for (int i = 1; i < 32; ++i) max = LatticeSearch.Max(max, xval[i]);
                levels.Clear();
                if (max == 0)
                {
                    scales[ib] = 0;
                    continue;
                }

                float scale = LatticeSearch.Search(grid, Iq3SShape, xval, weight, waux, max, max / 15, levels);
                if (scale < 0)
                {
                    scale = -scale;
                    for (int k = 0; k < 4; ++k) signs[k] = (byte)~signs[k];
                }

                for (int k = 0; k < 8; ++k)
                {
                    int index = LatticeSearch.PointIndex(grid, levels.Slice(4 * k, 4));
                    y[qsAt + k] = (byte)(index & 255);
                    qh[(ib * 8 + k) / 8] |= (byte)((index >> 8) << ((ib * 8 + k) % 8));
                }

                qsAt += 8;
                signs.CopyTo(y[signsAt..]);
                signsAt += 4;
                scales[ib] = scale;
                maxScale = LatticeSearch.Max(maxScale, scale);
            }

            if (maxScale == 0)
            {
                continue;
            }

            float d = maxScale / 31;
            QuantMath.WriteHalf(y, d * 1.033f);
            float id = 1 / d;
            for (int ib = 0; ib < QK / 32; ib += 2)
            {
                int l1 = LatticeSearch.ScaleCode(id, scales[ib], 15);
                int l2 = LatticeSearch.ScaleCode(id, scales[ib + 1], 15);
                y[106 + ib / 2] = (byte)(l1 | (l2 << 4));
            }
        }
    }

    // weight = qw·√(σ² + x²) with importance, x² without (IQ3_*, IQ1_M).
    private static void Weights(ReadOnlySpan<float> xb, ReadOnlySpan<float> importance, int at, float sigma2, Span<float> weight)
    {
        if (!importance.IsEmpty)
        {
            LatticeSearch.ImportanceWeights(xb, importance.Slice(at, xb.Length), sigma2, weight);
        }
        else
        {
            for (int i = 0; i < xb.Length; ++i) weight[i] = xb[i] * xb[i];
        }
    }
}
