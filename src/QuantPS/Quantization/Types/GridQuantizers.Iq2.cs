using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace QuantPS.Quantization.Types;

/// <summary>
/// The lattice ("grid") i-quants: values in groups of 8 (IQ2, IQ1) or 4 (IQ3) share one lattice point,
/// magnitudes and signs stored apart. Byte-identical with ggml's quantize_iq*; float order as in ggml.
/// </summary>
internal static partial class GridQuantizers
{
    private const int QK = 256;

    private static readonly LatticeSearch.Shape Iq2XxsShape = new(6, 0.1f, StartOnGrid: true, RefineAlways: true, RefineAllGroups: true);
    private static readonly LatticeSearch.Shape Iq2XsShape = new(9, 0.1f, StartOnGrid: true, RefineAlways: false, RefineAllGroups: false);

    /// <summary>IQ2_XXS (66 bytes per 256): per 32 values 4 points of the 256-point lattice, 4×7 sign bits, a 4-bit scale. Needs importance.</summary>
    public static void IQ2_XXS(ReadOnlySpan<float> row, Span<byte> dst, ReadOnlySpan<float> importance)
    {
        var grid = IQuantGrid.Iq2Xxs;
        Span<float> scales = stackalloc float[QK / 32];
        Span<float> weight = stackalloc float[32];
        Span<float> waux = stackalloc float[32];
        Span<float> xval = stackalloc float[32];
        Span<sbyte> levels = stackalloc sbyte[32];
        Span<byte> signs = stackalloc byte[4];
        Span<uint> q2 = stackalloc uint[2 * (QK / 32)];
        for (int ibl = 0; ibl < row.Length / QK; ++ibl)
        {
            var y = dst.Slice(66 * ibl, 66);
            QuantMath.WriteHalf(y, 0f);
            q2.Clear();
            float maxScale = 0;
            var xbl = row.Slice(QK * ibl, QK);
            float sigma2 = LatticeSearch.Sigma2(xbl, 1);
            for (int ib = 0; ib < QK / 32; ++ib)
            {
                var xb = xbl.Slice(32 * ib, 32);
                LatticeSearch.ImportanceWeights(xb, importance.Slice(QK * ibl + 32 * ib, 32), sigma2, weight);
                LatticeSearch.SquareRoots(weight, waux);
                LatticeSearch.SplitSigns(xb, weight, xval, signs, evenParity: true);
                float max = xval[0];
                for (int i = 1; i < 32; ++i) max = LatticeSearch.Max(max, xval[i]);
                if (max < QuantMath.GroupMaxEps)
                {
                    scales[ib] = 0;
                    continue;
                }

                // The start: ggml's unsigned-level search for 0..4 sets the reference maximum.
                float scale = KQuantMath.MakeQp(32, 4, xval, MemoryMarshal.Cast<sbyte, byte>(levels), weight);
                float effMax = scale * 3;
                if (effMax <= 0)
                {
                    scales[ib] = 0;
                    continue;
                }

                scale = LatticeSearch.Search(grid, Iq2XxsShape, xval, weight, waux, effMax, scale, levels);
                if (scale < 0)
                {
                    scale = -scale;
                    for (int k = 0; k < 4; ++k) signs[k] = (byte)(~signs[k] & 127);
                }

                for (int k = 0; k < 4; ++k)
                {
                    int index = LatticeSearch.PointIndex(grid, levels.Slice(8 * k, 8));
                    q2[2 * ib] |= (uint)index << (8 * k);
                    q2[2 * ib + 1] |= (uint)signs[k] << (7 * k);
                }

                scales[ib] = scale;
                maxScale = LatticeSearch.Max(maxScale, scale);
            }

            var qs = y.Slice(2, 64);
            if (maxScale == 0)
            {
                qs.Clear();
                continue;
            }

            float d = maxScale / 31;
            QuantMath.WriteHalf(y, d);
            float id = 1 / d;
            for (int ib = 0; ib < QK / 32; ++ib) q2[2 * ib + 1] |= (uint)LatticeSearch.ScaleCode(id, scales[ib], 15) << 28;
            for (int i = 0; i < q2.Length; ++i) BinaryPrimitives.WriteUInt32LittleEndian(qs[(4 * i)..], q2[i]);
        }
    }

    /// <summary>IQ2_XS (74 bytes per 256): per 16 values 2 points of the 512-point lattice with 7 sign bits each, 4-bit scales. Needs importance.</summary>
    public static void IQ2_XS(ReadOnlySpan<float> row, Span<byte> dst, ReadOnlySpan<float> importance) =>
        SixteenWide(row, dst, importance, small: true);

