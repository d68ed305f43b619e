using System.Buffers.Binary;
using System.Numerics;

namespace QuantPS.Quantization.Types;

/// <summary>IQ4_NL (blocks of 32) and IQ4_XS (256 with 6-bit sub-scales) on the non-linear 4-bit grid.</summary>
internal static class NonLinearQuantizers
{
    /// <summary>ggml's kvalues_iq4nl.</summary>
    internal static ReadOnlySpan<sbyte> Grid => new sbyte[] { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };

    public static void IQ4_NL(ReadOnlySpan<float> row, Span<byte> dst, ReadOnlySpan<float> importance)
    {
        Span<float> scales = stackalloc float[1];
        for (int ib = 0; ib < row.Length / 32; ib++)
        {
            var q = importance.IsEmpty ? default : importance.Slice(32 * ib, 32);
            var y = dst.Slice(18 * ib, 18);
            SuperBlock(32, row.Slice(32 * ib, 32), y[..2], y.Slice(2, 16), default, default, scales, q, 7);
        }
    }

    public static void IQ4_XS(ReadOnlySpan<float> row, Span<byte> dst, ReadOnlySpan<float> importance)
    {
        Span<float> scales = stackalloc float[8];
        for (int ib = 0; ib < row.Length / 256; ib++)
        {
            var q = importance.IsEmpty ? default : importance.Slice(256 * ib, 256);
            var y = dst.Slice(136 * ib, 136); // d, scales_h (u16), scales_l[4], qs[128]
            SuperBlock(256, row.Slice(256 * ib, 256), y[..2], y.Slice(8, 128), y.Slice(2, 2), y.Slice(4, 4), scales, q, 7);
        }
    }

    // One super-block: per 32 values a weighted grid search for the scale (±ntry steps), then
    // (with more than one block) 6-bit block scales relative to one fp16 scale.
    private static void SuperBlock(int superSize, ReadOnlySpan<float> x, Span<byte> dh, Span<byte> q4, Span<byte> scalesHigh,
        Span<byte> scalesLow, Span<float> scales, ReadOnlySpan<float> importance, int ntry)
    {
        const int blockSize = 32;
        var values = Grid;
        Span<byte> levels = stackalloc byte[superSize];
        Span<float> weight = stackalloc float[blockSize];
        float sigma2 = 0;
        for (int j = 0; j < superSize; ++j) sigma2 += x[j] * x[j];
        sigma2 *= 2f / superSize;

        q4.Clear();
        QuantMath.WriteHalf(dh, 0f);
        float maxScale = 0, amaxScale = 0;
        int blocks = superSize / blockSize;
        for (int ib = 0; ib < blocks; ++ib)
        {
            var xb = x.Slice(ib * blockSize, blockSize);
            var lb = levels.Slice(ib * blockSize, blockSize);
            if (!importance.IsEmpty)
            {
                var qw = importance.Slice(ib * blockSize, blockSize);
                for (int j = 0; j < blockSize; ++j) weight[j] = qw[j] * MathF.Sqrt(sigma2 + xb[j] * xb[j]);
            }
            else
            {
                for (int j = 0; j < blockSize; ++j) weight[j] = xb[j] * xb[j];
            }

            float amax = 0, max = 0;
            for (int j = 0; j < blockSize; ++j)
            {
                float ax = MathF.Abs(xb[j]);
                if (ax > amax) { amax = ax; max = xb[j]; }
            }

            if (amax < QuantMath.GroupMaxEps)
            {
                scales[ib] = 0;
                continue;
            }

            float d = ntry > 0 ? -max / values[0] : max / values[0];
            float id = 1 / d;
            float sumqx = 0, sumq2 = 0;
            for (int j = 0; j < blockSize; ++j)
            {
                int l = BestIndex(values, id * xb[j]);
                lb[j] = (byte)l;
                float qv = values[l];
                float w = weight[j];
                sumqx += w * qv * xb[j];
                sumq2 += w * qv * qv;
            }

            d = sumq2 > 0 ? sumqx / sumq2 : 0f;
            float best = d * sumqx;
            d = Vector.IsHardwareAccelerated
                ? CandidateLanes.SearchNonLinear(xb, weight, values, max, ntry, d, best)
                : SearchAttempts(xb, weight, values, max, ntry, d, best);
            scales[ib] = d;
            float absD = MathF.Abs(d);
            if (absD > amaxScale) { amaxScale = absD; maxScale = d; }
        }

        if (blocks > 1)
        {
            scalesHigh.Clear();
            float d = -maxScale / 32;
            QuantMath.WriteHalf(dh, d);
            float id = d != 0 ? 1 / d : 0f;
            ushort high = 0;
            for (int ib = 0; ib < blocks; ++ib)
            {
                int l = QuantMath.NearestInt(id * scales[ib]);
                l = Math.Max(-32, Math.Min(31, l));
                float dl = d * l;
                float idl = dl != 0 ? 1 / dl : 0f;
                var xb = x.Slice(ib * blockSize, blockSize);
                for (int j = 0; j < blockSize; ++j) levels[ib * blockSize + j] = (byte)BestIndex(values, idl * xb[j]);
                l += 32;
                if (ib % 2 == 0) scalesLow[ib / 2] = (byte)(l & 0xF);
                else scalesLow[ib / 2] |= (byte)((l & 0xF) << 4);
                high |= (ushort)((l >> 4) << (2 * (ib % 8)));
            }

            BinaryPrimitives.WriteUInt16LittleEndian(scalesHigh, high);
        }
        else
        {
            QuantMath.WriteHalf(dh, scales[0]);
            if (ntry > 0)
            {
                float id = scales[0] != 0 ? 1 / scales[0] : 0;
                for (int j = 0; j < superSize; ++j) levels[j] = (byte)BestIndex(values, id * x[j]);
            }
        }

        for (int i = 0; i < superSize / 32; ++i)
        {
            for (int j = 0; j < 16; ++j) q4[16 * i + j] = (byte)(levels[32 * i + j] | (levels[32 * i + 16 + j] << 4));
        }
    }

    // The ±ntry scale attempts; the first strictly better one of each is kept.
    private static float SearchAttempts(ReadOnlySpan<float> xb, ReadOnlySpan<float> weight, ReadOnlySpan<sbyte> values,
        float max, int ntry, float d, float best)
    {
        for (int attempt = -ntry; attempt <= ntry; ++attempt)
        {
            float id = (attempt + values[0]) / max;
            float sumqx = 0, sumq2 = 0;
            for (int j = 0; j < xb.Length; ++j)
            {
                int l = BestIndex(values, id * xb[j]);
                float qv = values[l];
                float w = weight[j];
                sumqx += w * qv * xb[j];
                sumq2 += w * qv * qv;
            }

            if (sumq2 > 0 && sumqx * sumqx > best * sumq2)
            {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }

        return d;
    }

    /// <summary>Index of the grid value nearest x (binary search; the lower one wins exact ties only if strictly closer).</summary>
    internal static int BestIndex(ReadOnlySpan<sbyte> values, float x)
    {
        int n = values.Length;
        if (x <= values[0]) return 0;
        if (x >= values[n - 1]) return n - 1;
        int lo = 0, hi = n - 1;
        while (hi - lo > 1)
        {
            int mid = (lo + hi) / 2;
            if (x < values[mid]) hi = mid; else lo = mid;
        }

        return x - values[hi - 1] < values[hi] - x ? hi - 1 : hi;
    }
}