    /// <summary>IQ2_S (82 bytes per 256): per 16 values 2 points of the 1024-point lattice, 8 sign bits per 8, 4-bit scales.</summary>
    public static void IQ2_S(ReadOnlySpan<float> row, Span<byte> dst, ReadOnlySpan<float> importance) =>
        SixteenWide(row, dst, importance, small: false);

    // IQ2_XS and IQ2_S search alike; they differ in sign parity, weights without importance, the zero
    // threshold, the fudge factor on d and the layout.
    private static void SixteenWide(ReadOnlySpan<float> row, Span<byte> dst, ReadOnlySpan<float> importance, bool small)
    {
        var grid = small ? IQuantGrid.Iq2Xs : IQuantGrid.Iq2S;
        int blockBytes = small ? 74 : 82;
        Span<float> scales = stackalloc float[QK / 16];
        Span<float> weight = stackalloc float[16];
        Span<float> waux = stackalloc float[16];
        Span<float> xval = stackalloc float[16];
        Span<sbyte> levels = stackalloc sbyte[16];
        Span<byte> signs = stackalloc byte[2];
        Span<ushort> q2 = stackalloc ushort[2 * (QK / 16)];
        for (int ibl = 0; ibl < row.Length / QK; ++ibl)
        {
            var y = dst.Slice(blockBytes * ibl, blockBytes);
            y.Clear();
            q2.Clear();
            float maxScale = 0;
            var xbl = row.Slice(QK * ibl, QK);
            float sigma2 = LatticeSearch.Sigma2(xbl, small ? 1 : 2);
            for (int ib = 0; ib < QK / 16; ++ib)
            {
                var xb = xbl.Slice(16 * ib, 16);
                if (!importance.IsEmpty)
                {
                    LatticeSearch.ImportanceWeights(xb, importance.Slice(QK * ibl + 16 * ib, 16), sigma2, weight);
                }
                else
                {
                    for (int i = 0; i < 16; ++i) weight[i] = 0.25f * sigma2 + xb[i] * xb[i]; // IQ2_S only: IQ2_XS requires importance
                }

                LatticeSearch.SquareRoots(weight, waux);
                LatticeSearch.SplitSigns(xb, weight, xval, signs, evenParity: small);
                float max = xval[0];
                for (int i = 1; i < 16; ++i) max = LatticeSearch.Max(max, xval[i]);
                levels.Clear();
                if (max < (small ? QuantMath.GroupMaxEps : 1e-8f))
                {
                    scales[ib] = 0;
                    continue;
                }

                float scale = LatticeSearch.Search(grid, Iq2XsShape, xval, weight, waux, max, max / 5, levels);
                if (scale < 0)
                {
                    scale = -scale;
                    for (int k = 0; k < 2; ++k) signs[k] = (byte)(small ? ~signs[k] & 127 : ~signs[k]);
                }

                for (int k = 0; k < 2; ++k)
                {
                    int index = LatticeSearch.PointIndex(grid, levels.Slice(8 * k, 8));
                    if (small)
                    {
                        q2[2 * ib + k] = (ushort)(index | (signs[k] << 9));
                    }
                    else
                    {
                        int i8 = 2 * ib + k;
                        y[2 + i8] = (byte)(index & 255);
                        y[66 + i8 / 4] |= (byte)((index >> 8) << (2 * (i8 % 4)));
                        y[2 + QK / 8 + i8] = signs[k];
                    }
                }

                scales[ib] = scale;
                maxScale = LatticeSearch.Max(maxScale, scale);
            }

            if (maxScale == 0)
            {
                continue; // the block stays all zero
            }

            float d = maxScale / 31;
            QuantMath.WriteHalf(y, small ? d : d * 0.9875f);
            float id = 1 / d;
            var scaleBytes = y.Slice(small ? 66 : 74, 8);
            for (int ib = 0; ib < QK / 16; ++ib)
            {
                int l = LatticeSearch.ScaleCode(id, scales[ib], 15);
                if (ib % 2 == 0) scaleBytes[ib / 2] = (byte)l;
                else scaleBytes[ib / 2] |= (byte)(l << 4);
            }

            if (small)
            {
                for (int i = 0; i < q2.Length; ++i) BinaryPrimitives.WriteUInt16LittleEndian(y[(2 + 2 * i)..], q2[i]);
            }
        }
    }
}
